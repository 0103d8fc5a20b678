/**
 * The neural lab kinds' formulas (backend/difflab/lab/*.py, trained by difflab.lab.nn.fit or
 * their own loop), each bound to the numbers its run reports.
 */
import { newest, optimizerFormula, plusPenalty } from "./classic";
import { num, text } from "./tex";
import type { ArtifactRef, Formula, KindMath, MathInput } from "./types";
import { listParam, metric, numParam, REGRESSION_SETS, resultNum, strParam } from "./values";

const raw = String.raw;

/** g(a) of each activation of difflab.lab.mlp.ACTIVATIONS. */
const ACTIVATIONS: Record<string, string> = {
  relu: raw`g(a) = \max(0, a)`,
  tanh: raw`g(a) = \tanh a`,
  sigmoid: raw`g(a) = \sigma(a) = \frac{1}{1 + e^{-a}}`,
  gelu: raw`g(a) = a\,\Phi(a)`,
  leaky_relu: raw`g(a) = \max(0.01\,a,\ a)`,
};

function activation(input: MathInput): string {
  return ACTIVATIONS[strParam(input, "activation") ?? "relu"] ?? ACTIVATIONS.relu!;
}

/** "d → 32 → 32 → K" from the hidden sizes. */
function architecture(input: MathInput, out: string): string {
  const hidden = (listParam(input, "hidden_sizes") ?? []).filter((h): h is number => typeof h === "number");
  const widths = hidden.length ? hidden.map(String) : [raw`h_1`, raw`\cdots`];
  return ["d", ...widths, out].join(raw` \to `);
}

/** ℒ_train and ℒ_val of the last epoch (difflab.lab.nn.fit reports both). */
function lossLive(input: MathInput, symbol = raw`\mathcal{L}`): Formula | null {
  const train = metric(input, "train/loss");
  const val = metric(input, "val/loss");
  if (train == null && val == null) return null;
  const parts: string[] = [];
  if (train != null) parts.push(raw`${symbol}_{\text{train}} = ${num(train)}`);
  if (val != null) parts.push(raw`${symbol}_{\text{val}} = ${num(val)}`);
  return { id: "lossLive", role: "live", tex: parts.join(raw`,\qquad `), vars: { step: input.step ?? "–" } };
}

/** ‖∂ℒ/∂θ‖ of each layer, input side first: vanishing gradients show as a small first ratio. */
function gradientsLive(input: MathInput, layers: readonly string[]): Formula | null {
  const norms = layers.map((l) => ({ l, v: metric(input, `grad_norm/${l}`) })).filter((x) => x.v != null);
  if (norms.length < 2) return null;
  const first = norms[0]!;
  const last = norms[norms.length - 1]!;
  return {
    id: "gradients",
    role: "live",
    tex:
      norms.map((x) => raw`\lVert g_{${text(x.l)}}\rVert = ${num(x.v!)}`).join(raw`,\ \ `) +
      (last.v! > 0 ? raw`,\qquad \frac{\lVert g_{${text(first.l)}}\rVert}{\lVert g_{${text(last.l)}}\rVert} = ${num(first.v! / last.v!)}` : ""),
  };
}

const classifies = (input: MathInput) => !REGRESSION_SETS.includes(strParam(input, "dataset") ?? "");

function supervisedLoss(input: MathInput): Formula {
  return classifies(input)
    ? { id: "lossClassify", role: "loss", tex: raw`\mathcal{L} = -\frac{1}{|B|}\sum_{i \in B} \log p(y_i \mid x_i)${plusPenalty(input, "W")}` }
    : { id: "lossRegress", role: "loss", tex: raw`\mathcal{L} = \frac{1}{|B|}\sum_{i \in B} (\hat y_i - y_i)^2${plusPenalty(input, "W")}` };
}

const mlp: KindMath = {
  formulas(input) {
    const classify = classifies(input);
    const hidden = (listParam(input, "hidden_sizes") ?? []).filter((h): h is number => typeof h === "number");
    const out: Formula[] = [
      {
        id: "model",
        role: "model",
        tex: raw`h^{(0)} = x,\quad h^{(l)} = g\big(W^{(l)} h^{(l-1)} + b^{(l)}\big),\quad ${activation(input)},\qquad ${architecture(input, classify ? "K" : "1")}`,
      },
      classify
        ? { id: "outputClassify", role: "model", tex: raw`p(y \mid x) = \operatorname{softmax}\big(W^{(L)} h^{(L-1)} + b^{(L)}\big)` }
        : { id: "outputRegress", role: "model", tex: raw`\hat y = W^{(L)} h^{(L-1)} + b^{(L)}` },
      supervisedLoss(input),
      {
        id: "backprop",
        role: "update",
        tex: raw`\delta^{(l)} = \big(W^{(l+1)\top} \delta^{(l+1)}\big) \odot g'\big(a^{(l)}\big),\qquad \frac{\partial \mathcal{L}}{\partial W^{(l)}} = \delta^{(l)}\, h^{(l-1)\top}`,
      },
      optimizerFormula(input),
    ];
    const live = lossLive(input);
    if (live) out.push(live);
    const grads = gradientsLive(input, [...hidden.map((_, i) => `hidden${i + 1}`), "out"]);
    if (grads) out.push(grads);
    return out;
  },
};

