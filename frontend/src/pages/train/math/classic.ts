/**
 * The classic lab kinds' formulas (backend/difflab/lab/*.py), each bound to the numbers its
 * run reports. Metric keys under `param/` and `mistake/` are read where a run reports them
 * (the model's current weights, the perceptron's last mistake); without them the formula is
 * shown with the final values from the result, or without numbers.
 */
import { affine, isOptimizer, num, type OptimizerConstants, optimizerUpdate, penaltyTerm, signed, text, vector } from "./tex";
import type { Formula, KindMath, MathInput } from "./types";
import { indexed, listParam, metric, numParam, resultNum, resultNums, series, strParam } from "./values";

const raw = String.raw;

/** Feature symbols for the fitted coefficients: x, x², … for a polynomial basis, else x_j;
 * with a tilde when the inputs were scaled (then the coefficients are for the scaled inputs). */
export function featureTerms(count: number, degree: number, scaled: boolean): string[] {
  if (degree > 1) {
    return Array.from({ length: count }, (_, i) => {
      const power = i === 0 ? "x" : `x^{${i + 1}}`;
      return scaled ? (i === 0 ? raw`\tilde{x}` : raw`\widetilde{${power}}`) : power;
    });
  }
  if (count === 1) return [scaled ? raw`\tilde{x}` : "x"];
  return Array.from({ length: count }, (_, i) => (scaled ? raw`\tilde{x}_{${i + 1}}` : `x_{${i + 1}}`));
}

const scaledInputs = (input: MathInput) => strParam(input, "scaling") !== "none";

/** The torch.optim update of a gradient-trained kind, with its η. */
export function optimizerFormula(input: MathInput, constants: OptimizerConstants = {}): Formula {
  const name = strParam(input, "optimizer");
  const opt = isOptimizer(name) ? name : "sgd";
  return { id: `optimizer_${opt}`, role: "update", tex: optimizerUpdate(opt, numParam(input, "lr"), constants), note: `math.optimizer.${opt}` };
}

/** " + penalty" for a loss, with λ (and r) from the run. */
export function plusPenalty(input: MathInput, w = "w"): string {
  const term = penaltyTerm(input.params.penalty, input.params.penalty_strength, input.params.l1_ratio, w);
  return term ? ` + ${term}` : "";
}

// --------------------------------------------------------------------------- regression

const linearRegression: KindMath = {
  formulas(input) {
    const degree = numParam(input, "degree") ?? 1;
    const basis = degree > 1 ? raw`(x, x^2, \dots, x^{${degree}})` : "x";
    const methods = (listParam(input, "methods") ?? ["normal", "batch", "stochastic", "minibatch"]).filter(
      (m): m is string => typeof m === "string",
    );
    const penalty = strParam(input, "penalty");
    const lam = numParam(input, "penalty_strength") ?? 0;
    const pen = penaltyTerm(penalty, lam, input.params.l1_ratio);
    const out: Formula[] = [
      { id: "model", role: "model", tex: raw`\hat y = \theta_0 + w^\top \varphi(x),\qquad \varphi(x) = ${basis}` },
      {
        id: "loss",
        role: "loss",
        tex:
          raw`J(\theta) = \frac{1}{2n}\,\lVert A\theta - y\rVert^2` +
          (pen ? raw` + P(w),\quad P(w) = ${pen}` : "") +
          raw`,\qquad A = [\,\mathbf{1}\ \ \varphi(X)\,]`,
      },
    ];
    if (methods.includes("normal")) {
      const closed = penalty === "l2" && lam > 0 ? raw`(A^\top A + n\lambda D)\,\theta = A^\top y,\quad D = \operatorname{diag}(0, 1, \dots, 1),\ \ \lambda = ${num(lam)}` : raw`A^\top A\,\theta = A^\top y`;
      out.push({ id: "normal", role: "solution", tex: closed });
    }
    const gd = methods.filter((m) => m !== "normal");
    if (gd.length) {
      const lr = numParam(input, "lr");
      const batch = numParam(input, "batch_size");
      out.push({
        id: "update",
        role: "update",
        tex:
          raw`\theta \leftarrow \theta - \eta\,\nabla J,\qquad \nabla J = \frac{1}{|B|} A_B^\top (A_B\theta - y_B)` +
          (pen ? raw` + \big(0,\ \nabla_w P\big)` : "") +
          (lr != null ? raw`,\qquad \eta = ${num(lr)}` : ""),
        vars: { batch: batch ?? "–" },
      });
    }
    // live: each method's mean squared error, and its coefficients (live keys, else the result)
    const mses = methods
      .map((m) => ({ m, train: metric(input, `train/mse_${m}`), val: metric(input, `val/mse_${m}`) }))
      .filter((x) => x.train != null);
    if (mses.length) {
      const rows = mses.map((x) => raw`${text(x.m)}:\ ${num(x.train!)}` + (x.val != null ? raw`\ /\ ${num(x.val)}` : ""));
      out.push({ id: "mse", role: "live", tex: raw`\mathrm{MSE}_{\text{train}\,/\,\text{val}} = \frac{1}{n}\sum_i (\hat y_i - y_i)^2:\quad ${rows.join(raw`,\quad `)}` });
    }
    const thetas = (input.result?.theta ?? {}) as Record<string, unknown>;
    for (const m of methods) {
      const live = indexed(input.metrics, `param/${m}/theta_`, 0);
      const final = Array.isArray(thetas[m]) ? (thetas[m] as number[]) : null;
      const theta = live.length >= 2 ? live : final;
      if (!theta || theta.length < 2) continue;
      const terms = featureTerms(theta.length - 1, degree, scaledInputs(input));
      out.push({
        id: live.length >= 2 ? "fit" : "fitFinal",
        role: "live",
        tex: raw`${text(m)}:\quad \hat y = ${affine(null, theta.slice(1), terms)} ${signed(theta[0]!)}`,
        vars: { method: m },
      });
    }
    return out;
  },
};

