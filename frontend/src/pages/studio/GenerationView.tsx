/**
 * One generation: live while it runs (progress, ETA, cancel, frames as they arrive), then the
 * replay, attention, predicted-noise and guidance-sweep views over its stored artifacts.
 */
import { useMemo, useState } from "react";
import { useTranslation } from "react-i18next";
import { api, artifactUrl } from "../../client";
import { errorMessage } from "../../client/errors";
import { eventsOfType, type ArtifactPayload } from "../../client/events";
import { isTerminal } from "../../client/types";
import { ProgressBar } from "../../components/ProgressBar";
import { StateBadge } from "../../components/StateBadge";
import { useJobEvents } from "../../hooks/useJobEvents";
import { useOnceWhen } from "../../hooks/useOnceWhen";
import { estimateRemaining, formatDuration, parseTime } from "../../lib/format";
import { AttentionView } from "./AttentionView";
import { itemStyle } from "./batchCrop";
import { FrameStrip, type FrameKind } from "./FrameStrip";
import { promptAt } from "./promptSwitch";
import { SendButtons } from "./SendButtons";
import type { StudioMode } from "./settings";
import { SweepView } from "./SweepView";

export interface GenerationViewProps {
  jobId: string;
  prompt: string;
  negativePrompt?: string;
  /** state known when the view opened (from the job or the generation row) */
  initialState?: string;
  /** just created: no stored history to load, follow the live stream from its start */
  fresh?: boolean;
  onEnded?: () => void;
  /** "Send to img2img / inpaint" for a final image */
  onSend?: (url: string, mode: StudioMode) => void;
  /** images generated together: each step preview holds them side by side, cropped here per item */
  batch?: number;
  /** one item's size in pixels (the crop box's aspect ratio); null: square */
  itemWidth?: number | null;
  itemHeight?: number | null;
  /** open a final image large (with its infotext) */
  onZoom?: (urls: string[], index: number) => void;
}

type Tab = "replay" | "attention" | "noise" | "sweep";