const rbfNetwork: KindMath = {
  formulas(input) {
    const K = numParam(input, "n_centers");
    const s = numParam(input, "width_scale");
    const classify = classifies(input);
    const out: Formula[] = [
      {
        id: "model",
        role: "model",
        tex:
          raw`\varphi_j(x) = \exp\!\Big(-\frac{\lVert x - v_j\rVert^2}{2\sigma_j^2}\Big),\quad j = 1, \dots, ${K ?? "K"},\qquad ` +
          (classify ? raw`p(y \mid x) = \operatorname{softmax}\big(W\varphi(x) + b\big)` : raw`\hat y = W\varphi(x) + b`),
      },
      {
        id: "widths",
        role: "model",
        tex: raw`v_1, \dots, v_K = \text{k-means}(X_{\text{train}}),\qquad \sigma_j = s \cdot \min_{k \ne j} \lVert v_j - v_k\rVert` + (s != null ? raw`,\ \ s = ${num(s)}` : ""),
      },
      supervisedLoss(input),
      { id: "lstsq", role: "solution", tex: raw`W^* = \arg\min_W \big\lVert [\,\Phi\ \ \mathbf{1}\,]\,W - Y \big\rVert^2` },
      optimizerFormula(input),
    ];
    const live = lossLive(input);
    if (live) out.push(live);
    const width = resultNum(input, "mean_width");
    const key = classify ? "accuracy" : "mse";
    const gd = resultNum(input, `val_${key}`);
    const ls = resultNum(input, `lstsq_val_${key}`);
    if (gd != null && ls != null) {
      out.push({
        id: classify ? "compareAccuracy" : "compareMse",
        role: "live",
        tex:
          raw`\text{GD}:\ ${num(gd)}\quad \text{vs}\quad W^*:\ ${num(ls)}` + (width != null ? raw`,\qquad \bar\sigma = ${num(width)}` : ""),
      });
    }
    return out;
  },
};

const cnn: KindMath = {
  formulas(input) {
    const k = numParam(input, "kernel_size") ?? 3;
    const r = Math.floor(k / 2);
    const pooling = strParam(input, "pooling") ?? "max";
    const channels = (listParam(input, "channels") ?? []).filter((c): c is number => typeof c === "number");
    const cIn = strParam(input, "dataset") === "shapes" ? 3 : 1;
    const out: Formula[] = [
      {
        id: "conv",
        role: "model",
        tex: raw`a_{c',i,j} = b_{c'} + \sum_{c=1}^{C_{\text{in}}} \sum_{u,v=-${r}}^{${r}} K_{c',c,u,v}\; x_{c,\,i+u,\,j+v},\qquad h = g(a),\ \ ${activation(input)}`,
      },
      {
        id: pooling === "avg" ? "poolAvg" : "poolMax",
        role: "model",
        tex:
          pooling === "avg"
            ? raw`p_{c,i,j} = \frac14 \sum_{u,v \in \{0,1\}} h_{c,\,2i+u,\,2j+v},\qquad p(y \mid x) = \operatorname{softmax}\big(W \operatorname{vec}(p) + b\big)`
            : raw`p_{c,i,j} = \max_{u,v \in \{0,1\}} h_{c,\,2i+u,\,2j+v},\qquad p(y \mid x) = \operatorname{softmax}\big(W \operatorname{vec}(p) + b\big)`,
      },
    ];
    if (channels.length) {
      const sizes = [cIn, ...channels];
      const counts = channels.map((c, i) => raw`${k}^2 \cdot ${sizes[i]} \cdot ${c} + ${c} = ${k * k * sizes[i]! * c + c}`);
      out.push({ id: "weights", role: "model", tex: raw`k^2\, C_{\text{in}}\, C_{\text{out}} + C_{\text{out}}:\qquad ${counts.join(raw`,\quad `)}` });
    }
    out.push({ id: "loss", role: "loss", tex: raw`\mathcal{L} = -\frac{1}{|B|}\sum_{i \in B} \log p(y_i \mid x_i)${plusPenalty(input, "K")}` });
    out.push(optimizerFormula(input));
    const live = lossLive(input);
    if (live) out.push(live);
    const acc = metric(input, "val/accuracy");
    if (acc != null) out.push({ id: "accuracy", role: "live", tex: raw`\mathrm{acc}_{\text{val}} = ${num(acc)}` });
    return out;
  },
};

