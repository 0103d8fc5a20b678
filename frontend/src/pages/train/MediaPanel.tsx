/**
 * A run's artifacts, one panel per series: a slider over the series' frames (steps, epochs,
 * a swept value, the final model) and, where a frame holds several pictures (attention heads,
 * a network's layers), buttons over them. Each panel shows the artifact's title and caption,
 * in Chinese (meta.title_zh, caption_zh, captions_zh) when the UI speaks it and the kind gave them.
 */
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { artifactUrl } from "../../client";
import { ArtifactView } from "../../components/ArtifactView";
import {
  frameLabel,
  metaCaptions,
  metaText,
  variantAt,
  variantValues,
  type ArtifactGroup,
  type ArtifactMeta,
  type Frame,
  type FrameLabel,
} from "../../lib/artifacts";
import { formatNumber } from "../../lib/format";
import { isChinese } from "../../lib/schemaForm";
import "./MediaPanel.css";

const MAX_BUTTONS = 12; // more choices than this get a slider

function useFrameText() {
  const { t } = useTranslation();
  return (label: FrameLabel): string => {
    switch (label.kind) {
      case "final":
        return t("train.frameFinal");
      case "epoch":
        return t("train.frameEpoch", { n: label.n });
      case "step":
        return t("train.atStep", { step: label.n });
      case "iteration":
        return t("train.frameIteration", { n: label.n });
      case "value":
        return `${label.name} = ${formatNumber(label.value)}`;
      case "counter":
        return `${label.name} ${label.n}`;
      default:
        return "";
    }
  };
}

/** What the frame slider runs over, named by the series' first numbered frame. */
function useSliderName() {
  const { t } = useTranslation();
  return (frames: readonly Frame[]): string => {
    const label = frames.map(frameLabel).find((l) => l.kind !== "final" && l.kind !== "none");
    if (!label) return t("train.mediaFrame");
    if (label.kind === "value" || label.kind === "counter") return label.name;
    if (label.kind === "epoch") return t("train.mediaEpoch");
    return label.kind === "iteration" ? t("train.mediaIteration") : t("train.mediaStep");
  };
}

function Choice({
  name,
  options,
  value,
  onChange,
  testId,
}: {
  name: string;
  options: readonly { value: string; label: string }[];
  value: string;
  onChange: (v: string) => void;
  testId: string;
}) {
  if (options.length > MAX_BUTTONS) {
    const i = Math.max(0, options.findIndex((o) => o.value === value));
    return (
      <label className="media__slider">
        <span>
          {name}: <strong>{options[i]?.label}</strong>
        </span>
        <input
          type="range"
          min={0}
          max={options.length - 1}
          value={i}
          aria-label={name}
          aria-valuetext={options[i]?.label}
          data-testid={testId}
          onChange={(e) => onChange(options[Number(e.target.value)]!.value)}
        />
      </label>
    );
  }
  return (
    <div className="media__choices" role="group" aria-label={name} data-testid={testId}>
      {options.map((o) => (
        <button key={o.value} type="button" className="small" aria-pressed={o.value === value} onClick={() => onChange(o.value)}>
          {o.label}
        </button>
      ))}
    </div>
  );
}

function GroupPanel({ group, jobId }: { group: ArtifactGroup; jobId: string }) {
  const { t, i18n } = useTranslation();
  const zh = isChinese(i18n.language);
  const frameText = useFrameText();
  const sliderName = useSliderName();
  const [index, setIndex] = useState<number | null>(null);
  const [variant, setVariant] = useState<string | null>(null);
  const last = group.frames.length - 1;
  const i = index == null ? last : Math.min(index, last); // follow the newest until moved
  const frame = group.frames[i]!;
  const chosen = variant ?? group.variants[0]!;
  const item = frame.items.get(chosen);
  const meta = (item?.meta ?? {}) as ArtifactMeta;
  const label = frameLabel(frame);
  const here = frameText(label);
  const title = metaText(meta, "title", zh);
  const caption = metaText(meta, "caption", zh);
  const captions = metaCaptions(meta, zh);
  const values = variantValues(chosen);
  const setAxis = (k: number, v: number) => {
    const next = variantAt(group, values.map((x, j) => (j === k ? v : x)));
    if (next != null) setVariant(next);
  };
  const wide = group.view === "tree" || group.view === "text";

  return (
    <figure className={`card media${wide ? " media--wide" : ""}`} data-testid="media-group" data-group={group.key}>
      <figcaption className="media__head">
        <strong>{group.series}</strong>
        <span className="muted small" data-testid="media-at">
          {[here, frame.step != null && label.kind !== "step" ? t("train.atStep", { step: frame.step }) : ""]
            .filter(Boolean)
            .join(" · ")}
        </span>
      </figcaption>
      {title && (
        <p className="media__title" data-testid="media-title">
          {title}
        </p>
      )}
      {group.frames.length > 1 && (
        <label className="media__slider">
          <span>
            {sliderName(group.frames)}: <strong>{here}</strong>
          </span>
          <input
            type="range"
            min={0}
            max={last}
            value={i}
            aria-label={sliderName(group.frames)}
            aria-valuetext={here}
            data-testid="media-step"
            onChange={(e) => {
              const v = Number(e.target.value);
              setIndex(v === last ? null : v);
            }}
          />
        </label>
      )}
      {group.axes.length > 0
        ? group.axes.map((axis, k) => (
            <Choice
              key={axis.name}
              name={axis.name}
              testId={`media-variant-${axis.name}`}
              options={axis.values.map((v) => ({ value: String(v), label: `${axis.name} ${v}` }))}
              value={String(values[k])}
              onChange={(v) => setAxis(k, Number(v))}
            />
          ))
        : group.variants.length > 1 && (
            <Choice
              name={t("train.mediaVariant")}
              testId="media-variant"
              options={group.variants.map((v) => ({ value: v, label: v }))}
              value={chosen}
              onChange={setVariant}
            />
          )}
      {item ? (
        <ArtifactView view={item.view} url={item.url || artifactUrl(jobId, item.name)} name={item.name} meta={meta} />
      ) : (
        <p className="muted" data-testid="media-missing">
          {t("train.mediaMissing")}
        </p>
      )}
      {caption && (
        <p className="media__caption" data-testid="media-caption">
          {caption}
        </p>
      )}
      {captions.length > 0 && (
        <ol
          className="media__captions"
          data-testid="media-captions"
          // under an image grid of meta.cols columns, each caption sits under its tile
          style={typeof meta.cols === "number" ? { gridTemplateColumns: `repeat(${Math.min(meta.cols, captions.length)}, 1fr)` } : undefined}
        >
          {captions.map((c, j) => (
            <li key={j}>{c}</li>
          ))}
        </ol>
      )}
    </figure>
  );
}

export function MediaPanel({ groups, jobId }: { groups: readonly ArtifactGroup[]; jobId: string }) {
  const { t } = useTranslation();
  const shown = groups.filter((g) => g.view !== "other");
  if (shown.length === 0) return <p className="muted">{t("train.noMedia")}</p>;
  return (
    <div className="media-grid">
      {shown.map((g) => (
        <GroupPanel key={g.key} group={g} jobId={jobId} />
      ))}
    </div>
  );
}
