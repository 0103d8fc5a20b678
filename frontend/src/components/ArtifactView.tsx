/**
 * Renders one artifact by its meta.view: image, scatter, heatmap, confusion or line. JSON
 * artifacts are fetched from the URL the API gave in the artifact event.
 */
import { useMemo } from "react";
import { useTranslation } from "react-i18next";
import uPlot from "uplot";
import { useJson } from "../hooks/useJson";
import type { ArtifactView as View } from "../lib/artifacts";
import { inkOn, viridis } from "../lib/colormap";
import { formatNumber } from "../lib/format";
import { alignSeries } from "../lib/metrics";
import { colorAt, UPlotChart } from "./UPlotChart";

interface ScatterData {
  points: [number, number][];
  labels?: number[];
  label_names?: string[];
  title?: string;
}
interface HeatmapData {
  matrix: number[][];
  x_labels?: string[];
  y_labels?: string[];
  title?: string;
}
interface LineData {
  series: { name: string; x: number[]; y: number[] }[];
  title?: string;
}

export function ArtifactView({ view, url, name }: { view: View; url: string; name: string }) {
  const { t } = useTranslation();
  if (view === "image") return <img className="artifact-image" src={url} alt={name} />;
  if (view === "other")
    return (
      <a href={url} target="_blank" rel="noreferrer">
        {t("artifacts.open", { name })}
      </a>
    );
  return <JsonArtifact view={view} url={url} />;
}

function JsonArtifact({ view, url }: { view: Exclude<View, "image" | "other">; url: string }) {
  const { t } = useTranslation();
  const { data, error } = useJson<unknown>(url);
  if (error) return <p className="error">{t("artifacts.loadFailed", { error })}</p>;
  if (!data) return <p className="muted">{t("common.loading")}</p>;
  if (view === "scatter") return <ScatterPlot data={data as ScatterData} />;
  if (view === "line") return <LinePlot data={data as LineData} />;
  return <Heatmap data={data as HeatmapData} showValues={view === "confusion"} />;
}

function padded(_u: uPlot, min: number | null, max: number | null): uPlot.Range.MinMax {
  if (min == null || max == null) return [min, max];
  const pad = (max - min || Math.abs(max) || 1) * 0.05;
  return [min - pad, max + pad];
}

export function ScatterPlot({ data }: { data: ScatterData }) {
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

  // uPlot's faceted mode: each series has its own x and y arrays, drawn as points.
  const options = useMemo<Omit<uPlot.Options, "width" | "height">>(
    () => ({
      mode: 2,
      title: data.title,
      legend: { live: false },
      cursor: { drag: { x: false, y: false } },
      // 5% room around the points so none sits on the frame
      scales: { x: { time: false, range: padded }, y: { range: padded } },
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
    [names, data.title],
  );
  const plotData = useMemo(() => [null, ...groups] as unknown as uPlot.AlignedData, [groups]);
  return <UPlotChart options={options} data={plotData} optionsKey={`scatter:${names.join("|")}:${data.title}`} height={320} />;
}

export function LinePlot({ data }: { data: LineData }) {
  const namesKey = data.series.map((s) => s.name).join("|");
  const options = useMemo<Omit<uPlot.Options, "width" | "height">>(
    () => ({
      title: data.title,
      scales: { x: { time: false } },
      series: [
        { label: "x" },
        ...namesKey.split("|").map((name, i) => ({ label: name, stroke: colorAt(i), spanGaps: true })),
      ],
    }),
    [data.title, namesKey],
  );
  const aligned = useMemo(() => alignSeries(data.series) as unknown as uPlot.AlignedData, [data]);
  return <UPlotChart options={options} data={aligned} optionsKey={`line:${namesKey}:${data.title}`} />;
}

/** A matrix as a grid of coloured cells (viridis); a confusion matrix also prints the counts. */
export function Heatmap({ data, showValues }: { data: HeatmapData; showValues: boolean }) {
  const { lo, hi } = useMemo(() => {
    const flat = data.matrix.flat().filter(Number.isFinite);
    return { lo: Math.min(...flat), hi: Math.max(...flat) };
  }, [data]);
  const span = hi - lo || 1;
  const cols = data.matrix[0]?.length ?? 0;
  const dense = cols > 24;
  return (
    <figure className="heatmap">
      {data.title && <figcaption>{data.title}</figcaption>}
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
                  title={`${data.y_labels?.[i] ?? i} × ${data.x_labels?.[j] ?? j}: ${formatNumber(v)}`}
                >
                  {showValues && !dense ? formatNumber(v) : ""}
                </span>
              );
            })}
          </div>
        ))}
      </div>
    </figure>
  );
}
