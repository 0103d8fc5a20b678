/**
 * The kinds that take one building block apart — optimizers, regularization, convolution, the
 * SVD, Bayes' rule and KL divergence, a mixture density network, one diffusion generation — each
 * bound to its run's numbers.
 */
import { optimizerFormula } from "./classic";
import { isOptimizer, num, OPTIMIZERS, optimizerUpdate, text } from "./tex";
import type { Formula, KindMath, MathInput } from "./types";
import { listParam, metric, numParam, resultNum, series, strParam } from "./values";

const raw = String.raw;

/** The newest (step, value) of a key, or null. */
function newestOf(input: MathInput, key: string): { step: number; value: number } | null {
  const s = series(input, key);
  return s.length ? s[s.length - 1]! : null;
}

// --------------------------------------------------------------------------- optimizers

const SURFACES: Record<string, { f: string; grad: string }> = {
  quadratic: { f: raw`f(x, y) = \tfrac12\big(x^2 + \kappa y^2\big)`, grad: raw`\nabla f = (x,\ \kappa y)` },
  rosenbrock: {
    f: raw`f(x, y) = (1 - x)^2 + 100\,(y - x^2)^2`,
    grad: raw`\nabla f = \big(-2(1 - x) - 400x(y - x^2),\ 200(y - x^2)\big)`,
  },
  saddle: { f: raw`f(x, y) = \tfrac12 x^2 + \tfrac14 (y^2 - 1)^2`, grad: raw`\nabla f = \big(x,\ y(y^2 - 1)\big)` },
  noisy: {
    f: raw`f(x, y) = \frac{1}{2N}\sum_{i=1}^{N} (x u_i + y - t_i)^2`,
    grad: raw`g = \frac{1}{|B|}\sum_{i \in B} (x u_i + y - t_i)\,(u_i,\ 1)`,
  },
};

const optimizers: KindMath = {
  formulas(input) {
    const surface = strParam(input, "surface") ?? "quadratic";
    const kappa = numParam(input, "condition");
    const { f, grad } = SURFACES[surface] ?? SURFACES.quadratic!;
    const racers = (listParam(input, "optimizers") ?? [...OPTIMIZERS, "ftrl"]).filter((o): o is string => typeof o === "string");
    const overrides = (input.params.lr ?? {}) as Record<string, unknown>;
    const lrOf = (o: string) => (typeof overrides[o] === "number" ? (overrides[o] as number) : resultNum(input, `lr/${o}`));
    const x0 = numParam(input, "x0");
    const y0 = numParam(input, "y0");
    const out: Formula[] = [
      {
        id: "model",
        role: "model",
        tex: raw`w = (x, y),\qquad w_0 = ` + (x0 != null && y0 != null ? raw`(${num(x0)},\ ${num(y0)})` : raw`(x_0, y_0)`),
      },
      {
        id: `surface_${surface in SURFACES ? surface : "quadratic"}`,
        role: "loss",
        tex:
          raw`${f},\qquad ${grad}` +
          (surface === "quadratic" && kappa != null ? raw`,\qquad \kappa = ${num(kappa)},\ \ \eta_{\text{SGD}} < \frac{2}{\kappa} = ${num(2 / kappa)}` : ""),
      },
    ];
    const constants = { momentum: numParam(input, "momentum") ?? 0.9, weightDecay: numParam(input, "adamw_weight_decay") ?? 0.01 };
    for (const o of racers) {
      if (isOptimizer(o)) out.push({ id: `optimizer_${o}`, role: "update", tex: optimizerUpdate(o, lrOf(o), constants), note: `math.optimizer.${o}` });
    }
    if (racers.includes("ftrl")) {
      const beta = numParam(input, "ftrl_beta");
      const l1 = numParam(input, "ftrl_l1");
      const l2 = numParam(input, "ftrl_l2");
      const alpha = lrOf("ftrl");
      const values = [alpha != null ? raw`\alpha = ${num(alpha)}` : null, beta != null ? raw`\beta = ${num(beta)}` : null, l1 != null ? raw`\lambda_1 = ${num(l1)}` : null, l2 != null ? raw`\lambda_2 = ${num(l2)}` : null].filter(Boolean);
      out.push({
        id: "ftrl",
        role: "update",
        tex:
          raw`\sigma_i = \frac{\sqrt{n_i + g_i^2} - \sqrt{n_i}}{\alpha},\ \ z_i \leftarrow z_i + g_i - \sigma_i w_i,\ \ n_i \leftarrow n_i + g_i^2,\ \ ` +
          raw`w_i = \begin{cases} 0 & |z_i| \le \lambda_1 \\ -\dfrac{z_i - \operatorname{sgn}(z_i)\,\lambda_1}{(\beta + \sqrt{n_i})/\alpha + \lambda_2} & \text{else} \end{cases}` +
          (values.length ? raw`\qquad ${values.join(",\\ ")}` : ""),
      });
    }
    const rows = racers
      .map((o) => ({ o, x: metric(input, `x/${o}`), y: metric(input, `y/${o}`), f: metric(input, `loss/${o}`) }))
      .filter((r) => r.x != null && r.y != null && r.f != null)
      .map((r) => raw`${text(r.o)} &:\ w = (${num(r.x!)},\ ${num(r.y!)}),\ \ f(w) = ${num(r.f!)}`);
    if (rows.length) {
      const fastest = typeof input.result?.fastest === "string" ? input.result.fastest : null;
      const steps = fastest ? resultNum(input, `steps_to_tol/${fastest}`) : null;
      out.push({
        id: fastest && steps != null ? "racersFastest" : "racers",
        role: "live",
        tex: raw`\begin{aligned} ${rows.join(raw` \\ `)} \end{aligned}`,
        vars: { step: input.step ?? "–", fastest: fastest ?? "–", steps: steps ?? "–" },
      });
    }
    return out;
  },
};

