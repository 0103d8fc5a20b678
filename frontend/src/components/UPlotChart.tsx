import { useEffect, useRef } from "react";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

export { colorAt, PALETTE } from "../lib/palette";

export interface UPlotChartProps {
  /** uPlot options without width and height (the chart fills its container's width) */
  options: Omit<uPlot.Options, "width" | "height">;
  data: uPlot.AlignedData;
  height?: number;
  /**
   * Changes when the options change in a way setData cannot follow (series added, a scale
   * switched to log): the chart is rebuilt. Otherwise new data only calls setData, which is
   * what keeps streaming thousands of points cheap.
   */
  optionsKey: string;
  /** move the cursor to this x value (a marker, e.g. the chosen timestep) */
  cursorX?: number | null;
  className?: string;
  testId?: string;
}

export function UPlotChart({
  options,
  data,
  height = 280,
  optionsKey,
  cursorX,
  className,
  testId,
}: UPlotChartProps) {
  const host = useRef<HTMLDivElement>(null);
  const chart = useRef<uPlot | null>(null);
  const latest = useRef({ options, data, height });
  latest.current = { options, data, height };

  useEffect(() => {
    const el = host.current;
    if (!el) return;
    const { options: opts, data: d, height: h } = latest.current;
    const width = Math.max(el.clientWidth, 200);
    const u = new uPlot({ ...opts, width, height: h }, d, el);
    chart.current = u;
    let observer: ResizeObserver | null = null;
    if (typeof ResizeObserver !== "undefined") {
      observer = new ResizeObserver(() => {
        const w = Math.max(el.clientWidth, 200);
        if (Math.abs(w - u.width) > 1) u.setSize({ width: w, height: latest.current.height });
      });
      observer.observe(el);
    }
    return () => {
      observer?.disconnect();
      u.destroy();
      chart.current = null;
    };
  }, [optionsKey]);

  useEffect(() => {
    chart.current?.setData(data);
  }, [data]);

  useEffect(() => {
    if (cursorX == null) return;
    // after uPlot's first layout, which it finishes in a later task than the constructor
    const id = requestAnimationFrame(() => {
      const u = chart.current;
      if (!u) return;
      const left = u.valToPos(cursorX, "x");
      if (Number.isFinite(left)) u.setCursor({ left, top: u.bbox.height / (2 * devicePixelRatio) });
    });
    return () => cancelAnimationFrame(id);
  }, [cursorX, data, optionsKey]);

  return <div ref={host} className={className ?? "chart"} data-testid={testId} />;
}
