/**
 * Bayes' rule on a coin and the KL divergence between two Gaussians, recomputed in the browser
 * as the sliders move; `lab.probability` runs the same math as a job.
 */
import { useEffect, useMemo, useState } from "react";
import { useTranslation } from "react-i18next";
import { Link, useLocation } from "react-router-dom";
import type uPlot from "uplot";
import { Tex } from "../../components/Tex";
import { colorAt, UPlotChart } from "../../components/UPlotChart";
import { formatNumber } from "../../lib/format";
import { num } from "../train/math/tex";
import { coinCurves, coinPosterior, gaussianCurves, klMonteCarlo, klNormal, type MonteCarloEstimate } from "./probabilityMath";
import "./probability.css";

const raw = String.raw;
const MASS = 0.95;
const MAX_FLIPS = 10_000;
const SAMPLE_SIZES = [100, 1_000, 10_000, 100_000] as const;

/** x², in parentheses when the number is negative or a power of ten. */
function squared(x: number): string {
  const s = num(x);
  return x < 0 || s.includes("^") ? raw`(${s})^2` : raw`${s}^2`;
}

/** A number as the next operand: in parentheses when negative. */
const operand = (x: number) => (x < 0 ? raw`(${num(x)})` : num(x));

/** Densities start at zero: no padding below it. */
const densityRange: uPlot.Scale.Range = (_u, _min, max) => [0, (max || 1) * 1.05];

function Slider({
  label,
  value,
  min,
  max,
  step,
  onChange,
  testId,
}: {
  label: string;
  value: number;
  min: number;
  max: number;
  step: number;
  onChange: (v: number) => void;
  testId: string;
}) {
  return (
    <label className="scrubber">
      <span>
        {label} = <strong>{formatNumber(value)}</strong>
      </span>
      <input type="range" min={min} max={max} step={step} value={value} onChange={(e) => onChange(Number(e.target.value))} data-testid={testId} />
    </label>
  );
}

function Count({ label, value, onChange, testId }: { label: string; value: number; onChange: (v: number) => void; testId: string }) {
  return (
    <label>
      {label}{" "}
      <input
        type="number"
        className="narrow"
        min={0}
        max={MAX_FLIPS}
        value={value}
        onChange={(e) => onChange(Math.min(MAX_FLIPS, Math.max(0, Math.floor(Number(e.target.value) || 0))))}
        data-testid={testId}
      />
    </label>
  );
}

