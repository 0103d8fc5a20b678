/**
 * TeX pieces every kind's formulas share, so that one symbol means one thing across the lab:
 *
 *   x input, φ(x) its features, y a target or class, ŷ a prediction, t ∈ {−1, +1} a signed label
 *   w, b (W, b) weights and bias, θ all parameters, η the learning rate, λ the penalty strength,
 *   r the L1 share of the elastic net, m the examples of a batch, n of the training set,
 *   𝓛 the loss a gradient step lowers, J the objective of a classic method, z a code or map point.
 *
 * Numbers from a run go through `num`, so TeX never sees "1e-5" or "NaN".
 */

/** A number as TeX: 3 significant digits, powers of ten outside [0.001, 100000). */
export function num(x: number, digits = 3): string {
  if (Number.isNaN(x)) return String.raw`\mathrm{NaN}`;
  if (!Number.isFinite(x)) return x > 0 ? String.raw`\infty` : String.raw`-\infty`;
  if (x === 0) return "0";
  const a = Math.abs(x);
  if (a >= 1e-3 && a < 1e5) return String(Number(x.toPrecision(digits)));
  const [mantissa, exponent] = x.toExponential(digits - 1).split("e");
  return `${Number(mantissa)}\\times10^{${Number(exponent)}}`;
}

/** "+ 1.5" or "- 1.5": the next term of a sum. */
export function signed(x: number): string {
  return x < 0 ? `- ${num(-x)}` : `+ ${num(x)}`;
}

const TEXT_ESCAPES: Record<string, string> = {
  "\\": String.raw`\textbackslash{}`,
  "{": String.raw`\{`,
  "}": String.raw`\}`,
  _: String.raw`\_`,
  $: String.raw`\$`,
  "&": String.raw`\&`,
  "#": String.raw`\#`,
  "%": String.raw`\%`,
  "^": String.raw`\textasciicircum{}`,
  "~": String.raw`\textasciitilde{}`,
};

/** A short string (a parameter's value, a token) as upright text inside TeX, escaped. */
export function text(s: string): string {
  return `\\text{${s.replace(/[\\{}_$&#%^~]/g, (c) => TEXT_ESCAPES[c] ?? c)}}`;
}

/** (0.1, 0.2, …) with at most `most` entries shown. */
export function vector(values: readonly number[], most = 6): string {
  const shown = values.slice(0, most).map((v) => num(v));
  if (values.length > most) shown.push(String.raw`\dots`);
  return `(${shown.join(",\\ ")})`;
}

/**
 * c₀ + c₁·term₁ + c₂·term₂ … written with the run's numbers: "0.52 + 1.97\,x - 0.3\,x^{2}".
 * Terms after the first `most` are elided.
 */
export function affine(intercept: number | null, coefs: readonly number[], terms: readonly string[], most = 4): string {
  const parts: string[] = [];
  coefs.slice(0, most).forEach((c, i) => {
    const term = `${num(Math.abs(c))}\\,${terms[i] ?? `x_{${i + 1}}`}`;
    parts.push(parts.length === 0 ? (c < 0 ? `-${term}` : term) : `${c < 0 ? "-" : "+"} ${term}`);
  });
  if (coefs.length > most) parts.push(String.raw`+ \cdots`);
  if (intercept != null) parts.push(parts.length === 0 ? num(intercept) : signed(intercept));
  return parts.join(" ");
}

export type OptimizerName = "sgd" | "momentum" | "nesterov" | "adagrad" | "rmsprop" | "adadelta" | "adam" | "adamw";
export const OPTIMIZERS: readonly OptimizerName[] = ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adadelta", "adam", "adamw"];

export function isOptimizer(v: unknown): v is OptimizerName {
  return typeof v === "string" && (OPTIMIZERS as readonly string[]).includes(v);
}

export interface OptimizerConstants {
  /** Adam's β₁ (the GAN trains with 0.5) */
  beta1?: number;
  /** momentum and nesterov's μ */
  momentum?: number;
  /** AdamW's decoupled weight decay */
  weightDecay?: number;
}

