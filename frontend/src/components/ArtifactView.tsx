/**
 * Renders one artifact by its meta.view: image, scatter, heatmap, confusion, line, tree, text,
 * json, or cfg (classifier-free guidance with a live w, see CfgView). JSON and text artifacts
 * are fetched from the URL the API gave in the artifact event; while the next one loads (a
 * slider moved) the previous one stays on screen. When the UI speaks Chinese, titles and axis
 * titles are the backend's `_zh` ones where it gave them.
 */
import { useEffect, useMemo, useState, type ReactNode } from "react";
import { useTranslation } from "react-i18next";
import uPlot from "uplot";
import { metaText, plotAxes, type ArtifactMeta, type ArtifactView as View } from "../lib/artifacts";
import { inkOn, viridis } from "../lib/colormap";
import { formatNumber } from "../lib/format";
import { alignSeries } from "../lib/metrics";
import { isChinese } from "../lib/schemaForm";
import "./ArtifactView.css";
import type { CfgData } from "./cfgMath";
import { CfgView } from "./CfgView";
import { TreeView, type TreeData } from "./TreeView";
import { colorAt, UPlotChart } from "./UPlotChart";

/** What every plot's JSON may name: a title and axis titles, each with its Chinese. */
interface Titled {
  title?: string;
  title_zh?: string;
  x_title?: string;
  x_title_zh?: string;
  y_title?: string;
  y_title_zh?: string;
}
interface ScatterData extends Titled {
  points: [number, number][];
  labels?: number[];
  label_names?: string[];
}
interface HeatmapData extends Titled {
  matrix: number[][];
  x_labels?: string[];
  y_labels?: string[];
}
interface LineData extends Titled {
  series: { name: string; x: number[]; y: number[] }[];
  log_x?: boolean;
  log_y?: boolean;
}

/** Whether the UI speaks Chinese (then titles read `_zh` first). */
function useChinese(): boolean {
  const { i18n } = useTranslation();
  return isChinese(i18n.language);
}

/** A plot's title in the reader's language, or undefined. */
const plotTitle = (data: Titled, zh: boolean) => metaText(data as Record<string, unknown>, "title", zh) ?? undefined;

export function ArtifactView({ view, url, name, meta }: { view: View; url: string; name: string; meta?: ArtifactMeta }) {
  const { t } = useTranslation();
  const zh = useChinese();
  // guidance recomputed in the browser (lab.diffusion_internals' cfg/steps.json)
  if (meta?.view === "cfg") return <CfgArtifact url={url} />;
  if (view === "image") {
    const title = metaText(meta, "title", zh) ?? name;
    return <img className="artifact-image" src={url} alt={title} />;
  }
  if (view === "other")
    return (
      <a href={url} target="_blank" rel="noreferrer">
        {t("artifacts.open", { name })}
      </a>
    );
  if (view === "text") return <TextArtifact url={url} />;
  return <JsonArtifact view={view} url={url} meta={meta} />;
}

/**
 * The body of the artifact at `url`, parsed as JSON or kept as text. A new URL keeps the
 * previous body until its own arrives, so stepping through frames does not flash "loading".
 */
function useArtifactBody(url: string, as: "json" | "text"): { body: unknown; error: string | null; loading: boolean } {
  const [state, setState] = useState<{ url: string | null; body: unknown; error: string | null }>({ url: null, body: null, error: null });
  useEffect(() => {
    let cancelled = false;
    fetch(url, { credentials: "include", headers: { Accept: as === "json" ? "application/json" : "text/plain" } })
      .then(async (r) => {
        if (!r.ok) throw new Error(`${r.status} ${r.statusText}`);
        return as === "json" ? ((await r.json()) as unknown) : await r.text();
      })
      .then((body) => !cancelled && setState({ url, body, error: null }))
      .catch((e: unknown) => !cancelled && setState({ url, body: null, error: e instanceof Error ? e.message : String(e) }));
    return () => {
      cancelled = true;
    };
  }, [url, as]);
  return { body: state.body, error: state.error, loading: state.url !== url };
}

function TextArtifact({ url }: { url: string }) {
  const { t } = useTranslation();
  const { body, error, loading } = useArtifactBody(url, "text");
  if (error) return <p className="error">{t("artifacts.loadFailed", { error })}</p>;
  if (body == null) return <p className="muted">{t("common.loading")}</p>;
  return (
    <pre className="pre artifact-text" data-testid="artifact-text" aria-busy={loading}>
      {String(body)}
    </pre>
  );
}