function CoinBayes() {
  const { t, i18n } = useTranslation();
  const [a, setA] = useState(2);
  const [b, setB] = useState(2);
  const [heads, setHeads] = useState(7);
  const [tails, setTails] = useState(3);
  const n = heads + tails;
  const post = useMemo(() => coinPosterior(a, b, heads, tails, MASS), [a, b, heads, tails]);
  const curves = useMemo(() => coinCurves(a, b, heads, tails), [a, b, heads, tails]);
  const data = useMemo(() => {
    // the posterior again, only inside the credible interval: drawn as a shaded area
    const inside = curves.theta.map((x, i) => (x >= post.low && x <= post.high ? curves.posterior[i]! : null));
    return [curves.theta, curves.prior, curves.likelihood, curves.posterior, inside] as uPlot.AlignedData;
  }, [curves, post]);
  const options = useMemo<Omit<uPlot.Options, "width" | "height">>(
    () => ({
      scales: { x: { time: false, range: [0, 1] }, y: { range: densityRange } },
      axes: [{ label: "θ" }, { label: t("learn.probability.density"), size: 50 }],
      series: [
        { label: "θ" },
        { label: t("learn.probability.prior"), stroke: "#64748b", width: 2, dash: [6, 4] },
        { label: t("learn.probability.likelihood"), stroke: colorAt(2), width: 2 },
        { label: t("learn.probability.posterior"), stroke: colorAt(0), width: 2.5 },
        { label: t("learn.probability.interval"), stroke: "transparent", width: 0, fill: `${colorAt(0)}33` },
      ],
    }),
    [t],
  );

  // sums of the prior and the counts, written in full (a + h can have 5 digits before the point)
  const pa = num(post.a, 7);
  const pb = num(post.b, 7);
  const live = [
    raw`\mathrm{Beta}(a + h,\ b + t) = \mathrm{Beta}(${num(a)} + ${heads},\ ${num(b)} + ${tails}) = \mathrm{Beta}(${pa},\ ${pb})`,
    raw`\mathbb{E}[\theta \mid x] = \frac{a + h}{a + b + n} = \frac{${pa}}{${num(post.a + post.b, 7)}} = ${num(post.mean)}`,
  ];
  if (post.map != null && post.a > 1 && post.b > 1)
    live.push(raw`\hat\theta_{\text{MAP}} = \frac{a + h - 1}{a + b + n - 2} = \frac{${num(post.a - 1, 7)}}{${num(post.a + post.b - 2, 7)}} = ${num(post.map)}`);
  else if (post.map != null) live.push(raw`\hat\theta_{\text{MAP}} = ${num(post.map)}`);
  if (post.mle != null) live.push(raw`\hat\theta_{\text{MLE}} = \frac{h}{n} = \frac{${heads}}{${n}} = ${num(post.mle)}`);
  live.push(raw`P\big(${num(post.low)} \le \theta \le ${num(post.high)} \mid x\big) = ${num(MASS)}`);

  return (
    <article className="prob-part" data-part="coin">
      <h3>{t("learn.probability.coinTitle")}</h3>
      <p className="small">{t("learn.probability.coinIntro")}</p>
      <Tex
        block
        tex={raw`p(\theta \mid x) = \frac{p(x \mid \theta)\,p(\theta)}{p(x)} \propto \theta^{h}(1-\theta)^{t} \cdot \theta^{a-1}(1-\theta)^{b-1} = \theta^{a+h-1}(1-\theta)^{b+t-1}`}
      />
      <div className="prob">
        <div className="prob__controls">
          <Slider label={t("learn.probability.priorA")} value={a} min={0.1} max={50} step={0.1} onChange={setA} testId="coin-a" />
          <Slider label={t("learn.probability.priorB")} value={b} min={0.1} max={50} step={0.1} onChange={setB} testId="coin-b" />
          <div className="toolbar">
            <Count label={t("learn.probability.heads")} value={heads} onChange={setHeads} testId="coin-heads" />
            <Count label={t("learn.probability.tails")} value={tails} onChange={setTails} testId="coin-tails" />
          </div>
          <div className="toolbar">
            <button type="button" className="small" onClick={() => setHeads((h) => Math.min(MAX_FLIPS, h + 1))}>
              {t("learn.probability.flipHeads")}
            </button>
            <button type="button" className="small" onClick={() => setTails((v) => Math.min(MAX_FLIPS, v + 1))}>
              {t("learn.probability.flipTails")}
            </button>
            <button
              type="button"
              className="small"
              onClick={() => {
                setHeads(0);
                setTails(0);
              }}
            >
              {t("learn.probability.reset")}
            </button>
          </div>
          <dl className="kv">
            <dt>{t("learn.probability.posterior")}</dt>
            <dd data-testid="coin-posterior">
              Beta({formatNumber(post.a)}, {formatNumber(post.b)})
            </dd>
            <dt>{t("learn.probability.mean")}</dt>
            <dd data-testid="coin-mean">{formatNumber(post.mean)}</dd>
            <dt>{t("learn.probability.map")}</dt>
            <dd data-testid="coin-map">{post.map != null ? formatNumber(post.map) : t("learn.probability.noMode")}</dd>
            <dt>{t("learn.probability.mle")}</dt>
            <dd data-testid="coin-mle">{post.mle != null ? formatNumber(post.mle) : t("learn.probability.noFlips")}</dd>
            <dt>{t("learn.probability.interval")}</dt>
            <dd data-testid="coin-interval">
              [{formatNumber(post.low)}, {formatNumber(post.high)}]
            </dd>
          </dl>
        </div>
        <div className="prob__chart">
          <UPlotChart options={options} data={data} optionsKey={`coin-${i18n.language}`} height={240} testId="coin-chart" />
          <div className="tex-row prob__live">
            {live.map((tex) => (
              <Tex key={tex} tex={tex} />
            ))}
          </div>
        </div>
      </div>
      <p className="muted small">{t("learn.probability.coinNote")}</p>
    </article>
  );
}

/** The closed form of KL(N(m1, s1²) ‖ N(m2, s2²)) with the numbers in it, and its value. */
function klLive(m1: number, s1: number, m2: number, s2: number): string {
  return raw`\log\frac{${num(s2)}}{${num(s1)}} + \frac{${squared(s1)} + (${num(m1)} - ${operand(m2)})^2}{2 \cdot ${squared(s2)}} - \frac12 = ${num(klNormal(m1, s1, m2, s2))}`;
}

/** One direction of the KL divergence: p = N(m1, s1²) against q = N(m2, s2²), closed form beside Monte Carlo. */
function Direction({
  from,
  to,
  params: [m1, s1, m2, s2],
  mc,
  testId,
}: {
  from: string;
  to: string;
  params: [number, number, number, number];
  mc: MonteCarloEstimate;
  testId: string;
}) {
  const { t } = useTranslation();
  return (
    <div data-testid={testId}>
      <h4>
        KL({from} ‖ {to})
      </h4>
      <Tex tex={raw`\mathrm{KL}(${from} \,\Vert\, ${to}) = ${klLive(m1, s1, m2, s2)}`} />
      <Tex tex={raw`\widehat{\mathrm{KL}}_{${mc.n}} = ${num(mc.estimate)} \pm ${num(mc.stdError)}`} />
      <dl className="kv">
        <dt>{t("learn.probability.closedForm")}</dt>
        <dd data-role="closed">{formatNumber(klNormal(m1, s1, m2, s2))}</dd>
        <dt>{t("learn.probability.monteCarlo", { n: mc.n.toLocaleString("en") })}</dt>
        <dd data-role="mc">
          {formatNumber(mc.estimate)} ± {formatNumber(mc.stdError)}
        </dd>
      </dl>
    </div>
  );
}

