import katex from "katex";
import { describe, expect, it } from "vitest";
import { en } from "../../../i18n/en";
import { zh } from "../../../i18n/zh";
import type { MetricPoint } from "../../../lib/metrics";
import { docsSection, GENERIC, KIND_MATH, learnAnchor, mathOf } from "./index";
import { crossAttentionRow } from "./neural";
import { OPTIMIZERS } from "./tex";
import { EMPTY_INPUT, type Formula, type MathInput } from "./types";

/** Every lab kind the backend registers (backend/difflab/lab/*.py exporting SPEC). */
const LAB_KINDS = [
  "lab.autoencoder",
  "lab.cnn",
  "lab.ddpm",
  "lab.decision_tree",
  "lab.gan",
  "lab.kmeans",
  "lab.lda",
  "lab.linear_regression",
  "lab.logistic_regression",
  "lab.mlp",
  "lab.naive_bayes",
  "lab.pca",
  "lab.perceptron",
  "lab.rbf_network",
  "lab.rnn",
  "lab.seq2seq",
  "lab.softmax_regression",
  "lab.svm",
  "lab.transformer",
  "lab.tsne",
  "lab.vae",
];

/** The kinds that take one building block apart. */
const BLOCK_KINDS = ["lab.convolution", "lab.diffusion_internals", "lab.mdn", "lab.optimizers", "lab.probability", "lab.regularization", "lab.svd"];

const ALL_KINDS = [...LAB_KINDS, ...BLOCK_KINDS];

const BASE: Record<string, unknown> = {
  lr: 0.01,
  batch_size: 32,
  optimizer: "adam",
  hidden_sizes: [32, 32],
  channels: [8, 16],
  n_components: 2,
  k: 3,
  eta: 1,
  beta: 1,
  d_model: 32,
  n_heads: 2,
  seq_len: 6,
  min_len: 2,
  max_len: 6,
  n_layers: 2,
  num_train_timesteps: 100,
  beta_schedule: "squaredcos_cap_v2",
  methods: ["normal", "batch", "stochastic", "minibatch"],
  optimizers: ["sgd", "momentum", "adam", "adamw", "ftrl"],
  surface: "quadratic",
  condition: 50,
  ftrl_beta: 1,
  ftrl_l1: 0.1,
  ftrl_l2: 0,
  parts: ["paths", "dropout", "early_stopping"],
  lambda_min: 0.001,
  lambda_max: 100,
  dropout: 0.5,
  patience: 20,
  size: 128,
  kernel: "sobel_x",
  kernel_size: 3,
  stride: 2,
  dilation: 1,
  padding: "valid",
  pool_size: 2,
  upsample_factor: 2,
  guidance_scale: 7.5,
  sampler: "DDIM",
  prior_a: 2,
  prior_b: 2,
  credible_mass: 0.95,
  prior_mean: 0,
  prior_std: 2,
  noise_std: 1,
  p_mean: 0,
  p_std: 1,
  q_mean: 1,
  q_std: 2,
};

/** Parameter values that switch formulas: each is tried on every kind. */
const VARIANTS: Record<string, unknown>[] = [
  {},
  ...OPTIMIZERS.map((optimizer) => ({ optimizer })),
  { penalty: "l1", penalty_strength: 0.1 },
  { penalty: "l2", penalty_strength: 0.1 },
  { penalty: "elasticnet", penalty_strength: 0.1, l1_ratio: 0.3 },
  { cell: "rnn" },
  { cell: "lstm" },
  { cell: "gru", task: "binary_sum" },
  { dataset: "diabetes" },
  { dataset: "shapes", pooling: "avg" },
  { loss: "mse", input_noise: 0.2 },
  { criterion: "entropy" },
  { kernel: "linear" },
  { kernel: "rbf", gamma: 0.5 },
  { init: "random" },
  { degree: 3, scaling: "none" },
  { methods: ["normal", "batch"], penalty: "l2", penalty_strength: 0.1 },
  ...["quadratic", "rosenbrock", "saddle", "noisy"].map((surface) => ({ surface, lr: { sgd: 0.01, ftrl: 0.5 } })),
  { parts: ["paths"], padding: "same", dilation: 2 },
  { parts: ["early_stopping"], sampler: "Euler a" },
  { task: "digits_to_words" },
  { task: "words_to_digits" },
  ...["bayes_coin", "bayes_gaussian", "kl", "elbo"].map((part) => ({ part })),
  { part: "all", prior_mean: -3, prior_std: 0.01, p_mean: -1, q_mean: -2, q_std: 0.001 },
];

