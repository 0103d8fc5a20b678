import { act, render, screen, waitFor } from "@testing-library/react";
import { MemoryRouter } from "react-router-dom";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { JobEvent } from "../../../client/events";
import i18n from "../../../i18n";
import { installFetch } from "../../../test/fakes";
import { RunMath } from "./RunMath";

let seq = 0;
const at = "2025-01-02T03:04:05Z";

function metric(step: number, values: Record<string, number>): JobEvent {
  seq += 1;
  return { seq, type: "metric", created_at: at, payload: { step, epoch: step, values } };
}

function artifact(name: string, step: number): JobEvent {
  seq += 1;
  const url = `/api/v1/jobs/j1/artifacts/${name}`;
  return { seq, type: "artifact", created_at: at, payload: { name, kind: "json", mime: "application/json", size: 100, step, url, meta: {} } };
}

function show(kind: string, params: Record<string, unknown>, events: JobEvent[], result: Record<string, unknown> | null = null) {
  return render(
    <MemoryRouter>
      <RunMath job={{ kind, params, result }} events={events} />
    </MemoryRouter>,
  );
}

/** KaTeX's text without its spacing (zero-width and other spaces), minus signs as "-". */
const plain = (s: string | null | undefined) => (s ?? "").replace(/[\s\u200b]/g, "").replace(/\u2212/g, "-");

/** The rendered text of one formula row. */
function formula(id: string): string {
  const row = document.querySelector(`[data-formula="${id}"]`);
  if (!row) throw new Error(`no formula ${id}`);
  return plain(row.querySelector(".katex")?.textContent);
}