const CELLS: Record<string, string> = {
  rnn: raw`h_t = \tanh\big(W_x x_t + W_h h_{t-1} + b\big)`,
  lstm:
    raw`\begin{aligned} i_t, f_t, o_t &= \sigma\big(W_{\{i,f,o\}}[x_t, h_{t-1}] + b_{\{i,f,o\}}\big),\quad \tilde c_t = \tanh\big(W_c [x_t, h_{t-1}] + b_c\big) \\ ` +
    raw`c_t &= f_t \odot c_{t-1} + i_t \odot \tilde c_t,\qquad h_t = o_t \odot \tanh(c_t) \end{aligned}`,
  gru:
    raw`\begin{aligned} r_t, u_t &= \sigma\big(W_{\{r,u\}}[x_t, h_{t-1}] + b_{\{r,u\}}\big),\quad n_t = \tanh\big(W_n x_t + b_n + r_t \odot (U_n h_{t-1} + c_n)\big) \\ ` +
    raw`h_t &= (1 - u_t) \odot n_t + u_t \odot h_{t-1} \end{aligned}`,
};

const rnn: KindMath = {
  formulas(input) {
    const cell = strParam(input, "cell") ?? "gru";
    const H = numParam(input, "hidden_size");
    const L = numParam(input, "seq_len");
    const sine = strParam(input, "task") !== "binary_sum";
    const out: Formula[] = [
      { id: `cell_${cell in CELLS ? cell : "gru"}`, role: "model", tex: CELLS[cell] ?? CELLS.gru! },
      {
        id: "readout",
        role: "model",
        tex: (sine ? raw`\hat x_{t+1} = W_o h_t + b_o` : raw`p(s_t \mid b_{1..t}) = \operatorname{softmax}(W_o h_t + b_o)`) + (H != null ? raw`,\qquad h_t \in \mathbb{R}^{${H}}` : ""),
      },
      sine
        ? { id: "lossSine", role: "loss", tex: raw`\mathcal{L} = \frac{1}{|B|\,L}\sum_{i \in B} \sum_{t=1}^{${L ?? "L"}} (\hat x_{i,t+1} - x_{i,t+1})^2${plusPenalty(input, "W")}` }
        : {
            id: "lossCount",
            role: "loss",
            tex: raw`\mathcal{L} = -\frac{1}{|B|\,L}\sum_{i \in B} \sum_{t=1}^{${L ?? "L"}} \log p\big(s_{i,t} \mid b_{i,1..t}\big),\qquad s_t = \sum_{\tau \le t} b_\tau${plusPenalty(input, "W")}`,
          },
      {
        id: "bptt",
        role: "update",
        tex: raw`\frac{\partial \mathcal{L}}{\partial W_h} = \sum_t \frac{\partial \mathcal{L}}{\partial h_t} \frac{\partial h_t}{\partial W_h},\qquad \frac{\partial h_t}{\partial h_{t-k}} = \prod_{s=t-k+1}^{t} \frac{\partial h_s}{\partial h_{s-1}}`,
      },
      optimizerFormula(input),
    ];
    const live = lossLive(input);
    if (live) out.push(live);
    const baseline = resultNum(input, "baseline_mse");
    const mse = resultNum(input, "val_mse");
    if (sine && baseline != null && mse != null) {
      out.push({ id: "baseline", role: "live", tex: raw`\mathcal{L}_{\text{val}} = ${num(mse)}\quad \text{vs}\quad \hat x_{t+1} = x_t:\ ${num(baseline)}` });
    }
    const acc = metric(input, "val/accuracy");
    if (!sine && acc != null) {
      const stepAcc = metric(input, "val/step_accuracy");
      out.push({
        id: "countAccuracy",
        role: "live",
        tex: raw`P(\hat s_L = s_L) = ${num(acc)}` + (stepAcc != null ? raw`,\qquad P(\hat s_t = s_t) = ${num(stepAcc)}` : ""),
      });
    }
    return out;
  },
};

