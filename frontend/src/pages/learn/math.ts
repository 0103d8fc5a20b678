/** The TeX shown on the Learn page: constant strings of our own (never user input). */
export const TEX = {
  forward: String.raw`q(x_t \mid x_0) = \mathcal{N}\!\left(x_t;\ \sqrt{\bar\alpha_t}\,x_0,\ (1-\bar\alpha_t)\,\mathbf{I}\right)`,
  sample: String.raw`x_t = \sqrt{\bar\alpha_t}\,x_0 + \sqrt{1-\bar\alpha_t}\,\epsilon,\qquad \epsilon \sim \mathcal{N}(0, \mathbf{I})`,
  alphaBar: String.raw`\bar\alpha_t = \prod_{s=1}^{t} (1-\beta_s)`,
  snr: String.raw`\mathrm{SNR}(t) = \frac{\bar\alpha_t}{1-\bar\alpha_t}`,
  loss: String.raw`\mathcal{L}_{\text{simple}} = \mathbb{E}_{z_0,\,c,\,\epsilon\sim\mathcal{N}(0,\mathbf{I}),\,t}\Big[\big\lVert \epsilon - \epsilon_\theta\big(\sqrt{\bar\alpha_t}\,z_0 + \sqrt{1-\bar\alpha_t}\,\epsilon,\ t,\ \tau(c)\big)\big\rVert_2^2\Big]`,
  latent: String.raw`z_0 = \mathcal{E}(x_0)\ \ (\text{VAE encoder}),\qquad \tau(c) = \text{CLIP}(\text{tokens}(c))`,
  cfg: String.raw`\hat\epsilon = \epsilon_\theta(z_t, t, \varnothing) + w\,\big(\epsilon_\theta(z_t, t, c) - \epsilon_\theta(z_t, t, \varnothing)\big)`,
} as const;