// --------------------------------------------------------------------------- regularization

const regularization: KindMath = {
  formulas(input) {
    const parts = (listParam(input, "parts") ?? ["paths", "dropout", "early_stopping"]).filter((x): x is string => typeof x === "string");
    const r = numParam(input, "l1_ratio");
    const lo = numParam(input, "lambda_min");
    const hi = numParam(input, "lambda_max");
    const p = numParam(input, "dropout");
    const out: Formula[] = [];
    if (parts.includes("paths")) {
      out.push(
        { id: "loss", role: "loss", tex: raw`J(w) = \frac{1}{2n}\lVert Xw - y\rVert^2 + P(w)` + (lo != null && hi != null ? raw`,\qquad \lambda \in [${num(lo)},\ ${num(hi)}]` : "") },
        {
          id: "penalties",
          role: "model",
          tex:
            raw`P_{\text{lasso}} = \lambda\lVert w\rVert_1,\quad P_{\text{ridge}} = \frac{\lambda}{2}\lVert w\rVert^2,\quad P_{\text{enet}} = \lambda\Big(r\lVert w\rVert_1 + \frac{1-r}{2}\lVert w\rVert^2\Big)` +
            (r != null ? raw`,\ \ r = ${num(r)}` : ""),
        },
        { id: "ridge", role: "solution", tex: raw`w_{\text{ridge}} = (X^\top X + n\lambda I)^{-1} X^\top y` },
        {
          id: "lasso",
          role: "solution",
          tex: raw`w_j \leftarrow \frac{S_\lambda\big(\tfrac1n x_j^\top (y - X_{-j} w_{-j})\big)}{\tfrac1n \lVert x_j\rVert^2},\qquad S_\lambda(a) = \operatorname{sign}(a)\max(|a| - \lambda,\ 0)`,
        },
      );
    }
    if (parts.includes("dropout")) {
      out.push({
        id: "dropout",
        role: "model",
        tex: raw`\tilde h_{\text{train}} = \frac{\zeta \odot h}{1 - p},\ \ \zeta_j \sim \mathrm{Bernoulli}(1 - p);\qquad \tilde h_{\text{eval}} = h` + (p != null ? raw`,\qquad p = ${num(p)}` : ""),
      });
    }
    if (parts.includes("early_stopping") || parts.includes("dropout")) {
      out.push({ id: "netLoss", role: "loss", tex: raw`\mathcal{L} = \frac{1}{n}\sum_i \big(f(x_i) - y_i\big)^2` });
      out.push(optimizerFormula({ ...input, params: { ...input.params, optimizer: "adam" } }));
    }
    if (parts.includes("early_stopping")) {
      const patience = numParam(input, "patience");
      out.push({
        id: "earlyStopping",
        role: "update",
        tex: raw`e^* = \arg\min_{e}\ \mathcal{L}_{\text{val}}(e),\qquad e_{\text{stop}} = e^* + ${patience ?? raw`\text{patience}`}`,
      });
    }
    // live: the train/validation gap of both nets, the paths' best λ, the stopping epochs
    const gaps = (["plain", "dropout"] as const)
      .map((net) => ({ net, train: metric(input, `train/mse_${net}`), val: metric(input, `val/mse_${net}`) }))
      .filter((g) => g.train != null && g.val != null);
    if (gaps.length) {
      out.push({
        id: "gaps",
        role: "live",
        tex: raw`\mathcal{L}_{\text{val}} - \mathcal{L}_{\text{train}}:\quad ` + gaps.map((g) => raw`${text(g.net)}\ ${num(g.val!)} - ${num(g.train!)} = ${num(g.val! - g.train!)}`).join(raw`,\quad `),
        vars: { step: input.step ?? "–" },
      });
    }
    const trainMode = metric(input, "train/mse_dropout_train_mode");
    const evalMode = metric(input, "train/mse_dropout");
    if (trainMode != null && evalMode != null) {
      out.push({ id: "trainVsEval", role: "live", tex: raw`\mathcal{L}_{\text{train}}\big|_{\tilde h_{\text{train}}} = ${num(trainMode)}\quad \text{vs}\quad \mathcal{L}_{\text{train}}\big|_{\tilde h = h} = ${num(evalMode)}` });
    }
    const best = (["lasso", "ridge", "elasticnet"] as const)
      .map((name) => ({ name, lam: resultNum(input, `paths/best_lambda_${name}`), zeros: resultNum(input, `paths/zeros_at_best_${name}`) }))
      .filter((b) => b.lam != null);
    if (best.length) {
      out.push({
        id: "bestLambda",
        role: "live",
        tex: best.map((b) => raw`\lambda^*_{${text(b.name)}} = ${num(b.lam!)}` + (b.zeros != null ? raw`\ (\#\{w_j = 0\} = ${num(b.zeros)})` : "")).join(raw`,\quad `),
      });
    }
    const bestEpoch = resultNum(input, "early_stopping/best_epoch");
    const stopEpoch = resultNum(input, "early_stopping/stop_epoch");
    if (bestEpoch != null) {
      out.push({ id: "stopped", role: "live", tex: raw`e^* = ${bestEpoch}` + (stopEpoch != null ? raw`,\qquad e_{\text{stop}} = ${stopEpoch}` : "") });
    }
    return out;
  },
};