// --------------------------------------------------------------------------- classifiers

/** ŷ-side of a linear classifier with the run's w and b: "1.2\,x̃₁ − 0.4\,x̃₂ + 0.1". */
function linearScore(w: readonly number[], b: number, input: MathInput): string {
  const degree = numParam(input, "degree") ?? 1;
  const terms =
    degree > 1 ? w.map((_, i) => raw`\varphi_{${i + 1}}`) : featureTerms(w.length, 1, scaledInputs(input));
  return affine(b, w, terms);
}

/** ℒ_train, ℒ_val and ‖∇‖ of the last epoch of a gradient-trained classifier. */
function lossLive(input: MathInput, extra = ""): Formula | null {
  const train = metric(input, "train/loss");
  if (train == null) return null;
  const val = metric(input, "val/loss");
  const grad = metric(input, "grad_norm");
  const parts = [raw`\mathcal{L}_{\text{train}} = ${num(train)}`];
  if (val != null) parts.push(raw`\mathcal{L}_{\text{val}} = ${num(val)}`);
  if (grad != null) parts.push(raw`\lVert g\rVert = ${num(grad)}`);
  return { id: "lossLive", role: "live", tex: parts.join(raw`,\qquad `) + extra, vars: { step: input.step ?? "–" } };
}

const logisticRegression: KindMath = {
  formulas(input) {
    const degree = numParam(input, "degree") ?? 1;
    const out: Formula[] = [
      {
        id: "model",
        role: "model",
        tex: raw`p(y{=}1 \mid x) = \sigma\big(w^\top \varphi(x) + b\big),\qquad \sigma(a) = \frac{1}{1 + e^{-a}}`,
        vars: { degree },
      },
      {
        id: "loss",
        role: "loss",
        tex: raw`\mathcal{L} = -\frac{1}{|B|}\sum_{i \in B} \big[\,y_i \log p_i + (1 - y_i)\log(1 - p_i)\,\big]${plusPenalty(input)}`,
      },
      {
        id: "gradient",
        role: "update",
        tex: raw`\nabla_w \mathcal{L} = \frac{1}{|B|}\sum_{i \in B} (p_i - y_i)\,\varphi(x_i),\qquad \frac{\partial \mathcal{L}}{\partial b} = \frac{1}{|B|}\sum_{i \in B} (p_i - y_i)`,
      },
      optimizerFormula(input),
    ];
    const live = lossLive(input, raw`\qquad \Big(p \equiv \tfrac12:\ \mathcal{L} = \ln 2 \approx 0.693\Big)`);
    if (live) out.push(live);
    const w = indexed(input.metrics, "param/w_");
    const b = metric(input, "param/b");
    if (w.length && b != null) {
      out.push({ id: "fit", role: "live", tex: raw`p(y{=}1 \mid x) = \sigma\big(${linearScore(w, b, input)}\big)`, vars: { step: input.step ?? "–" } });
    }
    return out;
  },
};

