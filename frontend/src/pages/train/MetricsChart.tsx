/** Live metric curves with uPlot: EMA smoothing, linear/log y, x = step/epoch/time, overlays. */
import { useMemo } from "react";
import { useTranslation } from "react-i18next";
import type uPlot from "uplot";
import { colorAt, UPlotChart } from "../../components/UPlotChart";
import { alignSeries, emaSmooth, type Series, type XAxis } from "../../lib/metrics";

export interface CurveInput extends Series {
  label: string;
}

export function MetricsChart({
  curves,
  smoothing,
  logY,
  xAxis,
}: {
  curves: readonly CurveInput[];
  smoothing: number;
  logY: boolean;
  xAxis: XAxis;
}) {
  const { t } = useTranslation();
  const smooth = smoothing > 0;
  // With smoothing on, each curve is drawn twice: the raw points faint, the EMA on top.
  const drawn = useMemo(() => {
    const out: { label: string; color: string; raw: boolean; s: Series }[] = [];
    curves.forEach((c, i) => {
      const y = logY ? c.y.map((v) => (v > 0 ? v : NaN)) : c.y;
      if (smooth) out.push({ label: `${c.label} (${t("train.raw")})`, color: colorAt(i) + "40", raw: true, s: { x: c.x, y } });
      out.push({ label: c.label, color: colorAt(i), raw: false, s: { x: c.x, y: smooth ? emaSmooth(y, smoothing) : y } });
    });
    return out;
  }, [curves, smoothing, smooth, logY, t]);

  // a handful of points is drawn as dots too (one point makes no line)
  const dots = drawn.map((d) => d.s.x.length < 30);
  const key = `${drawn.map((d) => d.label).join("|")}:${dots.join(",")}:${logY}:${t(`train.x_${xAxis}`)}`;
  const options = useMemo<Omit<uPlot.Options, "width" | "height">>(
    () => ({
      scales: { x: { time: false }, y: logY ? { distr: 3 } : {} },
      axes: [
        { label: t(`train.x_${xAxis}`) },
        { size: 60 },
      ],
      legend: { live: true },
      cursor: { drag: { x: true, y: false } },
      series: [
        { label: t(`train.x_${xAxis}`) },
        ...drawn.map((d, i) => ({
          label: d.label,
          stroke: d.color,
          width: d.raw ? 1 : 2,
          spanGaps: true,
          points: { show: !d.raw && dots[i], size: 6, fill: d.color },
        })),
      ],
    }),
    // a new options object is cheap: the chart is only rebuilt when `key` changes
    [drawn, dots, logY, xAxis, t],
  );
  const plotData = useMemo(() => {
    // uPlot wants null for "no point here"; NaN (a log scale's non-positive values) would break it.
    const [x, ...ys] = alignSeries(drawn.map((d) => d.s));
    return [x, ...ys.map((col) => col.map((v) => (v == null || !Number.isFinite(v) ? null : v)))] as uPlot.AlignedData;
  }, [drawn]);

  if (curves.length === 0) return <p className="muted">{t("train.noMetrics")}</p>;
  return <UPlotChart options={options} data={plotData} optionsKey={key} height={320} testId="run-chart" className="chart run-chart" />;
}