function GaussianKl() {
  const { t, i18n } = useTranslation();
  const [m1, setM1] = useState(0);
  const [s1, setS1] = useState(1);
  const [m2, setM2] = useState(1);
  const [s2, setS2] = useState(2);
  const [n, setN] = useState<number>(10_000);
  const [seed, setSeed] = useState(0);
  const pq = useMemo(() => klMonteCarlo(m1, s1, m2, s2, n, seed), [m1, s1, m2, s2, n, seed]);
  const qp = useMemo(() => klMonteCarlo(m2, s2, m1, s1, n, seed + 1), [m1, s1, m2, s2, n, seed]);
  const curves = useMemo(() => gaussianCurves(m1, s1, m2, s2), [m1, s1, m2, s2]);
  const data = useMemo(() => [curves.x, curves.p, curves.q] as uPlot.AlignedData, [curves]);
  const options = useMemo<Omit<uPlot.Options, "width" | "height">>(
    () => ({
      scales: { x: { time: false }, y: { range: densityRange } },
      axes: [{ label: "x" }, { label: t("learn.probability.density"), size: 50 }],
      series: [
        { label: "x" },
        { label: "p = N(μ₁, σ₁²)", stroke: colorAt(0), width: 2, fill: `${colorAt(0)}1a` },
        { label: "q = N(μ₂, σ₂²)", stroke: colorAt(1), width: 2, fill: `${colorAt(1)}1a` },
      ],
    }),
    [t],
  );

  return (
    <article className="prob-part" data-part="kl">
      <h3>{t("learn.probability.klTitle")}</h3>
      <p className="small">{t("learn.probability.klIntro")}</p>
      <Tex
        block
        tex={raw`\mathrm{KL}(p \,\Vert\, q) = \mathbb{E}_{x \sim p}\Big[\log\frac{p(x)}{q(x)}\Big] = \log\frac{\sigma_2}{\sigma_1} + \frac{\sigma_1^2 + (\mu_1 - \mu_2)^2}{2\sigma_2^2} - \frac12,\qquad \widehat{\mathrm{KL}}_n = \frac1n \sum_{i=1}^{n} \log\frac{p(x_i)}{q(x_i)},\ \ x_i \sim p,\ \ \mathrm{SE} = \frac{s}{\sqrt n}`}
      />
      <div className="prob">
        <div className="prob__controls">
          <Slider label="μ₁ (p)" value={m1} min={-5} max={5} step={0.1} onChange={setM1} testId="kl-m1" />
          <Slider label="σ₁ (p)" value={s1} min={0.1} max={5} step={0.05} onChange={setS1} testId="kl-s1" />
          <Slider label="μ₂ (q)" value={m2} min={-5} max={5} step={0.1} onChange={setM2} testId="kl-m2" />
          <Slider label="σ₂ (q)" value={s2} min={0.1} max={5} step={0.05} onChange={setS2} testId="kl-s2" />
          <div className="toolbar">
            <label>
              {t("learn.probability.samples")}{" "}
              <select value={n} onChange={(e) => setN(Number(e.target.value))} data-testid="kl-n">
                {SAMPLE_SIZES.map((v) => (
                  <option key={v} value={v}>
                    {v.toLocaleString("en")}
                  </option>
                ))}
              </select>
            </label>
            <button type="button" className="small" onClick={() => setSeed((s) => s + 2)}>
              {t("learn.probability.resample")}
            </button>
            <span className="muted small" data-testid="kl-seed">
              {t("learn.probability.seed", { seed })}
            </span>
          </div>
        </div>
        <div className="prob__chart">
          <UPlotChart options={options} data={data} optionsKey={`kl-${i18n.language}`} height={240} testId="kl-chart" />
        </div>
      </div>
      <div className="prob__pair">
        <Direction from="p" to="q" params={[m1, s1, m2, s2]} mc={pq} testId="kl-pq" />
        <Direction from="q" to="p" params={[m2, s2, m1, s1]} mc={qp} testId="kl-qp" />
      </div>
      <p className="muted small">{t("learn.probability.klNote")}</p>
    </article>
  );
}

export function Probability() {
  const { t } = useTranslation();
  const { hash } = useLocation();
  useEffect(() => {
    if (hash === "#probability") document.getElementById("probability")?.scrollIntoView?.({ block: "start" });
  }, [hash]);
  return (
    <section className="card learn-probability" id="probability">
      <h2>{t("learn.probability.title")}</h2>
      <p className="muted">{t("learn.probability.intro")}</p>
      <CoinBayes />
      <GaussianKl />
      <p>
        <Link to="/train?kind=lab.probability" data-testid="probability-run">
          {t("learn.probability.launch")}
        </Link>
      </p>
    </section>
  );
}