export function GenerationView({
  jobId,
  prompt,
  negativePrompt,
  initialState,
  fresh = false,
  onEnded,
  onSend,
  batch = 1,
  itemWidth,
  itemHeight,
  onZoom,
}: GenerationViewProps) {
  const { t } = useTranslation();
  const { events, ended, error } = useJobEvents(jobId, { history: !fresh });
  const [kind, setKind] = useState<FrameKind>("xt");
  const [scrub, setScrub] = useState<number | null>(null);
  const [tab, setTab] = useState<Tab>("replay");
  const [cancelError, setCancelError] = useState<string | null>(null);
  const [item, setItem] = useState(0); // the batch item whose frames are shown
  const crop = itemStyle(item, batch, itemWidth, itemHeight);

  const frames = useMemo(() => eventsOfType(events, "denoise").map((e) => e.payload), [events]);
  const progressEvents = useMemo(() => eventsOfType(events, "progress"), [events]);
  const stateEvents = useMemo(() => eventsOfType(events, "state"), [events]);
  const artifacts = useMemo(() => eventsOfType(events, "artifact").map((e) => e.payload), [events]);

  const lastState = stateEvents[stateEvents.length - 1]?.payload;
  const state = lastState?.state ?? initialState ?? "queued";
  const finished = ended || isTerminal(state);
  const finals = artifacts.filter((a) => a.name.startsWith("final/"));
  const attention = artifacts.find((a) => a.name === "attention/index.json");
  const sweep = artifacts.find((a) => a.name === "sweep/index.json");
  const hasNoise = frames.some((f) => !!f.eps);
  const url = (a: ArtifactPayload) => a.url || artifactUrl(jobId, a.name);

  // Tell the page once when the job ends (it refreshes the gallery); onEnded may change identity.
  useOnceWhen(finished, onEnded);

  // Progress and ETA: the rate between the first and the latest progress event.
  const first = progressEvents[0];
  const last = progressEvents[progressEvents.length - 1];
  const done = last?.payload.done ?? 0;
  const total = last?.payload.total ?? 0;
  let eta: number | null = null;
  if (first && last && last !== first) {
    const dt = ((parseTime(last.created_at) ?? 0) - (parseTime(first.created_at) ?? 0)) / 1000;
    const dn = last.payload.done - first.payload.done;
    eta = dn > 0 ? estimateRemaining(dn, dn + (total - last.payload.done), dt) : null;
  }
  const fraction = finished && state === "succeeded" ? 1 : total > 0 ? done / total : 0;

  const cancel = async () => {
    setCancelError(null);
    const { error: err } = await api.POST("/api/v1/jobs/{job_id}/cancel", { params: { path: { job_id: jobId } } });
    if (err) setCancelError(errorMessage(err));
  };

  const index = scrub ?? Math.max(0, frames.length - 1);
  const frame = frames[index];
  // hires fix: the second pass's steps follow the first's (step/total count both passes)
  const latest = frames[frames.length - 1];
  const hiresLive = !finished && latest?.phase === "hires";
  const hasHires = frames.some((f) => f.phase === "hires");
  // prompt editing / alternation: the text in effect at the latest step (live) or the scrubbed one
  const livePrompt = promptAt(frames, frames.length - 1);
  const framePrompt = promptAt(frames, index);

  return (
    <section className="card generation" data-job={jobId} data-state={state}>
      <header className="generation__head">
        <div>
          <p className="prompt-text" data-testid="prompt-text">
            {prompt}
          </p>
          {negativePrompt && (
            <p className="muted small">
              {t("studio.negativeShort")}: <span data-testid="negative-prompt-text">{negativePrompt}</span>
            </p>
          )}
        </div>
        <StateBadge state={state} />
      </header>

      {!finished && (
        <div className="generation__live">
          <ProgressBar
            value={fraction}
            testId="progress"
            label={
              total > 0
                ? `${done}/${total}${eta != null ? ` · ${t("studio.remaining", { time: formatDuration(eta) })}` : ""}`
                : t(`state.${state}`)
            }
          />
          {livePrompt != null && (
            <span className="prompt-now muted" data-testid="prompt-now" title={t("promptEdit.current")}>
              <q>{livePrompt}</q>
            </span>
          )}
          {hiresLive && (
            <span className="badge badge--hires" data-testid="hires-badge" title={t("studio.hiresPassHelp")}>
              {t("studio.hiresPass")}
            </span>
          )}
          <button type="button" className="danger" data-testid="cancel" onClick={() => void cancel()}>
            {t("common.cancel")}
          </button>
        </div>
      )}
      {finished && state === "succeeded" && <ProgressBar value={1} testId="progress" label={t("state.succeeded")} />}
      {lastState?.error && <p className="error">{lastState.error}</p>}
      {(cancelError || error) && <p className="error">{cancelError ?? error}</p>}

      {batch > 1 && (frames.length > 0 || !finished) && (
        <div className="batch-items segmented" role="group" aria-label={t("studio.batchItems")} data-testid="batch-items">
          <span className="muted small">{t("studio.batchItems")}</span>
          {Array.from({ length: batch }, (_, i) => (
            <button key={i} type="button" data-testid="batch-item" aria-pressed={item === i} onClick={() => setItem(i)}>
              {t("studio.batchItem", { n: i + 1 })}
            </button>
          ))}
        </div>
      )}
      {(frames.length > 0 || !finished) && (
        <FrameStrip
          imageStyle={crop}
          frames={frames}
          kind={kind}
          onKind={setKind}
          selected={finished ? index : null}
          onSelect={(i) => {
            setScrub(i);
            setTab("replay");
          }}
        />
      )}

      {finals.length > 0 && (
        <div className="finals">
          {finals.map((a, i) => (
            <figure key={a.name}>
              <img
                className={onZoom ? "pixelated zoomable" : "pixelated"}
                data-testid="final-image"
                src={url(a)}
                alt={prompt}
                title={onZoom ? t("studio.openLarge") : undefined}
                onClick={() => onZoom?.(finals.map(url), i)}
              />
              <figcaption>
                <a href={url(a)} download={`difflab-${jobId.slice(0, 8)}-${a.name.split("/").pop()}`}>
                  {t("studio.download")}
                </a>
                {onSend && <SendButtons onSend={(mode) => onSend(url(a), mode)} />}
              </figcaption>
            </figure>
          ))}
        </div>
      )}

      {finished && (frames.length > 0 || attention || sweep) && (
        <div className="generation__after">
          <div className="tabs" role="tablist">
            {frames.length > 0 && (
              <button role="tab" aria-selected={tab === "replay"} onClick={() => setTab("replay")}>
                {t("studio.replay")}
              </button>
            )}
            {attention && (
              <button role="tab" aria-selected={tab === "attention"} onClick={() => setTab("attention")} data-testid="tab-attention">
                {t("studio.attention")}
              </button>
            )}
            {hasNoise && (
              <button role="tab" aria-selected={tab === "noise"} onClick={() => setTab("noise")} data-testid="tab-noise">
                {t("studio.noise")}
              </button>
            )}
            {sweep && (
              <button role="tab" aria-selected={tab === "sweep"} onClick={() => setTab("sweep")} data-testid="tab-sweep">
                {t("studio.sweepTab")}
              </button>
            )}
          </div>

          {(tab === "replay" || tab === "noise") && frame && (
            <div className="replay">
              <label className="scrubber">
                <span>
                  {t("studio.stepOf", { step: frame.step + 1, total: frame.total })} · t = {frame.timestep}
                  {hasHires && (
                    <span className={frame.phase === "hires" ? "badge badge--hires" : "badge"} data-testid="replay-phase">
                      {frame.phase === "hires" ? t("studio.hiresPass") : t("studio.firstPass")}
                    </span>
                  )}
                  {framePrompt != null && (
                    <span className="prompt-now muted" data-testid="prompt-now" title={t("promptEdit.current")}>
                      <q>{framePrompt}</q>
                    </span>
                  )}
                </span>
                <input
                  type="range"
                  data-testid="scrubber"
                  min={0}
                  max={frames.length - 1}
                  value={index}
                  onChange={(e) => setScrub(Number(e.target.value))}
                />
              </label>
              <div className="replay__frames">
                {(tab === "replay" ? (["xt", "x0"] as const) : (["xt", "eps"] as const)).map((k) => {
                  const src = frame[k];
                  return src ? (
                    <figure key={k}>
                      <img
                        className="pixelated"
                        src={src}
                        alt={`${k} ${frame.step}`}
                        data-testid={`replay-${k}`}
                        style={crop}
                      />
                      <figcaption>{t(`studio.frame_${k}`)}</figcaption>
                    </figure>
                  ) : null;
                })}
              </div>
            </div>
          )}
          {tab === "attention" && attention && (
            <AttentionView
              indexUrl={url(attention)}
              jobId={jobId}
              baseImage={finals[0] ? url(finals[0]) : (frame?.x0 ?? null)}
            />
          )}
          {tab === "sweep" && sweep && (
            <SweepView indexUrl={url(sweep)} jobId={jobId} />
          )}
        </div>
      )}
    </section>
  );
}
