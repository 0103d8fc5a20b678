import type { CSSProperties } from "react";
import { useTranslation } from "react-i18next";
import type { DenoisePayload } from "../../client/events";
import { promptSwitches } from "./promptSwitch";
import "./prompts.css";

export type FrameKind = "xt" | "x0";

/**
 * One thumbnail per denoising step, in arrival order; a click selects that step. A dot marks the
 * steps where prompt editing or alternation switched the prompt (its text as the tooltip).
 */
export function FrameStrip({
  frames,
  kind,
  onKind,
  selected,
  onSelect,
  imageStyle,
}: {
  frames: readonly DenoisePayload[];
  kind: FrameKind;
  onKind: (k: FrameKind) => void;
  selected?: number | null;
  onSelect?: (index: number) => void;
  /** a batch's previews hold every item side by side: this style crops one (batchCrop.itemStyle) */
  imageStyle?: CSSProperties;
}) {
  const { t } = useTranslation();
  const switches = new Map(promptSwitches(frames).map((s) => [s.index, s.prompt]));
  return (
    <section className="frame-strip-wrap">
      <div className="toolbar">
        <span className="muted">{t("studio.frames", { count: frames.length })}</span>
        <div className="segmented" role="group" aria-label={t("studio.frameKind")}>
          <button type="button" aria-pressed={kind === "xt"} onClick={() => onKind("xt")} data-testid="frame-kind-xt">
            x<sub>t</sub>
          </button>
          <button type="button" aria-pressed={kind === "x0"} onClick={() => onKind("x0")} data-testid="frame-kind-x0">
            x̂<sub>0</sub>
          </button>
        </div>
      </div>
      <ol className="frame-strip" data-testid="frame-strip">
        {frames.map((f, i) => (
          <li
            key={`${f.step}-${i}`}
            data-testid="frame"
            data-step={f.step}
            data-phase={f.phase ?? undefined}
            className={[
              "frame",
              selected === i && "frame--selected",
              f.phase === "hires" && "frame--hires",
              switches.has(i) && "frame--switch",
            ]
              .filter(Boolean)
              .join(" ")}
          >
            {switches.has(i) && (
              <span
                className="frame__switch"
                data-testid="prompt-switch"
                data-step={f.step}
                title={t("promptEdit.switchAt", { step: f.step + 1, prompt: switches.get(i) })}
                aria-label={t("promptEdit.switchAt", { step: f.step + 1, prompt: switches.get(i) })}
              />
            )}
            <button type="button" onClick={() => onSelect?.(i)} title={t("studio.stepOf", { step: f.step + 1, total: f.total })}>
              <img src={(kind === "xt" ? f.xt : f.x0) ?? undefined} alt={`${kind} ${f.step}`} loading="lazy" style={imageStyle} />
              <span>{f.step + 1}</span>
            </button>
          </li>
        ))}
      </ol>
    </section>
  );
}