// --------------------------------------------------------------------------- convolution

/** ⌊(n + 2p − d(k−1) − 1)/s⌋ + 1 with the numbers in it. */
function convSize(n: number, k: number, s: number, p: number, d: number): string {
  const out = Math.floor((n + 2 * p - d * (k - 1) - 1) / s) + 1;
  return raw`\Big\lfloor \frac{${n} + 2 \cdot ${p} - ${d}(${k} - 1) - 1}{${s}} \Big\rfloor + 1 = ${out}`;
}

const convolution: KindMath = {
  formulas(input) {
    const n = numParam(input, "size");
    const k = numParam(input, "kernel_size");
    const s = numParam(input, "stride");
    const d = numParam(input, "dilation") ?? 1;
    const kernel = strParam(input, "kernel");
    const pad = k != null ? (strParam(input, "padding") === "same" ? (d * (k - 1)) / 2 : 0) : null;
    const q = numParam(input, "pool_size");
    const f = numParam(input, "upsample_factor");
    const out: Formula[] = [
      {
        id: "conv",
        role: "model",
        tex: raw`y_{i,j} = \sum_{u,v=0}^{k-1} K_{u,v}\; x_{si + du - p,\ sj + dv - p}` + (kernel ? raw`,\qquad K = ${text(kernel)}` : ""),
      },
      {
        id: "size",
        role: "solution",
        tex: raw`n_{\text{out}} = \Big\lfloor \frac{n + 2p - d(k-1) - 1}{s} \Big\rfloor + 1` + (n != null && k != null && s != null && pad != null ? raw`\ =\ ${convSize(n, k, s, pad, d)}` : ""),
      },
      {
        id: "pool",
        role: "model",
        tex: raw`\text{max: } y_{i,j} = \max_{u,v < q} x_{qi+u,\ qj+v},\quad \text{avg: } y_{i,j} = \frac{1}{q^2}\sum_{u,v < q} x_{qi+u,\ qj+v}` + (n != null && q != null ? raw`,\quad n_{\text{out}} = ${convSize(n, q, q, 0, 1)}` : ""),
      },
      {
        id: "transposed",
        role: "solution",
        tex: raw`n_{\text{out}} = (n - 1)s - 2p + d(k - 1) + \mathrm{op} + 1;\qquad \text{nearest, bilinear, bicubic: } n_{\text{out}} = \lfloor n f \rfloor` + (f != null ? raw`,\ f = ${f}` : ""),
      },
    ];
    const sizeConv = resultNum(input, "size/conv");
    if (sizeConv != null) out.push({ id: "torchSize", role: "live", tex: raw`n_{\text{out}}^{\text{torch}} = ${sizeConv}` + (resultNum(input, "size/pool") != null ? raw`,\qquad n_{\text{pool}}^{\text{torch}} = ${resultNum(input, "size/pool")}` : "") });
    const nLow = resultNum(input, "size/low_res");
    const kt = resultNum(input, "transposed/kernel_size");
    const tp = resultNum(input, "transposed/padding");
    const op = resultNum(input, "transposed/output_padding");
    if (nLow != null && kt != null && tp != null && op != null && f != null) {
      const size = (nLow - 1) * f - 2 * tp + (kt - 1) + op + 1;
      const lo = resultNum(input, "transposed/taps_min");
      const hi = resultNum(input, "transposed/taps_max");
      out.push({
        id: "transposedLive",
        role: "live",
        tex:
          raw`(${nLow} - 1) \cdot ${f} - 2 \cdot ${tp} + (${kt} - 1) + ${op} + 1 = ${size}` +
          (lo != null && hi != null ? raw`,\qquad \#\text{taps} \in [${lo},\ ${hi}]` : ""),
      });
    }
    const modes = ["nearest", "bilinear", "bicubic", "transposed"].map((m) => ({ m, db: resultNum(input, `psnr_db/${m}`) })).filter((x) => x.db != null);
    if (modes.length) {
      out.push({
        id: "psnr",
        role: "live",
        tex: raw`\mathrm{PSNR} = 10\log_{10}\frac{1}{\mathrm{MSE}}:\quad ` + modes.map((x) => raw`${text(x.m)}\ ${num(x.db!)}\,\mathrm{dB}`).join(raw`,\ \ `),
      });
    }
    return out;
  },
};