const autoencoder: KindMath = {
  formulas(input) {
    const latent = numParam(input, "latent_dim");
    const noise = numParam(input, "input_noise") ?? 0;
    const bce = strParam(input, "loss") !== "mse";
    const out: Formula[] = [
      {
        id: "model",
        role: "model",
        tex:
          (noise > 0 ? raw`z = f(x + s\,\epsilon),\ \ \epsilon \sim \mathcal{N}(0, I),\ s = ${num(noise)}` : raw`z = f(x)`) +
          raw`,\qquad \hat x = \sigma\big(g(z)\big)` +
          (latent != null ? raw`,\qquad z \in \mathbb{R}^{${latent}}` : ""),
      },
      bce
        ? {
            id: "lossBce",
            role: "loss",
            tex: raw`\mathcal{L} = -\frac{1}{|B|}\sum_{i \in B} \sum_{p=1}^{64} \big[\,x_{ip}\log \hat x_{ip} + (1 - x_{ip})\log(1 - \hat x_{ip})\,\big]${plusPenalty(input, "W")}`,
          }
        : { id: "lossMse", role: "loss", tex: raw`\mathcal{L} = \frac{1}{|B|}\sum_{i \in B} \lVert \hat x_i - x_i\rVert^2${plusPenalty(input, "W")}` },
      optimizerFormula(input),
    ];
    const live = lossLive(input);
    if (live) out.push(live);
    const mse = metric(input, "val/mse");
    if (mse != null) out.push({ id: "pixelMse", role: "live", tex: raw`\frac{1}{64\,n_{\text{val}}}\sum_i \lVert \hat x_i - x_i\rVert^2 = ${num(mse)}` });
    return out;
  },
};

const vae: KindMath = {
  concepts: ["pipeline"],
  formulas(input) {
    const beta = numParam(input, "beta");
    const out: Formula[] = [
      {
        id: "model",
        role: "model",
        tex: raw`q(z \mid x) = \mathcal{N}\big(\mu(x),\ \operatorname{diag}\sigma^2(x)\big),\qquad z = \mu + \sigma \odot \epsilon,\ \ \epsilon \sim \mathcal{N}(0, I)`,
      },
      {
        id: "loss",
        role: "loss",
        tex:
          raw`\mathcal{L} = \underbrace{-\log p(x \mid z)}_{\text{recon}} + \beta\, \underbrace{\mathrm{KL}\big(q(z \mid x) \,\Vert\, \mathcal{N}(0, I)\big)}_{\mathrm{KL}}` +
          (beta != null ? raw`,\qquad \beta = ${num(beta)}` : ""),
      },
      { id: "kl", role: "loss", tex: raw`\mathrm{KL} = -\frac12 \sum_j \big(1 + \log \sigma_j^2 - \mu_j^2 - \sigma_j^2\big)` },
      { id: "reparam", role: "update", tex: raw`\frac{\partial z}{\partial \mu} = I,\qquad \frac{\partial z}{\partial \sigma} = \operatorname{diag}(\epsilon)` },
      optimizerFormula(input),
    ];
    for (const split of ["train", "val"] as const) {
      const recon = metric(input, `${split}/recon`);
      const kl = metric(input, `${split}/kl`);
      if (recon == null || kl == null || beta == null) continue;
      out.push({
        id: split === "train" ? "termsTrain" : "termsVal",
        role: "live",
        tex: raw`\mathcal{L}_{\text{${split}}} = \underbrace{${num(recon)}}_{\text{recon}} + \underbrace{${num(beta)}}_{\beta} \times \underbrace{${num(kl)}}_{\mathrm{KL}} = ${num(recon + beta * kl)}`,
        vars: { step: input.step ?? "–" },
      });
    }
    const elbo = metric(input, "val/elbo");
    if (elbo != null) out.push({ id: "elbo", role: "live", tex: raw`\log p(x) \ge \mathrm{ELBO}_{\text{val}} = -(\text{recon} + \mathrm{KL}) = ${num(elbo)}` });
    return out;
  },
};

