/**
 * A running or finished X/Y/Z plot: progress, one tile per cell that fills in as its generation
 * ends (from the plot's `cell` and `progress` events and each cell job's result), a click on a
 * tile opens that cell's own live view below, and at the end the labelled grid image.
 */
import { useEffect, useMemo, useRef, useState } from "react";
import { useTranslation } from "react-i18next";
import { api, artifactUrl } from "../../client";
import { errorMessage } from "../../client/errors";
import { eventsOfType } from "../../client/events";
import { isTerminal, type JobPublic } from "../../client/types";
import { ProgressBar } from "../../components/ProgressBar";
import { StateBadge } from "../../components/StateBadge";
import { useJobEvents } from "../../hooks/useJobEvents";
import { useOnceWhen } from "../../hooks/useOnceWhen";
import { useJson } from "../../hooks/useJson";
import { GenerationView } from "./GenerationView";
import type { StudioMode } from "./settings";
import { axisLabel, cellCoords, type AxisField, type AxisName, type AxisSpec } from "./xyz";

export interface XyzIndex {
  axes: AxisSpec[];
  cells: { index: number; x: number; y: number; z: number; job_id: string; state: string; image: string | null; error: string | null }[];
}

interface CellInfo {
  state: string;
  image: string | null;
  error: string | null;
}

export interface XyzViewProps {
  jobId: string;
  specs: Partial<Record<AxisName, AxisSpec>>;
  /** just submitted: no stored history to load */
  fresh?: boolean;
  initialState?: string;
  onEnded?: () => void;
  onSend?: (url: string, mode: StudioMode) => void;
  onZoom?: (urls: string[], index: number, alt: string) => void;
}