// --------------------------------------------------------------------------- SVD

const svd: KindMath = {
  formulas(input) {
    const size = numParam(input, "size");
    const out: Formula[] = [
      { id: "model", role: "model", tex: raw`A = U\Sigma V^\top = \sum_{i=1}^{r} \sigma_i\, u_i v_i^\top,\qquad A_k = \sum_{i=1}^{k} \sigma_i\, u_i v_i^\top,\quad \sigma_1 \ge \sigma_2 \ge \dots \ge 0` },
      {
        id: "loss",
        role: "loss",
        tex: raw`\min_{\operatorname{rank} B \le k} \lVert A - B\rVert_F = \lVert A - A_k\rVert_F = \sqrt{\sum_{i > k} \sigma_i^2}`,
      },
      {
        id: "storage",
        role: "solution",
        tex: raw`\frac{k(m + n + 1)}{mn},\qquad \frac{\lVert A - A_k\rVert_F}{\lVert A\rVert_F} = \sqrt{\frac{\sum_{i > k} \sigma_i^2}{\sum_i \sigma_i^2}}` + (size != null ? raw`,\qquad m = n = ${size}` : ""),
      },
    ];
    const rel = newestOf(input, "relative_error");
    if (rel) {
      const k = rel.step;
      const ey = metric(input, "eckart_young_error");
      const ratio = metric(input, "compression_ratio");
      const energy = metric(input, "energy");
      const psnr = metric(input, "psnr_db");
      out.push({
        id: "rank",
        role: "live",
        tex:
          raw`k = ${k}:\ \ \frac{\lVert A - A_k\rVert_F}{\lVert A\rVert_F} = ${num(rel.value)}` +
          (ey != null ? raw`\ \ (\text{Eckart–Young: } ${num(ey)})` : "") +
          (ratio != null ? (size != null ? raw`,\ \ \frac{${k}(${size} + ${size} + 1)}{${size}^2} = ${num(ratio)}` : raw`,\ \ \frac{k(m + n + 1)}{mn} = ${num(ratio)}`) : "") +
          (energy != null ? raw`,\ \ \frac{\sum_{i \le k}\sigma_i^2}{\sum_i \sigma_i^2} = ${num(energy)}` : "") +
          (psnr != null ? raw`,\ \ \mathrm{PSNR} = ${num(psnr)}\,\mathrm{dB}` : ""),
      });
    }
    return out;
  },
};

// --------------------------------------------------------------------------- MDN