const gan: KindMath = {
  formulas(input) {
    const noiseDim = numParam(input, "noise_dim");
    const k = numParam(input, "d_steps");
    const opt = optimizerFormula(input, { beta1: 0.5 }); // Adam β₁ = 0.5, as DCGAN
    const out: Formula[] = [
      {
        id: "model",
        role: "model",
        tex: raw`x_{\text{fake}} = G(z),\ \ z \sim \mathcal{N}(0, I_{${noiseDim ?? "d_z"}}),\qquad D(x) = \sigma\big(f(x)\big) \in (0, 1)`,
      },
      {
        id: "lossD",
        role: "loss",
        tex: raw`\mathcal{L}_D = -\frac{1}{|B|}\sum_{i \in B} \Big[\log D(x_i) + \log\big(1 - D(G(z_i))\big)\Big]`,
      },
      { id: "lossG", role: "loss", tex: raw`\mathcal{L}_G = -\frac{1}{|B|}\sum_{i \in B} \log D\big(G(z_i)\big)` },
      {
        id: "update",
        role: "update",
        tex: raw`\theta_D \leftarrow \theta_D - \eta\, \nabla_{\theta_D} \mathcal{L}_D\ \ (${k ?? "k"}\times),\qquad \theta_G \leftarrow \theta_G - \eta\, \nabla_{\theta_G} \mathcal{L}_G`,
      },
      opt,
      { id: "mmd", role: "model", tex: raw`\mathrm{MMD}^2 = \overline{k(x, x')} + \overline{k(y, y')} - 2\,\overline{k(x, y)},\qquad k(a, b) = e^{-\lVert a - b\rVert^2 / 2h^2}` },
    ];
    const dLoss = metric(input, "train/d_loss");
    const gLoss = metric(input, "train/g_loss");
    if (dLoss != null && gLoss != null) {
      out.push({
        id: "losses",
        role: "live",
        tex: raw`\mathcal{L}_D = ${num(dLoss)},\quad \mathcal{L}_G = ${num(gLoss)}\qquad \Big(D \equiv \tfrac12:\ \mathcal{L}_D = 2\ln 2 \approx 1.386,\ \ \mathcal{L}_G = \ln 2 \approx 0.693\Big)`,
        vars: { step: input.step ?? "–" },
      });
    }
    const dReal = metric(input, "train/d_real");
    const dFake = metric(input, "train/d_fake");
    if (dReal != null && dFake != null) {
      out.push({ id: "scores", role: "live", tex: raw`\overline{D(x)} = ${num(dReal)},\qquad \overline{D(G(z))} = ${num(dFake)}` });
    }
    const mmd = metric(input, "val/mmd");
    if (mmd != null) {
      const floor = resultNum(input, "real_vs_real_mmd");
      out.push({ id: "mmdLive", role: "live", tex: raw`\mathrm{MMD}^2_{\text{val}} = ${num(mmd)}` + (floor != null ? raw`\quad \text{vs}\quad \mathrm{MMD}^2(X_{\text{val}}, X_{\text{train}}) = ${num(floor)}` : "") });
    }
    return out;
  },
};

const ddpm: KindMath = {
  concepts: ["forward", "loss"],
  formulas(input) {
    const T = numParam(input, "num_train_timesteps");
    const schedule = strParam(input, "beta_schedule");
    const out: Formula[] = [
      {
        id: "forward",
        role: "model",
        tex:
          raw`x_t = \sqrt{\bar\alpha_t}\, x_0 + \sqrt{1 - \bar\alpha_t}\, \epsilon,\ \ \epsilon \sim \mathcal{N}(0, I),\qquad \bar\alpha_t = \prod_{s \le t} (1 - \beta_s)` +
          (T != null ? raw`,\ \ T = ${T}` : "") +
          (schedule ? raw`\ (${text(schedule)})` : ""),
      },
      { id: "loss", role: "loss", tex: raw`\mathcal{L} = \mathbb{E}_{x_0,\, t,\, \epsilon} \Big[\frac{1}{D} \big\lVert \epsilon - \epsilon_\theta(x_t, t) \big\rVert^2\Big]${plusPenalty(input, "W")}` },
      optimizerFormula(input),
      {
        id: "sample",
        role: "solution",
        tex: raw`x_{t-1} = \frac{1}{\sqrt{\alpha_t}} \Big(x_t - \frac{\beta_t}{\sqrt{1 - \bar\alpha_t}}\, \epsilon_\theta(x_t, t)\Big) + \sigma_t z,\ \ z \sim \mathcal{N}(0, I)`,
      },
    ];
    const live = lossLive(input);
    if (live) out.push({ ...live, tex: live.tex + raw`\qquad \big(\epsilon_\theta \equiv 0:\ \mathcal{L} = 1\big)` });
    const abarT = resultNum(input, "alpha_bar_T");
    if (abarT != null) out.push({ id: "alphaBarT", role: "live", tex: raw`\bar\alpha_T = ${num(abarT)},\qquad \sqrt{\bar\alpha_T} = ${num(Math.sqrt(abarT))}` });
    return out;
  },
};

interface Heatmap {
  matrix: (number | null)[][];
  x_labels: string[];
  y_labels: string[];
  /** raw scores Q·Kᵀ/√d_k (masked entries null), where the run reports them */
  scores?: (number | null)[][];
}