const point = (step: number, values: Record<string, number>): MetricPoint => ({ step, epoch: step, time: step, values });

/** Every metric any kind reads, so that every live formula is built. */
const METRICS: Record<string, number> = {
  "train/loss": 0.5,
  "val/loss": 0.6,
  "train/accuracy": 0.9,
  "val/accuracy": 0.85,
  "val/step_accuracy": 0.95,
  "val/seq_accuracy": 0.7,
  "val/mse": 0.02,
  grad_norm: 0.3,
  "grad_norm/hidden1": 0.01,
  "grad_norm/hidden2": 0.05,
  "grad_norm/out": 0.2,
  "train/mse_normal": 0.01,
  "val/mse_normal": 0.012,
  "train/mse_batch": 0.02,
  "val/mse_batch": 0.025,
  "param/batch/theta_0": -0.5,
  "param/batch/theta_1": 1.5,
  "param/w_1": 1.2,
  "param/w_2": -0.4,
  "param/b": 0.1,
  "mistake/x_1": 0.5,
  "mistake/x_2": -0.3,
  "mistake/t": -1,
  "train/mistakes": 3,
  weight_norm: 1.4,
  "train/samples_seen": 120,
  leaves: 7,
  support_vectors: 40,
  C: 0.1,
  margin_width: 0.8,
  "train/inertia": 123.4,
  reassigned: 5,
  centroid_shift: 0.02,
  "lda/fisher_ratio_val": 12.3,
  "pca/fisher_ratio_val": 2.1,
  "lda/val_accuracy_nearest_mean": 0.97,
  kl_divergence: 0.85,
  perplexity: 30,
  trustworthiness: 0.97,
  "train/recon": 28.1,
  "train/kl": 5.3,
  "val/recon": 29,
  "val/kl": 5.1,
  "val/elbo": -34,
  "train/d_loss": 1.25,
  "train/g_loss": 0.89,
  "train/d_real": 0.62,
  "train/d_fake": 0.41,
  "val/mmd": 0.01,
  "loss/sgd": 0.5,
  "x/sgd": -1.2,
  "y/sgd": 0.3,
  "loss/adam": 0.01,
  "x/adam": 0.1,
  "y/adam": 0,
  "train/mse_plain": 0.1,
  "val/mse_plain": 0.4,
  "train/mse_dropout": 0.15,
  "val/mse_dropout": 0.25,
  "train/mse_dropout_train_mode": 0.3,
  relative_error: 0.08,
  eckart_young_error: 0.08,
  compression_ratio: 0.3,
  psnr_db: 28,
  energy: 0.99,
  "train/nll": -1.1,
  "val/nll": -1,
  "baseline/val_nll": 0.2,
  "reverse/coef_x0": 0.42,
  "reverse/coef_eps": 0.91,
  "reverse/sigma": 0,
  "reverse/alpha_bar": 0.3,
  "reverse/ddpm_coef_x0": 0.4,
  "reverse/ddpm_coef_eps": 0.9,
  "reverse/ddpm_sigma": 0.1,
  "cfg/x0_shift_per_w": 0.05,
  "cfg/eps_diff_rms": 0.02,
  "cfg/cosine": 0.98,
  "latent/pixel_values": 12288,
  "latent/latent_values": 1024,
  "val/token_accuracy": 0.93,
  "val/sequence_accuracy": 0.8,
  "coin/posterior_mean": 0.571,
  "coin/ci_low": 0.2,
  "coin/ci_high": 0.9,
  "coin/map": 0.6,
  "coin/mle": 0.667,
  "coin/true_p": 0.7,
  "gaussian/posterior_mean": 1.1,
  "gaussian/posterior_std": 0.55,
  "gaussian/ci_low": 0.02,
  "gaussian/ci_high": 2.18,
  "gaussian/mle": 1.2,
  "gaussian/true_mean": 1.5,
  "kl/p_q/closed_form": 0.443,
  "kl/p_q/monte_carlo": 0.45,
  "kl/p_q/std_error": 0.01,
  "kl/q_p/closed_form": 1.31,
  "kl/q_p/monte_carlo": 1.29,
  "kl/q_p/std_error": 0.03,
};