const softmaxRegression: KindMath = {
  formulas(input) {
    const out: Formula[] = [
      {
        id: "model",
        role: "model",
        tex: raw`p(y{=}k \mid x) = \operatorname{softmax}(a)_k = \frac{e^{a_k}}{\sum_{j=1}^{K} e^{a_j}},\qquad a = W\varphi(x) + b`,
      },
      { id: "loss", role: "loss", tex: raw`\mathcal{L} = -\frac{1}{|B|}\sum_{i \in B} \log p(y_i \mid x_i)${plusPenalty(input, "W")}` },
      {
        id: "gradient",
        role: "update",
        tex: raw`\nabla_W \mathcal{L} = \frac{1}{|B|}\sum_{i \in B} \big(p_i - e_{y_i}\big)\,\varphi(x_i)^\top,\qquad \nabla_b \mathcal{L} = \frac{1}{|B|}\sum_{i \in B} \big(p_i - e_{y_i}\big)`,
      },
      optimizerFormula(input),
    ];
    const live = lossLive(input);
    if (live) out.push(live);
    const acc = metric(input, "val/accuracy");
    if (acc != null) out.push({ id: "accuracy", role: "live", tex: raw`\frac{1}{n_{\text{val}}}\sum_i \big[\hat y_i = y_i\big] = ${num(acc)}` });
    return out;
  },
};

const perceptron: KindMath = {
  formulas(input) {
    const eta = numParam(input, "eta");
    const out: Formula[] = [
      { id: "model", role: "model", tex: raw`\hat t = \operatorname{sign}(w^\top x + b),\qquad t \in \{-1, +1\}` },
      {
        id: "loss",
        role: "loss",
        tex: raw`\mathcal{M} = \{\, i : t_i\,(w^\top x_i + b) \le 0 \,\},\qquad J(w, b) = -\sum_{i \in \mathcal{M}} t_i\,(w^\top x_i + b)`,
      },
      {
        id: "update",
        role: "update",
        tex: raw`w \leftarrow w + \eta\, t_i\, x_i,\qquad b \leftarrow b + \eta\, t_i` + (eta != null ? raw`\qquad \eta = ${num(eta)}` : ""),
      },
    ];
    const mistakes = metric(input, "train/mistakes");
    if (mistakes != null) {
      const norm = metric(input, "weight_norm");
      out.push({
        id: "mistakes",
        role: "live",
        tex: raw`|\mathcal{M}| = ${num(mistakes)}` + (norm != null ? raw`,\qquad \sqrt{\lVert w\rVert^2 + b^2} = ${num(norm)}` : ""),
        vars: { step: input.step ?? "–" },
      });
    }
    // the last mistake of the epoch: w after it is the epoch's w, w before it is w − η t x
    const w = indexed(input.metrics, "param/w_");
    const b = metric(input, "param/b");
    const x = indexed(input.metrics, "mistake/x_");
    const t = metric(input, "mistake/t");
    if (w.length && b != null && x.length === w.length && t != null && eta != null) {
      const before = w.map((wj, j) => wj - eta * t * x[j]!);
      const tSign = t > 0 ? "+1" : "-1";
      out.push({
        id: "lastMistake",
        role: "live",
        tex:
          raw`w \leftarrow ${vector(before)} + ${num(eta)}\cdot(${tSign})\cdot${vector(x)} = ${vector(w)},\qquad ` +
          raw`b \leftarrow ${num(b - eta * t)} ${t > 0 ? "+" : "-"} ${num(eta)} = ${num(b)}`,
        vars: { step: input.step ?? "–" },
      });
    }
    const wFinal = w.length && b != null ? { w, b, id: "fit" } : null;
    const resW = resultNums(input, "w");
    const resB = resultNum(input, "b");
    const fit = wFinal ?? (resW && resB != null ? { w: resW, b: resB, id: "fitFinal" } : null);
    if (fit) {
      out.push({ id: fit.id, role: "live", tex: raw`\hat t = \operatorname{sign}\big(${linearScore(fit.w, fit.b, input)}\big)`, vars: { step: input.step ?? "–" } });
    }
    return out;
  },
};