function CfgArtifact({ url }: { url: string }) {
  const { t } = useTranslation();
  const { body, error, loading } = useArtifactBody(url, "json");
  if (error) return <p className="error">{t("artifacts.loadFailed", { error })}</p>;
  if (body == null) return <p className="muted">{t("common.loading")}</p>;
  return (
    <div className="artifact-json" aria-busy={loading}>
      <CfgView data={body as CfgData} />
    </div>
  );
}

function JsonArtifact({ view, url, meta }: { view: Exclude<View, "image" | "other" | "text">; url: string; meta?: ArtifactMeta }) {
  const { t } = useTranslation();
  const { body, error, loading } = useArtifactBody(url, "json");
  if (error) return <p className="error">{t("artifacts.loadFailed", { error })}</p>;
  if (body == null) return <p className="muted">{t("common.loading")}</p>;
  let shown: ReactNode;
  if (view === "scatter") shown = <ScatterPlot data={body as ScatterData} meta={meta} />;
  else if (view === "line") shown = <LinePlot data={body as LineData} meta={meta} />;
  else if (view === "tree") shown = <TreeView data={body as TreeData} />;
  else if (view === "json") shown = <pre className="pre artifact-text">{JSON.stringify(body, null, 2)}</pre>;
  else shown = <Heatmap data={body as HeatmapData} showValues={view === "confusion"} confusion={view === "confusion"} meta={meta} />;
  return (
    <div className="artifact-json" aria-busy={loading}>
      {shown}
    </div>
  );
}

function padded(_u: uPlot, min: number | null, max: number | null): uPlot.Range.MinMax {
  if (min == null || max == null) return [min, max];
  const pad = (max - min || Math.abs(max) || 1) * 0.05;
  return [min - pad, max + pad];
}

export function ScatterPlot({ data, meta }: { data: ScatterData; meta?: ArtifactMeta }) {
  const zh = useChinese();
  const { groups, names } = useMemo(() => {
    const labels = data.labels ?? data.points.map(() => 0);
    const ids = [...new Set(labels)].sort((a, b) => a - b);
    const groups = ids.map((id) => {
      const xs: number[] = [];
      const ys: number[] = [];
      data.points.forEach((p, i) => {
        if (labels[i] === id) {
          xs.push(p[0]);
          ys.push(p[1]);
        }
      });
      return [xs, ys] as [number[], number[]];
    });
    const names = ids.map((id) => data.label_names?.[id] ?? String(id));
    return { groups, names };
  }, [data]);
  const { xTitle, yTitle } = plotAxes(data, meta, zh);
  const title = plotTitle(data, zh);

  // uPlot's faceted mode: each series has its own x and y arrays, drawn as points.
  const options = useMemo<Omit<uPlot.Options, "width" | "height">>(
    () => ({
      mode: 2,
      title,
      legend: { live: false },
      cursor: { drag: { x: false, y: false } },
      // 5% room around the points so none sits on the frame
      scales: { x: { time: false, range: padded }, y: { range: padded } },
      axes: [{ label: xTitle ?? undefined }, { label: yTitle ?? undefined }],
      series: [
        {},
        ...names.map((name, i) => ({
          label: name,
          stroke: colorAt(i),
          fill: colorAt(i) + "99",
          paths: uPlot.paths.points!(),
          points: { show: true, size: 5, width: 0, fill: colorAt(i) },
        })),
      ],
    }),
    [names, title, xTitle, yTitle],
  );
  const plotData = useMemo(() => [null, ...groups] as unknown as uPlot.AlignedData, [groups]);
  return (
    <UPlotChart
      options={options}
      data={plotData}
      optionsKey={`scatter:${names.join("|")}:${title}:${xTitle}:${yTitle}`}
      height={320}
    />
  );
}