const mdn: KindMath = {
  formulas(input) {
    const K = numParam(input, "n_components");
    const out: Formula[] = [
      { id: "data", role: "model", tex: raw`y \sim \mathcal{U}(0, 1),\qquad x = y + 0.3\sin(2\pi y) + \epsilon` },
      {
        id: "model",
        role: "model",
        tex:
          raw`p(y \mid x) = \sum_{k=1}^{${K ?? "K"}} \pi_k(x)\, \mathcal{N}\big(y;\ \mu_k(x),\ \sigma_k(x)^2\big),\qquad \pi = \operatorname{softmax}(a^{\pi}),\ \ \sigma = \exp(a^{\sigma})`,
      },
      {
        id: "loss",
        role: "loss",
        tex: raw`\mathrm{NLL} = -\frac{1}{n}\sum_i \log \sum_k \pi_k(x_i)\, \mathcal{N}\big(y_i;\ \mu_k(x_i),\ \sigma_k(x_i)^2\big)`,
      },
      {
        id: "baseline",
        role: "loss",
        tex: raw`\min_f \frac{1}{n}\sum_i \big(f(x_i) - y_i\big)^2\ \Rightarrow\ f(x) = \mathbb{E}[y \mid x],\qquad \mathrm{NLL}_f = -\frac1n\sum_i \log \mathcal{N}\big(y_i;\ f(x_i),\ s^2\big)`,
      },
      optimizerFormula({ ...input, params: { ...input.params, optimizer: "adam" } }),
    ];
    const train = metric(input, "train/nll");
    const val = metric(input, "val/nll");
    const base = metric(input, "baseline/val_nll");
    if (val != null) {
      out.push({
        id: "nll",
        role: "live",
        tex:
          (train != null ? raw`\mathrm{NLL}_{\text{train}} = ${num(train)},\ \ ` : "") +
          raw`\mathrm{NLL}_{\text{val}} = ${num(val)}` +
          (base != null ? raw`\quad \text{vs}\quad \mathrm{NLL}_{f,\text{val}} = ${num(base)}` : ""),
        vars: { step: input.step ?? "–" },
      });
    }
    const used = resultNum(input, "components_used");
    if (used != null) out.push({ id: "used", role: "live", tex: raw`\#\{k : \bar\pi_k > 0.05\} = ${used}` + (K != null ? raw`\ /\ ${K}` : "") });
    return out;
  },
};

// --------------------------------------------------------------------------- probability

type ProbabilityPart = "bayes_coin" | "bayes_gaussian" | "kl" | "elbo";
const PROBABILITY_PARTS: readonly ProbabilityPart[] = ["bayes_coin", "bayes_gaussian", "kl", "elbo"];

/** The parts a lab.probability run computes: its `part`, or all of them. */
function probabilityParts(input: MathInput): readonly ProbabilityPart[] {
  const part = strParam(input, "part");
  const one = PROBABILITY_PARTS.find((p) => p === part);
  return one ? [one] : PROBABILITY_PARTS;
}

/** x², with the number in parentheses when it is negative or a power of ten. */
function squared(x: number): string {
  const s = num(x);
  return x < 0 || s.includes("^") ? raw`(${s})^2` : raw`${s}^2`;
}

/** A number as the next factor or term: in parentheses when negative. */
function operand(x: number): string {
  return x < 0 ? raw`(${num(x)})` : num(x);
}

/** The central credible interval: P(lo ≤ θ ≤ hi | x) = mass. */
function credibleInterval(symbol: string, lo: number, hi: number, mass: number | null): string {
  return raw`P\big(${num(lo)} \le ${symbol} \le ${num(hi)} \mid x\big)` + (mass != null ? raw` = ${num(mass)}` : "");
}

function coinFormulas(input: MathInput): Formula[] {
  const a = numParam(input, "prior_a");
  const b = numParam(input, "prior_b");
  const out: Formula[] = [
    {
      id: "coinModel",
      role: "model",
      tex:
        raw`x_i \sim \mathrm{Bernoulli}(\theta),\quad p(\theta) = \mathrm{Beta}(\theta;\ a, b) \propto \theta^{a-1}(1-\theta)^{b-1},\quad p(x \mid \theta) = \theta^{h}(1-\theta)^{n-h}` +
        (a != null && b != null ? raw`,\qquad a = ${num(a)},\ b = ${num(b)}` : ""),
    },
    {
      id: "coinPosterior",
      role: "solution",
      tex:
        raw`p(\theta \mid x) \propto \theta^{a+h-1}(1-\theta)^{b+n-h-1} = \mathrm{Beta}(a + h,\ b + n - h),\quad ` +
        raw`\mathbb{E}[\theta \mid x] = \frac{a + h}{a + b + n},\quad \hat\theta_{\text{MAP}} = \frac{a + h - 1}{a + b + n - 2},\quad \hat\theta_{\text{MLE}} = \frac{h}{n}`,
    },
  ];
  const mean = newestOf(input, "coin/posterior_mean");
  if (!mean || a == null || b == null) return out;
  const n = mean.step;
  const mle = metric(input, "coin/mle");
  // h from the MLE h/n reported with the same flip (none before the first flip)
  const h = n === 0 ? 0 : mle != null ? Math.round(mle * n) : null;
  if (h == null) return out;
  const lo = metric(input, "coin/ci_low");
  const hi = metric(input, "coin/ci_high");
  const map = metric(input, "coin/map");
  const truth = metric(input, "coin/true_p");
  out.push({
    id: "coinLive",
    role: "live",
    tex:
      raw`\mathrm{Beta}(${num(a)} + ${h},\ ${num(b)} + ${n} - ${h}) = \mathrm{Beta}(${num(a + h)},\ ${num(b + n - h)}),\quad ` +
      raw`\mathbb{E}[\theta \mid x] = \frac{${num(a + h)}}{${num(a + b + n)}} = ${num(mean.value)}` +
      (lo != null && hi != null ? raw`,\quad ${credibleInterval(raw`\theta`, lo, hi, numParam(input, "credible_mass"))}` : "") +
      (map != null ? raw`,\quad \hat\theta_{\text{MAP}} = ${num(map)}` : "") +
      (mle != null ? raw`,\ \hat\theta_{\text{MLE}} = ${num(mle)}` : "") +
      (truth != null ? raw`,\ \theta_{\text{true}} = ${num(truth)}` : ""),
    vars: { n, h },
  });
  return out;
}