const naiveBayes: KindMath = {
  formulas(input) {
    const eps = numParam(input, "var_smoothing");
    const out: Formula[] = [
      {
        id: "model",
        role: "model",
        tex: raw`p(c \mid x) \propto p(c)\prod_{j=1}^{d} \mathcal{N}\big(x_j;\ \mu_{cj}, \sigma^2_{cj}\big),\qquad \hat y = \arg\max_c\ p(c \mid x)`,
      },
      {
        id: "loss",
        role: "loss",
        tex: raw`\max\ \sum_i \Big[\log p(y_i) + \sum_{j} \log \mathcal{N}\big(x_{ij};\ \mu_{y_i j}, \sigma^2_{y_i j}\big)\Big]`,
      },
      {
        id: "solution",
        role: "solution",
        tex:
          raw`p(c) = \frac{n_c}{n},\quad \mu_{cj} = \frac{1}{n_c}\sum_{i:\,y_i = c} x_{ij},\quad \sigma^2_{cj} = \frac{1}{n_c}\sum_{i:\,y_i = c} (x_{ij} - \mu_{cj})^2 + \epsilon \max_{j'} \operatorname{Var}(x_{j'})` +
          (eps != null ? raw`,\ \ \epsilon = ${num(eps)}` : ""),
      },
      {
        id: "update",
        role: "update",
        tex: raw`n' = n + |B|,\quad \mu' = \frac{n\mu + |B|\,\bar x_B}{n + |B|},\quad n'\sigma'^2 = n\sigma^2 + |B|\,s_B^2 + \frac{n\,|B|}{n + |B|}(\mu - \bar x_B)^2`,
      },
    ];
    const seen = metric(input, "train/samples_seen");
    const acc = metric(input, "val/accuracy");
    if (seen != null) {
      out.push({
        id: "seen",
        role: "live",
        tex: raw`n = ${num(seen)}` + (acc != null ? raw`,\qquad \mathrm{acc}_{\text{val}} = ${num(acc)}` : ""),
      });
    }
    const priors = resultNums(input, "priors");
    if (priors) out.push({ id: "priors", role: "live", tex: raw`p(c) = ${vector(priors, 10)}` });
    return out;
  },
};

const decisionTree: KindMath = {
  formulas(input) {
    const criterion = strParam(input, "criterion") ?? "gini";
    const impurity =
      criterion === "entropy" ? raw`I(R) = -\sum_c p_c \log_2 p_c` : raw`I(R) = 1 - \sum_c p_c^2`;
    const out: Formula[] = [
      { id: "model", role: "model", tex: raw`\hat y(x) = \arg\max_c\ p_c\big(R(x)\big),\qquad R(x) = \{\, x' : x'_{j_1} \lessgtr s_1,\ \dots,\ x'_{j_D} \lessgtr s_D \,\}` },
      { id: "loss", role: "loss", tex: impurity, vars: { criterion } },
      {
        id: "split",
        role: "update",
        tex: raw`(j^*, s^*) = \arg\min_{j,\,s}\ \frac{n_L}{n}\,I(R_L) + \frac{n_R}{n}\,I(R_R),\qquad R_L = \{x_j \le s\},\ R_R = \{x_j > s\}`,
      },
    ];
    const train = metric(input, "train/accuracy");
    const val = metric(input, "val/accuracy");
    const leaves = metric(input, "leaves");
    if (train != null && val != null) {
      out.push({
        id: "gap",
        role: "live",
        tex:
          (input.step != null ? raw`\mathrm{depth} = ${input.step},\ \ ` : "") +
          (leaves != null ? raw`\#\mathrm{leaves} = ${num(leaves)},\ \ ` : "") +
          raw`\mathrm{acc}_{\text{train}} - \mathrm{acc}_{\text{val}} = ${num(train)} - ${num(val)} = ${num(train - val)}`,
      });
    }
    return out;
  },
};