/**
 * The update torch.optim makes for `name` (difflab.lab.nn.make_optimizer), with g = ∇θ𝓛 of the
 * batch and the constants torch uses there: momentum 0.9, RMSprop α = 0.99, Adadelta ρ = 0.9,
 * Adam β₂ = 0.999 and β₁ = 0.9, AdamW's decoupled weight decay 0.01 (unless given).
 */
export function optimizerUpdate(name: OptimizerName, lr: number | null, constants: OptimizerConstants = {}): string {
  const { beta1 = 0.9, momentum = 0.9, weightDecay = 0.01 } = constants;
  const eta = lr == null ? "" : String.raw`\qquad \eta = ${num(lr)}`;
  const mu = String.raw`\qquad \mu = ${num(momentum)}`;
  const adamMoments = String.raw`m \leftarrow \beta_1 m + (1-\beta_1)\,g,\ \ v \leftarrow \beta_2 v + (1-\beta_2)\,g^2,\ \ \hat m = \frac{m}{1-\beta_1^k},\ \hat v = \frac{v}{1-\beta_2^k}`;
  const betas = String.raw`\qquad \beta_1 = ${num(beta1)},\ \beta_2 = 0.999`;
  switch (name) {
    case "sgd":
      return String.raw`\theta \leftarrow \theta - \eta\,g,\qquad g = \nabla_\theta \mathcal{L}` + eta;
    case "momentum":
      return String.raw`v \leftarrow \mu v + g,\qquad \theta \leftarrow \theta - \eta\,v` + mu + eta;
    case "nesterov":
      return String.raw`v \leftarrow \mu v + g,\qquad \theta \leftarrow \theta - \eta\,(g + \mu v)` + mu + eta;
    case "adagrad":
      return String.raw`G \leftarrow G + g^2,\qquad \theta \leftarrow \theta - \eta\,\frac{g}{\sqrt{G} + \epsilon}` + eta;
    case "rmsprop":
      return String.raw`s \leftarrow \alpha s + (1-\alpha)\,g^2,\qquad \theta \leftarrow \theta - \eta\,\frac{g}{\sqrt{s} + \epsilon},\qquad \alpha = 0.99` + eta;
    case "adadelta":
      return String.raw`s \leftarrow \rho s + (1-\rho)\,g^2,\ \ \Delta = -\frac{\sqrt{u + \epsilon}}{\sqrt{s + \epsilon}}\,g,\ \ u \leftarrow \rho u + (1-\rho)\,\Delta^2,\ \ \theta \leftarrow \theta + \eta\,\Delta,\qquad \rho = 0.9` + eta;
    case "adam":
      return String.raw`${adamMoments},\ \ \theta \leftarrow \theta - \eta\,\frac{\hat m}{\sqrt{\hat v} + \epsilon}` + betas + eta;
    case "adamw":
      return (
        String.raw`${adamMoments},\ \ \theta \leftarrow \theta - \eta\Big(\frac{\hat m}{\sqrt{\hat v} + \epsilon} + \lambda_{\text{wd}}\,\theta\Big)` +
        betas +
        String.raw`,\ \lambda_{\text{wd}} = ${num(weightDecay)}` +
        eta
      );
  }
}

export type PenaltyName = "none" | "l1" | "l2" | "elasticnet";

/**
 * The penalty term added to the loss, over the weights only (never biases), as
 * difflab.lab.nn.penalty_term writes it; null without one. `w` names the weights.
 */
export function penaltyTerm(penalty: unknown, strength: unknown, l1Ratio: unknown, w = "w"): string | null {
  const lam = typeof strength === "number" ? strength : null;
  if (penalty !== "l1" && penalty !== "l2" && penalty !== "elasticnet") return null;
  if (lam === 0) return null;
  const values = lam == null ? "" : String.raw`,\ \ \lambda = ${num(lam)}`;
  if (penalty === "l1") return String.raw`\lambda \textstyle\sum |${w}|` + values;
  if (penalty === "l2") return String.raw`\frac{\lambda}{2} \textstyle\sum ${w}^2` + values;
  const r = typeof l1Ratio === "number" ? String.raw`,\ r = ${num(l1Ratio)}` : "";
  return String.raw`\lambda\big(r \textstyle\sum |${w}| + \frac{1-r}{2} \sum ${w}^2\big)` + values + r;
}
