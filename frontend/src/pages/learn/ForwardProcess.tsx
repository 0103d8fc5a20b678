/** q(x_t | x_0) on a real dataset image, with the model's β_t, ᾱ_t and SNR curves beside it. */
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { useEffect, useMemo, useState } from "react";
import { useTranslation } from "react-i18next";
import type uPlot from "uplot";
import type { DatasetInfo, ModelInfo, Schedule } from "../../client/types";
import { Tex } from "../../components/Tex";
import { UPlotChart } from "../../components/UPlotChart";
import { formatNumber } from "../../lib/format";
import { datasetsQuery, modelsQuery, scheduleQuery } from "../../lib/queries";
import { TEX } from "./math";

function useDebounced<T>(value: T, ms: number): T {
  const [v, setV] = useState(value);
  useEffect(() => {
    const id = setTimeout(() => setV(value), ms);
    return () => clearTimeout(id);
  }, [value, ms]);
  return v;
}

/** An image, or a short note in its place when the server has none to give. */
function ImageOrNote({ src, alt, note, testId }: { src: string; alt: string; note: string; testId?: string }) {
  const [failed, setFailed] = useState<string | null>(null);
  if (failed === src) return <span className="image-note muted small">{note}</span>;
  return <img className="pixelated" src={src} alt={alt} data-testid={testId} onError={() => setFailed(src)} />;
}