const svm: KindMath = {
  formulas(input) {
    const kernel = strParam(input, "kernel") ?? "rbf";
    const gamma = numParam(input, "gamma");
    const C = numParam(input, "C");
    const k =
      kernel === "linear"
        ? raw`k(x, x') = x^\top x'`
        : raw`k(x, x') = \exp\!\big(-\gamma \lVert x - x'\rVert^2\big),\ \ \gamma = ` + (gamma != null ? num(gamma) : raw`\frac{1}{d\,\operatorname{Var}(X)}`);
    const out: Formula[] = [
      { id: "model", role: "model", tex: raw`\hat t = \operatorname{sign}\Big(\sum_{i \in \mathrm{SV}} \alpha_i t_i\, k(x_i, x) + b\Big),\qquad ${k}` },
      {
        id: "loss",
        role: "loss",
        tex:
          raw`\min_{w, b, \xi}\ \frac12\lVert w\rVert^2 + C\sum_i \xi_i\quad \text{s.t.}\ \ t_i\big(w^\top\varphi(x_i) + b\big) \ge 1 - \xi_i,\ \ \xi_i \ge 0` +
          (C != null ? raw`,\qquad C = ${num(C)}` : ""),
      },
      {
        id: "dual",
        role: "solution",
        tex: raw`\max_{\alpha}\ \sum_i \alpha_i - \frac12 \sum_{i,j} \alpha_i \alpha_j t_i t_j\, k(x_i, x_j)\quad \text{s.t.}\ \ 0 \le \alpha_i \le C,\ \ \sum_i \alpha_i t_i = 0`,
      },
    ];
    const sv = metric(input, "support_vectors");
    if (sv != null) {
      const cNow = metric(input, "C") ?? C;
      const width = metric(input, "margin_width");
      out.push({
        id: "sweep",
        role: "live",
        tex:
          (cNow != null ? raw`C = ${num(cNow)}:\ \ ` : "") +
          raw`|\mathrm{SV}| = ${num(sv)}` +
          (width != null ? raw`,\qquad \frac{2}{\lVert w\rVert} = ${num(width)}\ \Rightarrow\ \lVert w\rVert = ${num(2 / width)}` : ""),
      });
    }
    return out;
  },
};

// --------------------------------------------------------------------------- unsupervised

interface Scatter {
  points: number[][];
  labels: number[];
  label_names: string[];
  title?: string;
}

function asScatter(data: unknown): Scatter | null {
  const d = data as Partial<Scatter> | null;
  if (!d || !Array.isArray(d.points) || !Array.isArray(d.labels) || !Array.isArray(d.label_names)) return null;
  return d as Scatter;
}

/** k-means' centroids and cluster sizes from a `clusters/iter_NNN.json` scatter: the data
 * points carry their cluster, the centroids the last label ("centroid"). */
export function clustersOf(data: unknown): { centroids: number[][]; sizes: number[] } | null {
  const s = asScatter(data);
  if (!s) return null;
  const k = s.label_names.length - 1;
  if (k < 1) return null;
  const centroids: number[][] = [];
  const sizes = new Array<number>(k).fill(0);
  s.labels.forEach((label, i) => {
    if (label === k) centroids.push(s.points[i]!);
    else if (label >= 0 && label < k) sizes[label]! += 1;
  });
  return centroids.length === k ? { centroids, sizes } : null;
}