function asHeatmap(data: unknown): Heatmap | null {
  const d = data as Partial<Heatmap> | null;
  if (!d || !Array.isArray(d.matrix) || !Array.isArray(d.x_labels) || !Array.isArray(d.y_labels)) return null;
  return d as Heatmap;
}

/** The last layer's first head of the newest attention maps: `<folder>/<tag>/layerL_head1.json`. */
function lastLayerHeadOne(folder: string): (items: readonly ArtifactRef[]) => ArtifactRef | null {
  const pattern = new RegExp(`^${folder}/[^/]+/layer\\d+_head1\\.json$`);
  return (items) => {
    const maps = items.filter((a) => pattern.test(a.name));
    const latest = newest(maps);
    if (!latest) return null;
    const tag = latest.name.split("/")[1];
    const layer = (a: ArtifactRef) => Number(/layer(\d+)_/.exec(a.name)?.[1] ?? 0);
    const same = maps.filter((a) => a.name.split("/")[1] === tag);
    return same.reduce((best, a) => (layer(a) > layer(best) || (layer(a) === layer(best) && a.seq > best.seq) ? a : best), latest);
  };
}

/** One query row of a probe's attention: softmax over the keys it may see, with their tokens. */
export function attentionRow(data: unknown, most = 12): string | null {
  const h = asHeatmap(data);
  if (!h || h.matrix.length === 0) return null;
  const i = h.matrix.length - 1;
  const row = h.matrix[i]!;
  const allowed = row.slice(0, i + 1).map((v) => (typeof v === "number" ? v : 0));
  const tokens = h.x_labels.slice(0, i + 1);
  const pick = allowed.length <= most ? allowed.map((_, j) => j) : [...allowed.keys()].sort((a, b) => allowed[b]! - allowed[a]!).slice(0, most).sort((a, b) => a - b);
  const entries = pick.map((j) => raw`\underset{${text(tokens[j] ?? String(j))}}{${num(allowed[j]!, 2)}}`);
  const query = text(h.y_labels[i] ?? String(i));
  const scores = h.scores?.[i];
  const scoreEntries =
    scores && scores.length > i
      ? pick.map((j) => (typeof scores[j] === "number" ? num(scores[j], 2) : raw`-\infty`)).join(",\\ ")
      : null;
  const inside = scoreEntries ? raw`(${scoreEntries})` : raw`\frac{q_{${i}} K^\top}{\sqrt{d_k}} + M_{${i}}`;
  const sum = allowed.reduce((a, b) => a + b, 0);
  return (
    raw`A_{${i},\cdot} = \operatorname{softmax}\Big(${inside}\Big) = \Big(${entries.join(",\\ ")}${pick.length < allowed.length ? raw`,\ \dots` : ""}\Big)` +
    raw`,\qquad \sum_{j \le ${i}} A_{${i} j} = ${num(sum, 3)},\qquad q_{${i}}:\ ${query}`
  );
}

const transformer: KindMath = {
  concepts: ["pipeline"],
  artifact: lastLayerHeadOne("attention"),
  formulas(input) {
    const dModel = numParam(input, "d_model");
    const heads = numParam(input, "n_heads");
    const dk = dModel != null && heads ? dModel / heads : null;
    const L = numParam(input, "seq_len");
    const out: Formula[] = [
      {
        id: "attention",
        role: "model",
        tex:
          raw`A = \operatorname{softmax}\Big(\frac{QK^\top}{\sqrt{d_k}} + M\Big),\quad \mathrm{head} = AV,\quad M_{ij} = \begin{cases} 0 & j \le i \\ -\infty & j > i \end{cases}` +
          (dk != null ? raw`,\qquad d_k = \frac{${dModel}}{${heads}} = ${dk},\ \sqrt{d_k} = ${num(Math.sqrt(dk))}` : ""),
      },
      {
        id: "positions",
        role: "model",
        tex: raw`\mathrm{PE}_{pos,\,2i} = \sin\big(pos / 10000^{2i/d}\big),\quad \mathrm{PE}_{pos,\,2i+1} = \cos\big(pos / 10000^{2i/d}\big)`,
      },
      {
        id: "block",
        role: "model",
        tex: raw`x \leftarrow x + \mathrm{MultiHead}\big(\mathrm{LN}(x)\big),\qquad x \leftarrow x + \mathrm{MLP}\big(\mathrm{LN}(x)\big),\qquad p_\theta(\cdot) = \operatorname{softmax}\big(W\,\mathrm{LN}(x)\big)`,
      },
      {
        id: "loss",
        role: "loss",
        tex: raw`\mathcal{L} = -\frac{1}{|B|\,L}\sum_{i \in B} \sum_{t=1}^{${L ?? "L"}} \log p_\theta\big(y_{i,t} \mid x_{i,1..L},\ \mathrm{SEP},\ y_{i,<t}\big)${plusPenalty(input, "W")}`,
      },
      optimizerFormula(input),
    ];
    const live = lossLive(input);
    if (live) out.push(live);
    const acc = metric(input, "val/accuracy");
    const seqAcc = metric(input, "val/seq_accuracy");
    if (acc != null) {
      out.push({
        id: "accuracy",
        role: "live",
        tex: raw`P(\hat y_t = y_t) = ${num(acc)}` + (seqAcc != null ? raw`,\qquad P(\hat y_{1..L} = y_{1..L}) = ${num(seqAcc)}` : ""),
      });
    }
    const row = attentionRow(input.artifact);
    if (row) out.push({ id: asHeatmap(input.artifact)?.scores ? "row" : "rowWeights", role: "live", tex: row });
    return out;
  },
};