export function ForwardProcess() {
  const { t } = useTranslation();
  const datasets: readonly DatasetInfo[] = useQuery(datasetsQuery()).data ?? [];
  const models: readonly ModelInfo[] = useQuery(modelsQuery()).data ?? [];
  const [chosenDataset, setDataset] = useState("shapes");
  const [chosenModel, setModel] = useState("");
  // the dataset chosen while the server has it (shapes at first), else its first; the default model
  const dataset = datasets.length && !datasets.some((x) => x.name === chosenDataset) ? datasets[0]!.name : chosenDataset;
  const model = chosenModel || ((models.find((m) => m.default) ?? models[0])?.name ?? "");
  const [index, setIndex] = useState(0);
  const [step, setStep] = useState(500);
  const shownT = useDebounced(step, 120);

  // another model's schedule: the one shown stays until it is in
  const scheduleQ = useQuery({ ...scheduleQuery(model), enabled: !!model, placeholderData: keepPreviousData });
  const schedule: Schedule | null = scheduleQ.data ?? null;
  const error = scheduleQ.error?.message ?? null;
  useEffect(() => {
    if (schedule) setStep((s) => Math.min(s, schedule.num_train_timesteps - 1));
  }, [schedule]);

  const T = schedule?.num_train_timesteps ?? 1000;
  const snr = useMemo(() => {
    if (!schedule) return [];
    if (schedule.snr?.length) return schedule.snr;
    return schedule.alphas_cumprod.map((a) => a / (1 - a));
  }, [schedule]);
  const xs = useMemo(() => Array.from({ length: schedule?.betas.length ?? 0 }, (_, i) => i), [schedule]);

  const scheduleOptions = useMemo<Omit<uPlot.Options, "width" | "height">>(
    () => ({
      scales: { x: { time: false }, beta: { auto: true }, abar: { range: [0, 1] } },
      axes: [
        { label: "t" },
        { scale: "beta", label: "β_t", size: 60, stroke: "#dc2626" },
        { scale: "abar", label: "ᾱ_t", side: 1, stroke: "#4f46e5" },
      ],
      series: [
        { label: "t" },
        { label: "β_t", scale: "beta", stroke: "#dc2626", width: 2 },
        { label: "ᾱ_t", scale: "abar", stroke: "#4f46e5", width: 2 },
      ],
    }),
    [],
  );
  const snrOptions = useMemo<Omit<uPlot.Options, "width" | "height">>(
    () => ({
      scales: { x: { time: false }, y: { distr: 3 } },
      axes: [{ label: "t" }, { label: "SNR (log)", size: 60 }],
      series: [{ label: "t" }, { label: "SNR", stroke: "#059669", width: 2 }],
    }),
    [],
  );
  const scheduleData = useMemo(
    () => [xs, schedule?.betas ?? [], schedule?.alphas_cumprod ?? []] as uPlot.AlignedData,
    [xs, schedule],
  );
  const snrData = useMemo(() => [xs, snr.map((v) => (v > 0 ? v : null))] as uPlot.AlignedData, [xs, snr]);

  const abar = schedule?.alphas_cumprod[step];
  const query = new URLSearchParams({ dataset, index: String(index), t: String(shownT) });
  if (model) query.set("model", model);
  const forwardUrl = `/api/v1/learn/forward?${query.toString()}`;
  const cleanUrl = `/api/v1/learn/forward?${new URLSearchParams({ dataset, index: String(index), t: "0", ...(model ? { model } : {}) }).toString()}`;

  return (
    <section className="card learn-forward" id="forward">
      <h2>{t("learn.forwardTitle")}</h2>
      <Tex block tex={TEX.forward} />
      <Tex block tex={TEX.sample} />
      <div className="toolbar">
        <label>
          {t("learn.dataset")}{" "}
          <select value={dataset} onChange={(e) => setDataset(e.target.value)} data-testid="forward-dataset">
            {(datasets.length ? datasets.map((d) => d.name) : [dataset]).map((n) => (
              <option key={n}>{n}</option>
            ))}
          </select>
        </label>
        <label>
          {t("learn.index")}{" "}
          <input type="number" min={0} value={index} onChange={(e) => setIndex(Math.max(0, Number(e.target.value) || 0))} className="narrow" />
        </label>
        <label>
          {t("studio.model")}{" "}
          <select value={model} onChange={(e) => setModel(e.target.value)}>
            {models.map((m) => (
              <option key={m.name}>{m.name}</option>
            ))}
          </select>
        </label>
      </div>
      {error && <p className="error">{error}</p>}
      <label className="scrubber">
        <span>
          t = <strong>{step}</strong> / {T - 1}
        </span>
        <input type="range" min={0} max={T - 1} value={step} onChange={(e) => setStep(Number(e.target.value))} data-testid="forward-t" />
      </label>
      <div className="forward__body">
        <div className="forward__images">
          <figure>
            <ImageOrNote src={cleanUrl} alt="x_0" note={t("learn.unavailable")} />
            <figcaption>
              x<sub>0</sub>
            </figcaption>
          </figure>
          <figure>
            <ImageOrNote src={forwardUrl} alt={`x_t, t=${shownT}`} note={t("learn.unavailable")} testId="forward-image" />
            <figcaption>
              x<sub>t</sub>, t = {shownT}
            </figcaption>
          </figure>
          {abar != null && (
            <dl className="kv">
              <dt>β_t</dt>
              <dd>{formatNumber(schedule?.betas[step])}</dd>
              <dt>ᾱ_t</dt>
              <dd>{formatNumber(abar)}</dd>
              <dt>√ᾱ_t</dt>
              <dd>{formatNumber(Math.sqrt(abar))}</dd>
              <dt>√(1−ᾱ_t)</dt>
              <dd>{formatNumber(Math.sqrt(1 - abar))}</dd>
              <dt>SNR</dt>
              <dd>{formatNumber(snr[step])}</dd>
            </dl>
          )}
        </div>
        <div className="forward__charts">
          {schedule && (
            <>
              <UPlotChart options={scheduleOptions} data={scheduleData} optionsKey="schedule" height={200} cursorX={step} />
              <UPlotChart options={snrOptions} data={snrData} optionsKey="snr" height={200} cursorX={step} />
            </>
          )}
          <div className="tex-row">
            <Tex tex={TEX.alphaBar} />
            <Tex tex={TEX.snr} />
          </div>
        </div>
      </div>
    </section>
  );
}