const kmeans: KindMath = {
  artifact: (items) => newest(items.filter((a) => /^clusters\/iter_\d+\.json$/.test(a.name))),
  formulas(input) {
    const k = numParam(input, "k");
    const init = strParam(input, "init") ?? "kmeans++";
    const out: Formula[] = [
      {
        id: "model",
        role: "model",
        tex:
          raw`\mu_1, \dots, \mu_k` +
          (k != null ? raw`\ (k = ${k})` : "") +
          (init === "kmeans++" ? raw`,\qquad \mu_j^{(0)} \sim P(x) = \frac{D(x)^2}{\sum_{x'} D(x')^2}` : raw`,\qquad \mu_j^{(0)} = x_{i_j},\ \ \{i_1, \dots, i_k\} \sim \mathcal{U}`),
        vars: { init },
      },
      { id: "loss", role: "loss", tex: raw`J = \sum_{i=1}^{n} \lVert x_i - \mu_{c(i)}\rVert^2` },
      { id: "assign", role: "update", tex: raw`c(i) = \arg\min_{j}\ \lVert x_i - \mu_j\rVert^2` },
      { id: "centroid", role: "update", tex: raw`\mu_j = \frac{1}{|C_j|}\sum_{i \in C_j} x_i,\qquad C_j = \{\, i : c(i) = j \,\}` },
    ];
    const J = metric(input, "train/inertia");
    if (J != null) {
      const moved = metric(input, "reassigned");
      const shift = metric(input, "centroid_shift");
      out.push({
        id: "inertia",
        role: "live",
        tex:
          raw`J = ${num(J)}` +
          (moved != null ? raw`,\qquad \big|\{\, i : c'(i) \ne c(i) \,\}\big| = ${num(moved)}` : "") +
          (shift != null ? raw`,\qquad \max_j \lVert \Delta\mu_j\rVert = ${num(shift)}` : ""),
        vars: { step: input.step ?? "–" },
      });
    }
    const clusters = clustersOf(input.artifact);
    if (clusters) {
      const shown = clusters.centroids.slice(0, 4).map((c, j) => raw`\mu_{${j + 1}} = ${vector(c)},\ |C_{${j + 1}}| = ${clusters.sizes[j]}`);
      if (clusters.centroids.length > 4) shown.push(raw`\dots`);
      const plane = (asScatter(input.artifact)?.title ?? "").includes("principal");
      out.push({ id: plane ? "centroidsPca" : "centroids", role: "live", tex: shown.join(raw`\qquad `) });
    }
    return out;
  },
};

const pca: KindMath = {
  formulas(input) {
    const m = numParam(input, "n_components");
    const out: Formula[] = [
      {
        id: "model",
        role: "model",
        tex: raw`z = V_m^\top (x - \bar x),\qquad \hat x = \bar x + V_m z` + (m != null ? raw`,\qquad m = ${m}` : ""),
      },
      {
        id: "loss",
        role: "loss",
        tex: raw`\max_{\lVert v\rVert = 1}\ v^\top S v,\quad S = \frac{1}{n-1} X_c^\top X_c\qquad\Longleftrightarrow\qquad \min\ \frac1n\sum_i \lVert x_i - \hat x_i\rVert^2 = \frac{n-1}{n}\sum_{j > m}\lambda_j`,
      },
      {
        id: "solution",
        role: "solution",
        tex: raw`S v_j = \lambda_j v_j;\qquad X_c = U\Sigma V^\top \ \Rightarrow\ \lambda_j = \frac{\sigma_j^2}{n-1};\qquad r_j = \frac{\lambda_j}{\sum_k \lambda_k}`,
      },
    ];
    const ratios = series(input, "explained_variance_ratio").map((p) => p.value);
    if (ratios.length) {
      const keep = Math.min(m ?? ratios.length, ratios.length);
      const shown = ratios.slice(0, 5).map((r, j) => raw`r_{${j + 1}} = ${num(r)}`);
      if (ratios.length > 5) shown.push(raw`\dots`);
      const cumulative = ratios.slice(0, keep).reduce((a, b) => a + b, 0);
      out.push({
        id: "ratios",
        role: "live",
        tex: shown.join(",\\ ") + raw`\qquad \sum_{j \le ${keep}} r_j = ${num(cumulative)}`,
        vars: { m: keep },
      });
      const errors = series(input, "reconstruction_mse");
      const err = errors.find((e) => e.step === keep);
      if (err) out.push({ id: "reconstruction", role: "live", tex: raw`\frac1n\sum_i \lVert x_i - \hat x_i\rVert^2 = ${num(err.value)}\quad (m = ${keep})` });
    }
    const lambdas = resultNums(input, "explained_variance");
    if (lambdas) out.push({ id: "variances", role: "live", tex: raw`(\lambda_1, \dots, \lambda_{${lambdas.length}}) = ${vector(lambdas)}` });
    return out;
  },
};