function gaussianFormulas(input: MathInput): Formula[] {
  const mu0 = numParam(input, "prior_mean");
  const tau0 = numParam(input, "prior_std");
  const sigma = numParam(input, "noise_std");
  const known = mu0 != null && tau0 != null && sigma != null;
  const out: Formula[] = [
    {
      id: "gaussModel",
      role: "model",
      tex:
        raw`x_i \sim \mathcal{N}(\mu, \sigma^2)\ \ (\sigma\ \text{known}),\qquad \mu \sim \mathcal{N}(\mu_0, \tau_0^2)` +
        (known ? raw`,\qquad \mu_0 = ${num(mu0)},\ \tau_0 = ${num(tau0)},\ \sigma = ${num(sigma)}` : ""),
    },
    {
      id: "gaussPosterior",
      role: "solution",
      tex:
        raw`\frac{1}{\tau_n^2} = \frac{1}{\tau_0^2} + \frac{n}{\sigma^2},\qquad \mu_n = \tau_n^2\Big(\frac{\mu_0}{\tau_0^2} + \frac{\sum_i x_i}{\sigma^2}\Big) = ` +
        raw`\frac{\tau_n^2}{\tau_0^2}\,\mu_0 + \Big(1 - \frac{\tau_n^2}{\tau_0^2}\Big)\,\bar x`,
    },
  ];
  const mean = newestOf(input, "gaussian/posterior_mean");
  const std = metric(input, "gaussian/posterior_std");
  if (!mean || std == null || !known) return out;
  const n = mean.step;
  const precision = 1 / tau0 ** 2 + n / sigma ** 2;
  const w = 1 / tau0 ** 2 / precision; // τ_n²/τ₀², the prior mean's weight
  const xbar = metric(input, "gaussian/mle");
  const lo = metric(input, "gaussian/ci_low");
  const hi = metric(input, "gaussian/ci_high");
  const truth = metric(input, "gaussian/true_mean");
  out.push({
    id: "gaussLive",
    role: "live",
    tex:
      raw`\frac{1}{\tau_n^2} = \frac{1}{${squared(tau0)}} + \frac{${n}}{${squared(sigma)}} = ${num(precision)}\ \Rightarrow\ \tau_n = ${num(std)},\quad ` +
      (n > 0 && xbar != null ? raw`\mu_n = ${num(w)} \cdot ${operand(mu0)} + ${num(1 - w)} \cdot ${operand(xbar)} = ${num(mean.value)}` : raw`\mu_n = ${num(mean.value)}`) +
      (lo != null && hi != null ? raw`,\quad ${credibleInterval(raw`\mu`, lo, hi, numParam(input, "credible_mass"))}` : "") +
      (truth != null ? raw`,\ \mu_{\text{true}} = ${num(truth)}` : ""),
    vars: { n },
  });
  return out;
}

/** log(σ₂/σ₁) + (σ₁² + (μ₁ − μ₂)²)/(2σ₂²) − ½ with the numbers in it. */
function klClosedForm(m1: number, s1: number, m2: number, s2: number): string {
  return raw`\log\frac{${num(s2)}}{${num(s1)}} + \frac{${squared(s1)} + (${num(m1)} - ${operand(m2)})^2}{2 \cdot ${squared(s2)}} - \frac12`;
}