export function LinePlot({ data, meta }: { data: LineData; meta?: ArtifactMeta }) {
  const zh = useChinese();
  const namesKey = data.series.map((s) => s.name).join("|");
  const axes = plotAxes(data, meta, zh);
  const title = plotTitle(data, zh);
  // a log scale only where every value is positive (a sweep over C, a learning rate)
  const logX = axes.logX && data.series.every((s) => s.x.every((v) => v > 0));
  const logY = axes.logY && data.series.every((s) => s.y.every((v) => v > 0));
  const options = useMemo<Omit<uPlot.Options, "width" | "height">>(
    () => ({
      title,
      scales: { x: { time: false, distr: logX ? 3 : 1 }, y: { distr: logY ? 3 : 1 } },
      axes: [{ label: axes.xTitle ?? undefined }, { label: axes.yTitle ?? undefined, size: 60 }],
      series: [
        { label: axes.xTitle ?? "x" },
        ...namesKey.split("|").map((name, i) => ({ label: name, stroke: colorAt(i), spanGaps: true })),
      ],
    }),
    [title, namesKey, logX, logY, axes.xTitle, axes.yTitle],
  );
  const aligned = useMemo(() => alignSeries(data.series) as unknown as uPlot.AlignedData, [data]);
  return (
    <UPlotChart
      options={options}
      data={aligned}
      optionsKey={`line:${namesKey}:${title}:${logX}:${logY}:${axes.xTitle}:${axes.yTitle}`}
    />
  );
}

/** The backend's axis names of a confusion matrix, in the reader's language. */
const AXIS_WORDS: Record<string, string> = { true: "artifacts.trueClass", predicted: "artifacts.predictedClass" };

/**
 * A matrix as a grid of coloured cells (viridis), with its axis names (a confusion matrix:
 * rows true, columns predicted) when it has them; a confusion matrix also prints the counts.
 */
export function Heatmap({
  data,
  showValues,
  confusion = false,
  meta,
}: {
  data: HeatmapData;
  showValues: boolean;
  confusion?: boolean;
  meta?: ArtifactMeta;
}) {
  const { t } = useTranslation();
  const zh = useChinese();
  const { lo, hi } = useMemo(() => {
    const flat = data.matrix.flat().filter(Number.isFinite);
    return { lo: Math.min(...flat), hi: Math.max(...flat) };
  }, [data]);
  const axes = plotAxes(data, meta, zh);
  const title = plotTitle(data, zh);
  const word = (s: string | null) => (s && AXIS_WORDS[s] ? t(AXIS_WORDS[s]) : s);
  const xTitle = word(axes.xTitle ?? (confusion ? "predicted" : null));
  const yTitle = word(axes.yTitle ?? (confusion ? "true" : null));
  const span = hi - lo || 1;
  const cols = data.matrix[0]?.length ?? 0;
  const dense = cols > 24;
  const named = (title: string | null, label: string | number) => (title ? `${title} ${label}` : String(label));
  return (
    <figure className="heatmap">
      {title && <figcaption>{title}</figcaption>}
      {xTitle && (
        <div className="heatmap__xtitle" data-testid="heatmap-x-title">
          {xTitle} →
        </div>
      )}
      <div className="heatmap__body">
        {yTitle && (
          <div className="heatmap__ytitle" data-testid="heatmap-y-title">
            {yTitle} →
          </div>
        )}
        <div
          className="heatmap__grid"
          style={{ gridTemplateColumns: `auto repeat(${cols}, minmax(${dense ? 6 : 28}px, ${dense ? "1fr" : "64px"}))` }}
        >
          <span />
          {Array.from({ length: cols }, (_, j) => (
            <span key={`x${j}`} className="heatmap__xlabel">
              {dense ? "" : (data.x_labels?.[j] ?? j)}
            </span>
          ))}
          {data.matrix.map((row, i) => (
            <div key={`r${i}`} className="heatmap__row">
              <span className="heatmap__ylabel">{data.y_labels?.[i] ?? i}</span>
              {row.map((v, j) => {
                const tt = (v - lo) / span;
                return (
                  <span
                    key={j}
                    className="heatmap__cell"
                    style={{ background: viridis(tt), color: inkOn(tt) }}
                    title={`${named(yTitle, data.y_labels?.[i] ?? i)} × ${named(xTitle, data.x_labels?.[j] ?? j)}: ${formatNumber(v)}`}
                  >
                    {showValues && !dense ? formatNumber(v) : ""}
                  </span>
                );
              })}
            </div>
          ))}
        </div>
      </div>
    </figure>
  );
}