const RESULT: Record<string, unknown> = {
  theta: { normal: [-0.5, 1.5], batch: [-0.49, 1.48] },
  w: [1, 2],
  b: 0.5,
  priors: [0.3, 0.3, 0.4],
  explained_variance: [2.9, 0.9],
  mean_width: 0.7,
  val_accuracy: 0.9,
  lstsq_val_accuracy: 0.88,
  val_mse: 0.02,
  lstsq_val_mse: 0.03,
  baseline_mse: 0.1,
  real_vs_real_mmd: 0.002,
  alpha_bar_T: 4e-5,
  fastest: "adam",
  "steps_to_tol/adam": 40,
  "lr/adam": 0.1,
  "size/conv": 63,
  "size/pool": 64,
  "size/low_res": 64,
  "transposed/kernel_size": 3,
  "transposed/padding": 1,
  "transposed/output_padding": 1,
  "transposed/taps_min": 1,
  "transposed/taps_max": 4,
  "psnr_db/nearest": 24.5,
  "psnr_db/transposed": 22,
  "paths/best_lambda_lasso": 0.01,
  "paths/zeros_at_best_lasso": 3,
  "early_stopping/best_epoch": 57,
  "early_stopping/stop_epoch": 77,
  components_used: 3,
  gaussian_posterior_mean: 1.47,
  gaussian_posterior_std: 4e-4, // written (4×10⁻⁴)² in q = N(m, s²)
  elbo_log_evidence: -45.2,
  elbo_at_posterior: -45.2,
  elbo_reconstruction_at_posterior: -43.1,
  elbo_kl_prior_at_posterior: 2.1,
};

const SCATTER = {
  points: [[0, 0], [1, 1], [2, 2], [3, 3], [0.5, 0.5], [2, 2], [3, 3]],
  labels: [0, 0, 1, 2, 3, 3, 3],
  label_names: ["cluster 0", "cluster 1", "cluster 2", "centroid"],
  title: "iteration 3",
};

const HEATMAP = { matrix: [[1, 0], [0.3, 0.7]], x_labels: ["1", "|"], y_labels: ["1", "|"], scores: [[0.5, null], [-0.2, 0.6]] };

/** lab.seq2seq's cross-attention: output tokens (rows) over the padded source (· = PAD, ␣ = space). */
const CROSS = {
  matrix: [[0.1, 0.2, 0.7, 0, 0], [0.5, 0.25, 0.25, 0, 0], [0.3, 0.3, 0.4, 0, 0]],
  x_labels: ["t", "␣", "o", "·", "·"],
  y_labels: ["2", "1", "<eos>"],
};

const ARTIFACTS: Record<string, unknown> = { "lab.kmeans": SCATTER, "lab.transformer": HEATMAP, "lab.seq2seq": CROSS };

function inputFor(kind: string, params: Record<string, unknown>): MathInput {
  return {
    params: { ...BASE, ...params },
    metrics: METRICS,
    step: 3,
    // every metric at the newest step; PCA's one value per axis at steps 1..3
    points: [1, 2, 3].map((j) => point(j, { explained_variance_ratio: [0.7, 0.2, 0.1][j - 1]!, reconstruction_mse: 1 / j, ...(j === 3 ? METRICS : {}) })),
    result: RESULT,
    artifact: ARTIFACTS[kind] ?? null,
  };
}

function lookup(messages: object, key: string): unknown {
  return key.split(".").reduce<unknown>((o, k) => (o && typeof o === "object" ? (o as Record<string, unknown>)[k] : undefined), messages);
}

function sentenceKey(kind: string, f: Formula): string {
  return f.note ?? `math.${mathOf(kind).id}.${f.id}`;
}