/** A token label of lab.seq2seq's maps as TeX: "·" is a PAD column, "␣" the space. */
function tokenTex(label: string): string {
  if (label === "·") return raw`\text{PAD}`;
  if (label === "␣") return raw`\sqcup`;
  if (label === "<eos>") return raw`\text{EOS}`;
  if (label === "<bos>") return raw`\text{BOS}`;
  return text(label);
}

/**
 * One output token's cross-attention over the padded source (`cross_attention/…` maps: rows are
 * output tokens, columns source tokens, "·" for PAD): the weights under their tokens, the PAD
 * keys last, and the sum over the real keys. At most `most` real keys are shown, the largest.
 */
export function crossAttentionRow(data: unknown, row = 0, most = 10): string | null {
  const h = asHeatmap(data);
  const values = h?.matrix[row];
  if (!h || !values || values.length !== h.x_labels.length) return null;
  const weights = values.map((v) => (typeof v === "number" ? v : 0));
  const real = weights.map((_, j) => j).filter((j) => h.x_labels[j] !== "·");
  const pads = weights.map((_, j) => j).filter((j) => h.x_labels[j] === "·");
  if (real.length === 0) return null;
  const shown = real.length <= most ? real : [...real].sort((a, b) => weights[b]! - weights[a]!).slice(0, most).sort((a, b) => a - b);
  const entry = (j: number) => raw`\underset{${tokenTex(h.x_labels[j]!)}}{${num(weights[j]!, 2)}}`;
  // \dots wherever real keys are left out: before, between and after the shown ones
  const entries: string[] = [];
  let next = 0;
  for (const j of shown) {
    if (real.indexOf(j) > next) entries.push(raw`\dots`);
    entries.push(entry(j));
    next = real.indexOf(j) + 1;
  }
  if (next < real.length) entries.push(raw`\dots`);
  if (pads.length > 0 && pads.length <= 3) entries.push(...pads.map(entry));
  else if (pads.length > 3) entries.push(raw`\underbrace{${num(weights[pads[0]!]!, 2)},\ \dots,\ ${num(weights[pads[pads.length - 1]!]!, 2)}}_{${pads.length}\times\text{PAD}}`);
  const sum = real.reduce((acc, j) => acc + weights[j]!, 0);
  const t = row + 1;
  return (
    raw`A_{${t},\cdot} = \operatorname{softmax}\Big(\frac{q_{${t}} K^\top}{\sqrt{d_k}} + m\Big) = \Big(${entries.join(",\\ ")}\Big)` +
    raw`,\qquad \sum_{j:\, s_j \ne \text{PAD}} A_{${t} j} = ${num(sum)},\qquad y_{${t}} = ${tokenTex(h.y_labels[row] ?? String(t))}`
  );
}

const SEQ2SEQ_TASKS: Record<string, string> = {
  reverse: raw`s = (s_1, \dots, s_n)\ \mapsto\ y = (s_n, \dots, s_1)`,
  digits_to_words: raw`s = (3, 1, 4)\ \mapsto\ y = (\text{t}, \text{h}, \text{r}, \text{e}, \text{e}, \sqcup, \text{o}, \text{n}, \text{e}, \sqcup, \dots)`,
  words_to_digits: raw`s = (\text{t}, \text{h}, \text{r}, \text{e}, \text{e}, \sqcup, \text{o}, \text{n}, \text{e}, \sqcup, \dots)\ \mapsto\ y = (3, 1, 4)`,
};