function klFormulas(input: MathInput): Formula[] {
  const m1 = numParam(input, "p_mean");
  const s1 = numParam(input, "p_std");
  const m2 = numParam(input, "q_mean");
  const s2 = numParam(input, "q_std");
  const known = m1 != null && s1 != null && m2 != null && s2 != null;
  const out: Formula[] = [
    {
      id: "klDef",
      role: "model",
      tex:
        raw`\mathrm{KL}(p \,\Vert\, q) = \mathbb{E}_{x \sim p}\big[\log p(x) - \log q(x)\big] \ge 0,\qquad ` +
        (known ? raw`p = \mathcal{N}(${num(m1)},\ ${squared(s1)}),\ \ q = \mathcal{N}(${num(m2)},\ ${squared(s2)})` : raw`p = \mathcal{N}(\mu_1, \sigma_1^2),\ \ q = \mathcal{N}(\mu_2, \sigma_2^2)`),
    },
    {
      id: "klClosed",
      role: "solution",
      tex: raw`\mathrm{KL}(p \,\Vert\, q) = \log\frac{\sigma_2}{\sigma_1} + \frac{\sigma_1^2 + (\mu_1 - \mu_2)^2}{2\sigma_2^2} - \frac12`,
    },
    {
      id: "klMc",
      role: "solution",
      tex: raw`\widehat{\mathrm{KL}}_n = \frac1n \sum_{i=1}^{n} \log\frac{p(x_i)}{q(x_i)},\ \ x_i \sim p,\qquad \mathrm{SE} = \frac{s}{\sqrt n}`,
    },
  ];
  const mc = newestOf(input, "kl/p_q/monte_carlo");
  const closed = metric(input, "kl/p_q/closed_form");
  const se = metric(input, "kl/p_q/std_error");
  if (!mc || closed == null || se == null) return out;
  const rows = [raw`\mathrm{KL}(p \,\Vert\, q) &= ${known ? `${klClosedForm(m1, s1, m2, s2)} = ` : ""}${num(closed)}, & \widehat{\mathrm{KL}}_{${mc.step}} &= ${num(mc.value)} \pm ${num(se)}`];
  const back = metric(input, "kl/q_p/closed_form");
  const backMc = metric(input, "kl/q_p/monte_carlo");
  const backSe = metric(input, "kl/q_p/std_error");
  if (back != null && backMc != null && backSe != null) {
    rows.push(raw`\mathrm{KL}(q \,\Vert\, p) &= ${known ? `${klClosedForm(m2, s2, m1, s1)} = ` : ""}${num(back)}, & \widehat{\mathrm{KL}}_{${mc.step}} &= ${num(backMc)} \pm ${num(backSe)}`);
  }
  out.push({ id: "klLive", role: "live", tex: raw`\begin{aligned} ${rows.join(raw` \\ `)} \end{aligned}`, vars: { n: mc.step } });
  return out;
}

function elboFormulas(input: MathInput): Formula[] {
  const out: Formula[] = [
    {
      id: "elboQ",
      role: "model",
      tex: raw`q(\mu) = \mathcal{N}(m, s^2),\qquad \mathbb{E}_q\big[\log p(x \mid \mu)\big] = -\frac{n}{2}\log(2\pi\sigma^2) - \sum_{i=1}^{n} \frac{(x_i - m)^2 + s^2}{2\sigma^2}`,
    },
    {
      id: "elbo",
      role: "loss",
      tex: raw`\max_q\ \mathrm{ELBO}(q) = \underbrace{\mathbb{E}_q\big[\log p(x \mid \mu)\big]}_{\text{reconstruction}} - \underbrace{\mathrm{KL}\big(q(\mu) \,\Vert\, p(\mu)\big)}_{\text{KL to the prior}}`,
    },
    {
      id: "elboIdentity",
      role: "solution",
      tex: raw`\log p(x) = \mathrm{ELBO}(q) + \mathrm{KL}\big(q(\mu) \,\Vert\, p(\mu \mid x)\big)\ \ \Rightarrow\ \ \mathrm{ELBO}(q) \le \log p(x),\ \text{with equality iff}\ q(\mu) = p(\mu \mid x)`,
    },
  ];
  const evidence = resultNum(input, "elbo_log_evidence");
  const elbo = resultNum(input, "elbo_at_posterior");
  const recon = resultNum(input, "elbo_reconstruction_at_posterior");
  const klPrior = resultNum(input, "elbo_kl_prior_at_posterior");
  if (evidence == null || elbo == null || recon == null || klPrior == null) return out;
  const gap = evidence - elbo; // KL(q ‖ p(μ|x)): zero at the posterior, up to rounding
  const m = resultNum(input, "gaussian_posterior_mean");
  const s = resultNum(input, "gaussian_posterior_std");
  out.push({
    id: "elboLive",
    role: "live",
    tex:
      (m != null && s != null ? raw`q = \mathcal{N}(${num(m)},\ ${squared(s)}):\quad ` : raw`q = p(\mu \mid x):\quad `) +
      raw`\underbrace{${num(evidence)}}_{\log p(x)} = \underbrace{${num(recon)}}_{\mathbb{E}_q[\log p(x \mid \mu)]} - \underbrace{${num(klPrior)}}_{\mathrm{KL}(q \Vert p(\mu))} + \underbrace{${Math.abs(gap) < 1e-9 * Math.max(1, Math.abs(evidence)) ? "0" : num(gap)}}_{\mathrm{KL}(q \Vert p(\mu \mid x))},\qquad \mathrm{ELBO} = ${num(elbo)}`,
  });
  return out;
}