describe("the run page's math", () => {
  afterEach(async () => {
    vi.restoreAllMocks();
    await act(() => i18n.changeLanguage("en"));
  });

  it("writes the VAE's two loss terms and β into its loss, and follows new epochs", () => {
    const first = [metric(10, { "train/loss": 40, "train/recon": 30.5, "train/kl": 4.25, "val/recon": 31, "val/kl": 4, "val/elbo": -35 })];
    const { rerender } = show("lab.vae", { beta: 2, optimizer: "adam", lr: 0.005 }, first);
    expect(formula("termsTrain")).toContain("30.5");
    expect(formula("termsTrain")).toContain("4.25");
    expect(formula("termsTrain")).toContain("=39"); // 30.5 + 2 × 4.25
    expect(formula("termsVal")).toContain("=39"); // 31 + 2 × 4
    expect(formula("loss")).toContain("β=2");
    expect(formula("optimizer_adam")).toContain("η=0.005");
    expect(screen.getByText("The two terms of the training loss at step 10, with this run's β.")).toBeTruthy();

    const later = [...first, metric(20, { "train/recon": 20.5, "train/kl": 6 })];
    rerender(
      <MemoryRouter>
        <RunMath job={{ kind: "lab.vae", params: { beta: 2 }, result: null }} events={later} />
      </MemoryRouter>,
    );
    expect(formula("termsTrain")).toContain("20.5");
    expect(formula("termsTrain")).toContain("=32.5");
  });

  it("shows the GAN's discriminator and generator losses beside their equilibrium", () => {
    show("lab.gan", { optimizer: "adam", lr: 0.002, d_steps: 2, noise_dim: 8 }, [
      metric(40, { "train/d_loss": 1.31, "train/g_loss": 0.842, "train/d_real": 0.55, "train/d_fake": 0.47, "val/mmd": 0.0123 }),
    ]);
    expect(formula("losses")).toContain("LD=1.31");
    expect(formula("losses")).toContain("LG=0.842");
    expect(formula("scores")).toContain("0.55");
    expect(formula("scores")).toContain("0.47");
    expect(formula("update")).toContain("2×");
    expect(formula("optimizer_adam")).toContain("β1=0.5");
  });

  it("writes linear regression's fitted coefficients, live when reported, else from the result", () => {
    const params = { methods: ["normal", "batch"], lr: 0.05, degree: 1, scaling: "standard" };
    const { unmount } = show("lab.linear_regression", params, [metric(5, { "train/mse_batch": 0.0312, "val/mse_batch": 0.041 })], {
      theta: { normal: [-0.5, 1.5], batch: [-0.48, 1.47] },
    });
    expect(formula("mse")).toContain("0.0312");
    expect(formula("update")).toContain("η=0.05");
    const fits = [...document.querySelectorAll('[data-formula="fitFinal"] .katex')].map((e) => plain(e.textContent));
    expect(fits).toEqual(["normal:y^=1.5x~-0.5", "batch:y^=1.47x~-0.48"]);
    unmount();

    show("lab.linear_regression", params, [metric(7, { "param/batch/theta_0": 0.25, "param/batch/theta_1": 2.5 })]);
    expect(formula("fit")).toBe("batch:y^=2.5x~+0.25");
  });

  it("writes logistic regression's current w and b into σ(wᵀx + b)", () => {
    show("lab.logistic_regression", { optimizer: "sgd", lr: 0.1, degree: 1 }, [
      metric(3, { "train/loss": 0.41, "val/loss": 0.45, "param/w_1": 1.25, "param/w_2": -0.75, "param/b": 0.125 }),
    ]);
    expect(formula("fit")).toContain("σ(1.25x~1-0.75x~2+0.125)");
    expect(formula("lossLive")).toContain("0.41");
  });

  it("writes the perceptron's update on its last mistake", () => {
    show("lab.perceptron", { eta: 0.5 }, [
      metric(4, { "train/mistakes": 2, "param/w_1": 1, "param/w_2": 0.5, "param/b": -0.5, "mistake/x_1": 2, "mistake/x_2": -1, "mistake/t": -1 }),
    ]);
    // w before = w − η·t·x = (1, 0.5) + 0.5·(2, −1) = (2, 0); b before = −0.5 + 0.5 = 0
    expect(formula("lastMistake")).toBe("w←(2,0)+0.5⋅(-1)⋅(2,-1)=(1,0.5),b←0-0.5=-0.5");
    expect(formula("mistakes")).toContain("∣M∣=2");
  });

  it("reads k-means' centroids and cluster sizes from the newest cluster snapshot", async () => {
    installFetch([
      {
        path: "/api/v1/jobs/j1/artifacts/clusters/iter_002.json",
        body: {
          points: [[0, 0], [1, 0], [4, 4], [0.5, 0], [4, 4]],
          labels: [0, 0, 1, 2, 2],
          label_names: ["cluster 0", "cluster 1", "centroid"],
          title: "iteration 2",
        },
      },
    ]);
    show("lab.kmeans", { k: 2, init: "kmeans++" }, [
      metric(1, { "train/inertia": 50, reassigned: 30, centroid_shift: 1.5 }),
      artifact("clusters/iter_001.json", 1),
      metric(2, { "train/inertia": 12.5, reassigned: 3, centroid_shift: 0.25 }),
      artifact("clusters/iter_002.json", 2),
      artifact("inertia.json", 3),
    ]);
    expect(formula("inertia")).toContain("J=12.5");
    expect(formula("inertia")).toContain("=3");
    await waitFor(() => expect(document.querySelector('[data-formula="centroids"]')).not.toBeNull());
    expect(formula("centroids")).toContain("μ1=(0.5,0),∣C1∣=2");
    expect(formula("centroids")).toContain("μ2=(4,4),∣C2∣=1");
  });

  it("writes PCA's explained-variance ratios and the share the kept axes hold", () => {
    show("lab.pca", { n_components: 2 }, [
      metric(1, { explained_variance_ratio: 0.73, cumulative_explained_variance: 0.73, reconstruction_mse: 0.9 }),
      metric(2, { explained_variance_ratio: 0.23, cumulative_explained_variance: 0.96, reconstruction_mse: 0.125 }),
      metric(3, { explained_variance_ratio: 0.04, cumulative_explained_variance: 1, reconstruction_mse: 0 }),
    ]);
    expect(formula("ratios")).toContain("r1=0.73");
    expect(formula("ratios")).toContain("r2=0.23");
    expect(formula("ratios")).toContain("r3=0.04");
    expect(formula("ratios")).toContain("=0.96");
    expect(formula("reconstruction")).toContain("0.125");
  });

  it("writes the transformer's attention softmax with the probe's real weights under their tokens", async () => {
    installFetch([
      {
        path: "/api/v1/jobs/j1/artifacts/attention/epoch_00005/layer2_head1.json",
        body: { matrix: [[1, 0, 0], [0.5, 0.5, 0], [0.1, 0.15, 0.75]], x_labels: ["3", "|", "3"], y_labels: ["3", "|", "3"] },
      },
    ]);
    show("lab.transformer", { d_model: 32, n_heads: 4, seq_len: 6 }, [
      artifact("attention/epoch_00001/layer1_head1.json", 1),
      artifact("attention/epoch_00005/layer1_head1.json", 5),
      artifact("attention/epoch_00005/layer2_head1.json", 5),
      artifact("attention/epoch_00005/layer2_head2.json", 5),
    ]);
    expect(formula("attention")).toContain("dk=432=8");
    await waitFor(() => expect(document.querySelector('[data-formula="rowWeights"]')).not.toBeNull());
    const row = formula("rowWeights");
    for (const v of ["0.1", "0.15", "0.75"]) expect(row).toContain(v);
    expect(row).toContain("=1");
  });

  it("writes the seq2seq decoder's cross-attention over the padded source, with its teacher-forced loss and accuracies", async () => {
    installFetch([
      {
        path: "/api/v1/jobs/j1/artifacts/cross_attention/final/layer2_head1.json",
        body: {
          matrix: [
            [0.05, 0.1, 0.85, 0, 0],
            [0.1, 0.8, 0.1, 0, 0],
            [0.7, 0.2, 0.1, 0, 0],
            [0.4, 0.3, 0.3, 0, 0],
          ],
          x_labels: ["4", "7", "2", "·", "·"],
          y_labels: ["2", "7", "4", "<eos>"],
        },
      },
    ]);
    show("lab.seq2seq", { task: "reverse", d_model: 32, n_heads: 4, n_layers: 2, min_len: 2, max_len: 6, optimizer: "adam", lr: 0.003 }, [
      metric(1, { "train/loss": 1.9, "val/loss": 1.7, "val/token_accuracy": 0.4, "val/sequence_accuracy": 0.05 }),
      artifact("cross_attention/epoch_00001/layer2_head1.json", 1),
      metric(8, { "train/loss": 0.0625, "val/loss": 0.0875, "val/token_accuracy": 0.984, "val/sequence_accuracy": 0.965 }),
      artifact("cross_attention/final/layer1_head1.json", 8),
      artifact("cross_attention/final/layer2_head1.json", 8),
      artifact("cross_attention/final/layer2_head2.json", 8),
    ]);
    expect(formula("crossAttention")).toContain("dk=432=8");
    expect(formula("task_reverse")).toContain("n∈{2,…,6}");
    expect(formula("lossLive")).toContain("Ltrain=0.0625");
    expect(formula("lossLive")).toContain("Lval=0.0875");
    expect(formula("accuracy")).toContain("=0.984");
    expect(formula("accuracy")).toContain("=0.965");
    expect(formula("optimizer_adam")).toContain("η=0.003");
    await waitFor(() => expect(document.querySelector('[data-formula="crossRow"]')).not.toBeNull());
    // y₁ = "2" reads the last real source token; both PAD keys get exactly 0 (each label is set above its weight)
    const row = formula("crossRow");
    expect(row).toContain("(40.05,70.1,20.85,PAD0,PAD0)");
    expect(row).toContain("∑A1j=1");
    expect(row).toContain("y1=2");
    expect(screen.getByText(/The probe pair's first output token in the newest map/)).toBeTruthy();
  });

  it("writes the probability lab's Beta and Gaussian posteriors, KL beside its Monte-Carlo estimate, and the ELBO's terms", () => {
    const params = {
      part: "all",
      prior_a: 2,
      prior_b: 3,
      credible_mass: 0.9,
      prior_mean: 0,
      prior_std: 2,
      noise_std: 1,
      p_mean: 0,
      p_std: 1,
      q_mean: 1,
      q_std: 2,
    };
    const coin = (n: number, heads: number, lo: number, hi: number) =>
      metric(n, {
        "coin/posterior_mean": (2 + heads) / (5 + n),
        "coin/ci_low": lo,
        "coin/ci_high": hi,
        "coin/map": (1 + heads) / (3 + n),
        ...(n > 0 ? { "coin/mle": heads / n } : {}),
        "coin/true_p": 0.7,
      });
    const gaussian = (n: number, mean: number, std: number, mle: number) =>
      metric(n, { "gaussian/posterior_mean": mean, "gaussian/posterior_std": std, "gaussian/ci_low": mean - 1.645 * std, "gaussian/ci_high": mean + 1.645 * std, "gaussian/mle": mle, "gaussian/true_mean": 1.5 });
    const kl = (n: number, mc: number, se: number) =>
      metric(n, {
        "kl/p_q/closed_form": 0.4431,
        "kl/p_q/monte_carlo": mc,
        "kl/p_q/std_error": se,
        "kl/q_p/closed_form": 1.3069,
        "kl/q_p/monte_carlo": 1.25,
        "kl/q_p/std_error": 0.125,
      });
    show("lab.probability", params, [
      coin(0, 0, 0.1, 0.8),
      coin(9, 6, 0.3, 0.75),
      coin(11, 7, 0.375, 0.8125),
      gaussian(1, 0.8, 0.894, 1),
      // 1/τ² = 1/4 + 4/1 = 4.25: μ₄ = (0.25·0 + 4·1.7)/4.25 = 1.6
      gaussian(4, 1.6, 0.485, 1.7),
      kl(10, 0.5, 0.25),
      kl(1000, 0.4375, 0.0125),
    ], {
      coin_heads: 7,
      elbo_log_evidence: -45.2,
      elbo_at_posterior: -45.2,
      elbo_reconstruction_at_posterior: -43.1,
      elbo_kl_prior_at_posterior: 2.1,
      gaussian_posterior_mean: 1.6,
      gaussian_posterior_std: 0.485,
    });
    // Beta(2 + 7, 3 + 11 − 7) = Beta(9, 7), mean 9/16
    expect(formula("coinLive")).toContain("Beta(2+7,3+11-7)=Beta(9,7)");
    expect(formula("coinLive")).toContain("=0.563");
    expect(formula("coinLive")).toContain("P(0.375≤θ≤0.813∣x)=0.9");
    expect(screen.getByText("After 11 flips with 7 heads: this run's posterior, its mean, the central credible interval, the MAP and MLE estimates, and the true θ.")).toBeTruthy();
    expect(formula("gaussLive")).toContain("=4.25⇒τn=0.485");
    expect(formula("gaussLive")).toContain("μn=0.0588⋅0+0.941⋅1.7=1.6");
    expect(formula("klDef")).toContain("p=N(0,12),q=N(1,22)");
    expect(formula("klLive")).toContain("=0.443");
    expect(formula("klLive")).toContain("KL1000=0.438±0.0125");
    expect(formula("klLive")).toContain("=1.31");
    // log p(x) = reconstruction − KL(q ‖ prior) + KL(q ‖ posterior), the last 0 at q = the posterior
    expect(formula("elboLive")).toContain("q=N(1.6,0.4852)");
    expect(formula("elboLive")).toContain("-45.2=Eq[logp(x∣μ)]-43.1-KL(q∥p(μ))2.1+KL(q∥p(μ∣x))0");
    expect(formula("elboLive")).toContain("ELBO=-45.2");
  });

  it("writes the sampler's reverse-step coefficients of a diffusion generation at the step they belong to", () => {
    show("lab.diffusion_internals", { sampler: "DDIM", guidance_scale: 7.5 }, [
      metric(3, { "reverse/alpha_bar": 0.25, "reverse/coef_x0": 0.5, "reverse/coef_eps": 0.75, "reverse/sigma": 0, "cfg/x0_shift_per_w": 0.125, "cfg/eps_diff_rms": 0.0625 }),
      metric(4, { "reverse/alpha_bar": 0.5, "reverse/coef_x0": 0.625, "reverse/coef_eps": 0.375, "reverse/sigma": 0, "cfg/x0_shift_per_w": 0.25, "cfg/eps_diff_rms": 0.25 }),
      // the latent explorer reports last, at step 0
      metric(0, { "latent/pixel_values": 12288, "latent/latent_values": 1024 }),
    ]);
    expect(formula("cfg")).toContain("w=7.5");
    expect(formula("reverseLive")).toContain("xprev=0.625x^0+0.375ϵ~+0z");
    expect(screen.getByText("The coefficients this run's sampler used at step 4, beside DDPM's on the same pair of steps.")).toBeTruthy();
    expect(formula("latent")).toContain("=12");
  });

  it("falls back to the optimizer and the losses for a kind without formulas", () => {
    show("lab.not_written_yet", { optimizer: "rmsprop", lr: 0.001 }, [metric(9, { "train/loss": 0.25 })]);
    expect(formula("optimizer_rmsprop")).toContain("η=0.001");
    expect(formula("lossLive")).toContain("0.25");
    expect(screen.getByTestId("math-learn-link").getAttribute("href")).toBe("/learn#lab");
  });

  it("links to the kind's learn section and docs, and explains in Chinese", async () => {
    await act(() => i18n.changeLanguage("zh-CN"));
    show("lab.ddpm", { num_train_timesteps: 100 }, []);
    expect(screen.getByTestId("math-learn-link").getAttribute("href")).toBe("/learn#lab-ddpm");
    expect(screen.getByRole("link", { name: "前向加噪过程" }).getAttribute("href")).toBe("/learn#forward");
    expect(screen.getByTestId("math-docs").textContent).toBe("docs/lab.md#labddpm");
    expect(screen.getByRole("heading").textContent).toBe("数学原理");
    expect(screen.getByText("前向加噪过程可以从干净图像一步跳到第 t 步；到 t = T 时几乎不剩信号。")).toBeTruthy();
  });
});