export function XyzView({ jobId, specs, fresh = false, initialState, onEnded, onSend, onZoom }: XyzViewProps) {
  const { t } = useTranslation();
  const { events, ended, error } = useJobEvents(jobId, { history: !fresh });
  const [info, setInfo] = useState<Record<string, CellInfo>>({});
  const [open, setOpen] = useState<JobPublic | null>(null);
  const [openError, setOpenError] = useState<string | null>(null);
  const [cancelError, setCancelError] = useState<string | null>(null);

  const cellJobs = useMemo(() => {
    const m = new Map<number, string>();
    for (const e of eventsOfType(events, "cell")) m.set(e.payload.index, e.payload.job_id);
    return m;
  }, [events]);
  const progress = eventsOfType(events, "progress");
  const lastProgress = progress[progress.length - 1]?.payload;
  const stateEvents = eventsOfType(events, "state");
  const lastState = stateEvents[stateEvents.length - 1]?.payload;
  const state = lastState?.state ?? initialState ?? "queued";
  const finished = ended || isTerminal(state);
  const artifacts = eventsOfType(events, "artifact").map((e) => e.payload);
  const gridArt = artifacts.find((a) => a.name === "xyz/grid.png");
  const indexArt = artifacts.find((a) => a.name === "xyz/index.json");
  const { data: index } = useJson<XyzIndex>(indexArt ? indexArt.url || artifactUrl(jobId, indexArt.name) : null);

  const nx = specs.x?.values.length ?? 1;
  const ny = specs.y?.values.length ?? 1;
  const nz = specs.z?.values.length ?? 1;
  const total = nx * ny * nz;
  // the plot runs its cells in order: progress n says cells 0..n-1 have ended
  const done = finished ? total : (lastProgress?.done ?? 0);

  // each ended cell's job, read once, for its state and image
  const requested = useRef(new Set<string>());
  useEffect(() => {
    for (let k = 0; k < Math.min(done, total); k++) {
      const id = cellJobs.get(k);
      if (!id || requested.current.has(id)) continue;
      requested.current.add(id);
      void api.GET("/api/v1/jobs/{job_id}", { params: { path: { job_id: id } } }).then(({ data }) => {
        if (!data) {
          requested.current.delete(id); // tried again on the next progress
          return;
        }
        const images = (data.result as { images?: unknown } | null)?.images;
        const first = Array.isArray(images) && typeof images[0] === "string" ? images[0] : null;
        setInfo((m) => ({ ...m, [id]: { state: data.state, image: first, error: data.error ?? null } }));
      });
    }
  }, [done, total, cellJobs]);

  // tell the page once when the plot ends (it refreshes the gallery)
  useOnceWhen(finished, onEnded);

  const cellAt = (k: number) => {
    const fromIndex = index?.cells.find((c) => c.index === k);
    const id = fromIndex?.job_id ?? cellJobs.get(k) ?? null;
    const got = id ? info[id] : undefined;
    const cellState = fromIndex?.state ?? got?.state ?? null;
    const image = fromIndex?.image ?? got?.image ?? null;
    const running = !finished && id != null && k === done;
    return {
      id,
      state: cellState ?? (running ? "running" : id ? "queued" : "pending"),
      image: id && image ? artifactUrl(id, image) : null,
      error: fromIndex?.error ?? got?.error ?? null,
    };
  };

  const openCell = async (id: string) => {
    setOpenError(null);
    const { data, error: err } = await api.GET("/api/v1/jobs/{job_id}", { params: { path: { job_id: id } } });
    if (!data) setOpenError(errorMessage(err));
    else setOpen(data);
  };

  const cancel = async () => {
    setCancelError(null);
    const { error: err } = await api.POST("/api/v1/jobs/{job_id}/cancel", { params: { path: { job_id: jobId } } });
    if (err) setCancelError(errorMessage(err));
  };

  const fieldName = (f: AxisField) => t(`xyz.field_${f}`);
  const label = (axis: AxisName, i: number) => (specs[axis] ? axisLabel(specs[axis], i, fieldName) : "");
  const openParams = (open?.params ?? {}) as Record<string, unknown>;
  const gridUrl = gridArt ? gridArt.url || artifactUrl(jobId, gridArt.name) : null;

  return (
    <section className="card xyz-view" data-testid="xyz-view" data-job={jobId} data-state={state}>
      <header className="generation__head">
        <div>
          <strong>{t("xyz.title")}</strong>
          <p className="muted small">
            {(["x", "y", "z"] as const)
              .filter((a) => specs[a])
              .map((a) => `${a.toUpperCase()}: ${fieldName(specs[a]!.field)} (${specs[a]!.values.length})`)
              .join(" · ")}
          </p>
        </div>
        <StateBadge state={state} />
      </header>
      <div className="generation__live">
        <ProgressBar
          value={finished && state === "succeeded" ? 1 : total ? done / total : 0}
          testId="xyz-progress"
          label={t("xyz.progress", { done: Math.min(done, total), total })}
        />
        {!finished && (
          <button type="button" className="danger" data-testid="xyz-cancel" onClick={() => void cancel()}>
            {t("common.cancel")}
          </button>
        )}
      </div>
      {lastState?.error && <p className="error">{lastState.error}</p>}
      {(cancelError || error) && <p className="error">{cancelError ?? error}</p>}

      {gridUrl && (
        <figure className="xyz-grid">
          <img
            className="pixelated zoomable"
            data-testid="xyz-grid"
            src={gridUrl}
            alt={t("xyz.title")}
            onClick={() => onZoom?.([gridUrl], 0, t("xyz.title"))}
          />
          <figcaption>
            <a href={gridUrl} download={`difflab-xyz-${jobId.slice(0, 8)}.png`} data-testid="xyz-download">
              {t("studio.download")}
            </a>
          </figcaption>
        </figure>
      )}

      <div className="xyz-blocks" data-testid="xyz-cells">
        {Array.from({ length: nz }, (_, iz) => (
          <div key={iz} className="xyz-block">
            {specs.z && <strong className="small">{label("z", iz)}</strong>}
            <div className="xyz-table" style={{ gridTemplateColumns: `${specs.y ? "auto " : ""}repeat(${nx}, minmax(48px, 96px))` }}>
              {specs.y && <span />}
              {Array.from({ length: nx }, (_, ix) => (
                <span key={`h${ix}`} className="xyz-table__label small">
                  {label("x", ix)}
                </span>
              ))}
              {Array.from({ length: ny }, (_, iy) => [
                specs.y ? (
                  <span key={`l${iy}`} className="xyz-table__label xyz-table__label--row small">
                    {label("y", iy)}
                  </span>
                ) : null,
                ...Array.from({ length: nx }, (_, ix) => {
                  const k = ix + nx * (iy + ny * iz);
                  const c = cellAt(k);
                  const at = cellCoords(k, nx, ny);
                  const title = [label("x", at.x), label("y", at.y), label("z", at.z)].filter(Boolean).join(" · ");
                  return (
                    <button
                      key={k}
                      type="button"
                      className={`xyz-cell xyz-cell--${c.state}`}
                      data-testid="xyz-cell"
                      data-index={k}
                      data-state={c.state}
                      aria-pressed={open?.id === c.id && c.id != null}
                      disabled={!c.id}
                      title={c.error ? `${title}\n${c.error}` : title}
                      onClick={() => c.id && void openCell(c.id)}
                    >
                      {c.image ? <img className="pixelated" src={c.image} alt={title} /> : <span>{t(`xyz.cell_${c.state}`, { defaultValue: c.state })}</span>}
                    </button>
                  );
                }),
              ])}
            </div>
          </div>
        ))}
      </div>
      {openError && <p className="error">{openError}</p>}
      {open && (
        <div className="xyz-open" data-testid="xyz-open-cell">
          <div className="toolbar">
            <strong className="small">{t("xyz.cellView")}</strong>
            <button type="button" onClick={() => setOpen(null)}>
              {t("studio.close")}
            </button>
          </div>
          <GenerationView
            key={open.id}
            jobId={open.id}
            prompt={typeof openParams.prompt === "string" ? openParams.prompt : ""}
            negativePrompt={typeof openParams.negative_prompt === "string" ? openParams.negative_prompt : ""}
            initialState={open.state}
            onSend={onSend}
            batch={typeof openParams.batch_size === "number" ? openParams.batch_size : 1}
            itemWidth={typeof openParams.width === "number" ? openParams.width : null}
            itemHeight={typeof openParams.height === "number" ? openParams.height : null}
            onZoom={onZoom ? (urls, i) => onZoom(urls, i, typeof openParams.prompt === "string" ? openParams.prompt : "") : undefined}
          />
        </div>
      )}
    </section>
  );
}