const PROBABILITY_FORMULAS: Record<ProbabilityPart, (input: MathInput) => Formula[]> = {
  bayes_coin: coinFormulas,
  bayes_gaussian: gaussianFormulas,
  kl: klFormulas,
  elbo: elboFormulas,
};

const probability: KindMath = {
  formulas: (input) => probabilityParts(input).flatMap((part) => PROBABILITY_FORMULAS[part](input)),
};

// --------------------------------------------------------------------------- diffusion internals

const diffusionInternals: KindMath = {
  concepts: ["pipeline", "forward", "loss"],
  formulas(input) {
    const w = numParam(input, "guidance_scale");
    const sampler = strParam(input, "sampler");
    const out: Formula[] = [
      { id: "forward", role: "model", tex: raw`x_t = \sqrt{\bar\alpha_t}\, x_0 + \sqrt{1 - \bar\alpha_t}\, \epsilon` },
      {
        id: "cfg",
        role: "model",
        tex: raw`\tilde\epsilon = \epsilon_\theta(x_t, t, \varnothing) + w\,\big(\epsilon_\theta(x_t, t, c) - \epsilon_\theta(x_t, t, \varnothing)\big)` + (w != null ? raw`,\qquad w = ${num(w)}` : ""),
      },
      { id: "x0", role: "model", tex: raw`\hat x_0 = \frac{x_t - \sqrt{1 - \bar\alpha_t}\, \tilde\epsilon}{\sqrt{\bar\alpha_t}}` },
      {
        id: "reverse",
        role: "update",
        tex: raw`x_{\text{prev}} = a\, \hat x_0 + b\, \tilde\epsilon + \sigma z,\ \ z \sim \mathcal{N}(0, I)` + (sampler ? raw`\qquad (${text(sampler)})` : ""),
      },
      { id: "ddim", role: "update", tex: raw`\text{DDIM: } a = \sqrt{\bar\alpha_{\text{prev}}},\ \ b = \sqrt{1 - \bar\alpha_{\text{prev}} - \sigma^2}` },
    ];
    const a = newestOf(input, "reverse/coef_x0");
    const b = metric(input, "reverse/coef_eps");
    const sigma = metric(input, "reverse/sigma");
    const abar = metric(input, "reverse/alpha_bar");
    if (a && b != null && sigma != null) {
      const ddpmA = metric(input, "reverse/ddpm_coef_x0");
      const ddpmB = metric(input, "reverse/ddpm_coef_eps");
      const ddpmS = metric(input, "reverse/ddpm_sigma");
      out.push({
        id: "reverseLive",
        role: "live",
        tex:
          (abar != null ? raw`\bar\alpha_t = ${num(abar)}:\ \ ` : "") +
          raw`x_{\text{prev}} = ${num(a.value)}\, \hat x_0 + ${num(b)}\, \tilde\epsilon + ${num(sigma)}\, z` +
          (ddpmA != null && ddpmB != null && ddpmS != null ? raw`\qquad \text{DDPM: } ${num(ddpmA)},\ ${num(ddpmB)},\ ${num(ddpmS)}` : ""),
        vars: { step: a.step },
      });
    }
    const shift = newestOf(input, "cfg/x0_shift_per_w");
    const diff = metric(input, "cfg/eps_diff_rms");
    const cosine = metric(input, "cfg/cosine");
    if (shift && diff != null) {
      out.push({
        id: "guidanceLive",
        role: "live",
        tex:
          raw`\mathrm{rms}\,\frac{\partial \hat x_0}{\partial w} = \sqrt{\frac{1 - \bar\alpha_t}{\bar\alpha_t}}\ \mathrm{rms}\big(\epsilon(c) - \epsilon(\varnothing)\big) = ${num(shift.value)}` +
          raw`,\qquad \mathrm{rms}\big(\epsilon(c) - \epsilon(\varnothing)\big) = ${num(diff)}` +
          (cosine != null ? raw`,\ \ \cos\big(\epsilon(\varnothing), \epsilon(c)\big) = ${num(cosine)}` : ""),
        vars: { step: shift.step },
      });
    }
    const pixels = metric(input, "latent/pixel_values");
    const latents = metric(input, "latent/latent_values");
    if (pixels != null && latents != null) {
      out.push({ id: "latent", role: "live", tex: raw`\frac{3HW}{C\,h\,w} = \frac{${pixels}}{${latents}} = ${num(pixels / latents)}` });
    }
    return out;
  },
};

export const BLOCKS: Record<string, KindMath> = {
  "lab.optimizers": optimizers,
  "lab.regularization": regularization,
  "lab.convolution": convolution,
  "lab.svd": svd,
  "lab.mdn": mdn,
  "lab.probability": probability,
  "lab.diffusion_internals": diffusionInternals,
};