const seq2seq: KindMath = {
  artifact: lastLayerHeadOne("cross_attention"),
  formulas(input) {
    const task = strParam(input, "task") ?? "reverse";
    const lo = numParam(input, "min_len");
    const hi = numParam(input, "max_len");
    const layers = numParam(input, "n_layers");
    const dModel = numParam(input, "d_model");
    const heads = numParam(input, "n_heads");
    const dk = dModel != null && heads ? dModel / heads : null;
    const out: Formula[] = [
      {
        id: `task_${task in SEQ2SEQ_TASKS ? task : "reverse"}`,
        role: "model",
        tex: (SEQ2SEQ_TASKS[task] ?? SEQ2SEQ_TASKS.reverse!) + (lo != null && hi != null ? raw`,\qquad n \in \{${lo}, \dots, ${hi}\}\ \text{digits}` : ""),
      },
      {
        id: "encoder",
        role: "model",
        tex:
          raw`x_j = E[s_j] + \mathrm{PE}_j,\quad x \leftarrow x + \mathrm{SelfAttn}\big(\mathrm{LN}(x);\ m\big),\quad x \leftarrow x + \mathrm{MLP}\big(\mathrm{LN}(x)\big),\qquad H = \mathrm{LN}(x) \in \mathbb{R}^{S \times d}` +
          (layers != null ? raw`,\ \ ${layers}\times` : ""),
      },
      {
        id: "decoder",
        role: "model",
        tex:
          raw`\begin{aligned} x &\leftarrow x + \mathrm{SelfAttn}\big(\mathrm{LN}(x);\ \text{causal}\big) \\ ` +
          raw`x &\leftarrow x + \mathrm{CrossAttn}\big(Q = \mathrm{LN}(x)\,W_Q,\ \ K = H W_K,\ \ V = H W_V;\ m\big) \\ ` +
          raw`x &\leftarrow x + \mathrm{MLP}\big(\mathrm{LN}(x)\big),\qquad p_\theta(\cdot \mid y_{<t}, s) = \operatorname{softmax}\big(W\,\mathrm{LN}(x_t)\big) \end{aligned}`,
      },
      {
        id: "crossAttention",
        role: "model",
        tex:
          raw`A = \operatorname{softmax}\Big(\frac{QK^\top}{\sqrt{d_k}} + m\Big) \in \mathbb{R}^{T \times S},\quad \mathrm{head} = AV,\quad m_j = \begin{cases} 0 & s_j \ne \text{PAD} \\ -\infty & s_j = \text{PAD} \end{cases}` +
          (dk != null ? raw`,\qquad d_k = \frac{${dModel}}{${heads}} = ${dk}` : ""),
      },
      {
        id: "loss",
        role: "loss",
        tex:
          raw`\mathcal{L} = -\frac{1}{N}\sum_{i \in B} \sum_{t=1}^{n_i + 1} \log p_\theta\big(y_{i,t} \mid \text{BOS}, y_{i,1}, \dots, y_{i,t-1};\ s_i\big),\qquad y_{i,n_i+1} = \text{EOS},\ \ N = \sum_{i \in B} (n_i + 1)` +
          plusPenalty(input, "W"),
      },
      optimizerFormula(input),
      {
        id: "greedy",
        role: "solution",
        tex: raw`\hat y_0 = \text{BOS},\qquad \hat y_t = \arg\max_{v}\ p_\theta\big(v \mid \hat y_0, \dots, \hat y_{t-1};\ s\big)\quad \text{until}\ \hat y_t = \text{EOS}`,
      },
    ];
    const live = lossLive(input);
    if (live) out.push(live);
    const tokens = metric(input, "val/token_accuracy") ?? resultNum(input, "val_token_accuracy");
    const sequences = metric(input, "val/sequence_accuracy") ?? resultNum(input, "val_sequence_accuracy");
    if (tokens != null) {
      out.push({
        id: "accuracy",
        role: "live",
        tex: raw`P(\hat y_t = y_t \mid y_{<t}) = ${num(tokens)}` + (sequences != null ? raw`,\qquad P(\hat y_{\text{greedy}} = y) = ${num(sequences)}` : ""),
      });
    }
    const row = crossAttentionRow(input.artifact);
    if (row) out.push({ id: "crossRow", role: "live", tex: row });
    return out;
  },
};

export const NEURAL: Record<string, KindMath> = {
  "lab.mlp": mlp,
  "lab.rbf_network": rbfNetwork,
  "lab.cnn": cnn,
  "lab.rnn": rnn,
  "lab.autoencoder": autoencoder,
  "lab.vae": vae,
  "lab.gan": gan,
  "lab.ddpm": ddpm,
  "lab.transformer": transformer,
  "lab.seq2seq": seq2seq,
};