describe("lab kinds' formulas", () => {
  it("has an entry for every lab kind with a model, a loss and an update rule or solution", () => {
    const missing = ALL_KINDS.filter((k) => !KIND_MATH[k]);
    expect(missing).toEqual([]);
    for (const kind of LAB_KINDS) {
      const roles = new Set(mathOf(kind).math.formulas({ ...EMPTY_INPUT, params: BASE }).map((f) => f.role));
      expect([kind, roles.has("model"), roles.has("loss"), roles.has("update") || roles.has("solution")]).toEqual([kind, true, true, true]);
    }
    // a convolution or a sampling step has no loss: a model and how it is computed
    for (const kind of BLOCK_KINDS) {
      const roles = new Set(mathOf(kind).math.formulas({ ...EMPTY_INPUT, params: BASE }).map((f) => f.role));
      expect([kind, roles.has("model"), roles.has("loss") || roles.has("update") || roles.has("solution")]).toEqual([kind, true, true]);
    }
  });

  it("falls back to the generic entry for a kind it does not know", () => {
    expect(mathOf("lab.not_written_yet")).toEqual({ id: "generic", math: GENERIC, generic: true });
    expect(mathOf("lab.vae").generic).toBe(false);
  });

  it("typesets every formula, for every parameter variant, with and without the run's numbers", () => {
    const texts = new Map<string, string>();
    for (const kind of [...ALL_KINDS, "lab.not_written_yet"]) {
      for (const variant of VARIANTS) {
        for (const input of [{ ...EMPTY_INPUT, params: { ...BASE, ...variant } }, inputFor(kind, variant)]) {
          for (const f of mathOf(kind).math.formulas(input)) texts.set(f.tex, `${kind} ${f.id} ${JSON.stringify(variant)}`);
        }
      }
    }
    const errors: string[] = [];
    for (const [tex, where] of texts) {
      try {
        katex.renderToString(tex, { throwOnError: true, displayMode: true });
      } catch (e) {
        errors.push(`${where}: ${(e as Error).message}`);
      }
    }
    expect(errors).toEqual([]);
  }, 20_000);

  it("builds every live formula from the run's values", () => {
    const live = (kind: string) => mathOf(kind).math.formulas(inputFor(kind, {})).filter((f) => f.role === "live").map((f) => f.id);
    for (const kind of ALL_KINDS) expect([kind, live(kind).length > 0]).toEqual([kind, true]);
    expect(live("lab.perceptron")).toEqual(["mistakes", "lastMistake", "fit"]);
    expect(live("lab.kmeans")).toEqual(["inertia", "centroids"]);
    expect(live("lab.transformer")).toEqual(["lossLive", "accuracy", "row"]);
    expect(live("lab.vae")).toEqual(["termsTrain", "termsVal", "elbo"]);
    expect(live("lab.optimizers")).toEqual(["racersFastest"]);
    expect(live("lab.diffusion_internals")).toEqual(["reverseLive", "guidanceLive", "latent"]);
    expect(live("lab.seq2seq")).toEqual(["lossLive", "accuracy", "crossRow"]);
    expect(live("lab.probability")).toEqual(["coinLive", "gaussLive", "klLive", "elboLive"]);
    // one part: only its own formulas
    const kl = mathOf("lab.probability").math.formulas(inputFor("lab.probability", { part: "kl" }));
    expect(kl.map((f) => f.id)).toEqual(["klDef", "klClosed", "klMc", "klLive"]);
  });

  it("explains every formula in English and in Chinese", () => {
    const missing: string[] = [];
    for (const kind of [...ALL_KINDS, "lab.not_written_yet"]) {
      for (const variant of VARIANTS) {
        for (const f of mathOf(kind).math.formulas(inputFor(kind, variant))) {
          const key = sentenceKey(kind, f);
          if (typeof lookup(en, key) !== "string") missing.push(`en ${key}`);
          if (typeof lookup(zh, key) !== "string") missing.push(`zh ${key}`);
        }
      }
    }
    expect([...new Set(missing)]).toEqual([]);
  });

  it("writes one output token's cross-attention: the largest real keys in source order, the rest elided, PAD keys last", () => {
    // 8 real source keys, the weights of the second query peaking at keys 2 and 7, then 5 PAD keys
    const weights = [0.02, 0.3, 0.05, 0.03, 0.04, 0.06, 0.45, 0.05, 0, 0, 0, 0, 0];
    const labels = ["a", "b", "c", "d", "e", "f", "g", "␣", "·", "·", "·", "·", "·"];
    const row = crossAttentionRow({ matrix: [weights.map(() => 0), weights], x_labels: labels, y_labels: ["x", "<eos>"] }, 1, 3)!;
    const under = (label: string, v: string) => String.raw`\underset{${label}}{${v}}`;
    expect(row).toContain(String.raw`\dots,\ ${under(String.raw`\text{b}`, "0.3")},\ \dots,\ ${under(String.raw`\text{f}`, "0.06")},\ ${under(String.raw`\text{g}`, "0.45")},\ \dots,\ \underbrace{0,\ \dots,\ 0}_{5\times\text{PAD}}`);
    expect(row).toContain(String.raw`\sum_{j:\, s_j \ne \text{PAD}} A_{2 j} = 1`);
    expect(row).toContain(String.raw`y_{2} = \text{EOS}`);
    expect(crossAttentionRow({ matrix: [[0.5, 0.5]], x_labels: ["a"], y_labels: ["x"] })).toBeNull();
  });

  it("links each kind to its learn-page section and its docs section", () => {
    expect(learnAnchor("lab.linear_regression")).toBe("lab-linear_regression");
    expect(docsSection("lab.linear_regression")).toBe("docs/lab.md#lablinear_regression");
    expect(docsSection("lab.vae")).toBe("docs/lab.md#labvae");
  });
});