const lda: KindMath = {
  formulas(input) {
    const out: Formula[] = [
      { id: "model", role: "model", tex: raw`z = W^\top x,\qquad W = [\,w_1 \cdots w_m\,],\quad m \le K - 1` },
      {
        id: "loss",
        role: "loss",
        tex:
          raw`J(w) = \frac{w^\top S_B w}{w^\top S_W w},\quad S_W = \sum_c \sum_{i \in c} (x_i - \mu_c)(x_i - \mu_c)^\top,\quad ` +
          raw`S_B = \sum_c n_c (\mu_c - \mu)(\mu_c - \mu)^\top`,
      },
      { id: "solution", role: "solution", tex: raw`S_W^{-1} S_B\, w_j = \lambda_j w_j,\qquad \lambda_1 \ge \lambda_2 \ge \dots` },
    ];
    const rows = (["lda", "pca"] as const)
      .map((tag) => ({ tag, v: metric(input, `${tag}/fisher_ratio_val`), acc: metric(input, `${tag}/val_accuracy_nearest_mean`) }))
      .filter((r) => r.v != null);
    if (rows.length) {
      out.push({
        id: "fisher",
        role: "live",
        tex:
          raw`\operatorname{tr}\big(S_W^{-1} S_B\big)_{\text{val}}:\quad ` +
          rows.map((r) => raw`${text(r.tag.toUpperCase())}\ ${num(r.v!)}` + (r.acc != null ? raw`\ (\mathrm{acc} = ${num(r.acc)})` : "")).join(raw`,\quad `),
      });
    }
    return out;
  },
};

const tsne: KindMath = {
  formulas(input) {
    const exaggeration = numParam(input, "early_exaggeration");
    const out: Formula[] = [
      {
        id: "model",
        role: "model",
        tex: raw`p_{j \mid i} = \frac{\exp(-\lVert x_i - x_j\rVert^2 / 2\sigma_i^2)}{\sum_{k \ne i} \exp(-\lVert x_i - x_k\rVert^2 / 2\sigma_i^2)},\quad 2^{H(P_i)} = \mathrm{Perp},\quad p_{ij} = \frac{p_{j \mid i} + p_{i \mid j}}{2n}`,
      },
      {
        id: "map",
        role: "model",
        tex: raw`q_{ij} = \frac{(1 + \lVert z_i - z_j\rVert^2)^{-1}}{\sum_{k \ne l} (1 + \lVert z_k - z_l\rVert^2)^{-1}}`,
      },
      { id: "loss", role: "loss", tex: raw`\mathrm{KL}(P \,\Vert\, Q) = \sum_{i \ne j} p_{ij} \log \frac{p_{ij}}{q_{ij}}` },
      {
        id: "update",
        role: "update",
        tex:
          raw`\frac{\partial\,\mathrm{KL}}{\partial z_i} = 4 \sum_j (p_{ij} - q_{ij})(z_i - z_j)(1 + \lVert z_i - z_j\rVert^2)^{-1},\qquad z_i \leftarrow z_i - \eta\, \frac{\partial\,\mathrm{KL}}{\partial z_i}` +
          (exaggeration != null ? raw`,\qquad \alpha = ${num(exaggeration)}` : ""),
      },
    ];
    const kl = metric(input, "kl_divergence");
    const perp = metric(input, "perplexity");
    if (kl != null) {
      const tw = metric(input, "trustworthiness");
      out.push({
        id: "kl",
        role: "live",
        tex: (perp != null ? raw`\mathrm{Perp} = ${num(perp)}:\ \ ` : "") + raw`\mathrm{KL}(P \,\Vert\, Q) = ${num(kl)}` + (tw != null ? raw`,\qquad T(5) = ${num(tw)}` : ""),
      });
    }
    return out;
  },
};

/** The newest of some artifacts: the highest step, then the latest event. */
export function newest<T extends { step?: number | null; seq: number }>(items: readonly T[]): T | null {
  let best: T | null = null;
  for (const a of items) {
    if (!best || (a.step ?? -1) > (best.step ?? -1) || ((a.step ?? -1) === (best.step ?? -1) && a.seq > best.seq)) best = a;
  }
  return best;
}

export const CLASSIC: Record<string, KindMath> = {
  "lab.linear_regression": linearRegression,
  "lab.logistic_regression": logisticRegression,
  "lab.softmax_regression": softmaxRegression,
  "lab.perceptron": perceptron,
  "lab.naive_bayes": naiveBayes,
  "lab.decision_tree": decisionTree,
  "lab.svm": svm,
  "lab.kmeans": kmeans,
  "lab.pca": pca,
  "lab.lda": lda,
  "lab.tsne": tsne,
};
