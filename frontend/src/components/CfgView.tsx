/**
 * Classifier-free guidance with w as a live slider (lab.diffusion_internals' cfg/steps.json,
 * meta.view "cfg"). At the chosen denoising step the clean latent x̂0(w) is recomputed in the
 * browser from the stored ε(∅), ε(c), x_t and ᾱ_t (see cfgMath.ts) and drawn through the
 * model's latent→RGB map, enlarged with nearest neighbour; beside it ‖ε(c) − ε(∅)‖, how far
 * guidance moves x̂0, and the formula with the live w.
 */
import { useEffect, useMemo, useRef, useState } from "react";
import { useTranslation } from "react-i18next";
import { formatNumber } from "../lib/format";
import { num } from "../pages/train/math/tex";
import { latentToRgba, x0ForW, x0Shift, type CfgData } from "./cfgMath";
import { Tex } from "./Tex";

const W_MAX = 15;
const W_STEP = 0.1;
const PICTURE = 192; // pixels the longer side of the latent is enlarged to, at least

const raw = String.raw;

/** The two equations with the live w and the step's ᾱ_t in them (numbers only: safe TeX). */
function formula(w: number, alphaBar: number): string {
  const eps = raw`\hat\varepsilon(w) = \varepsilon(\varnothing) + ${num(w)}\,\bigl(\varepsilon(c) - \varepsilon(\varnothing)\bigr)`;
  const x0 = raw`\hat x_0 = \frac{x_t - \sqrt{1 - ${num(alphaBar, 4)}}\;\hat\varepsilon(w)}{\sqrt{${num(alphaBar, 4)}}}`;
  return raw`${eps},\qquad ${x0}`;
}

export function CfgView({ data }: { data: CfgData }) {
  const { t } = useTranslation();
  const last = data.steps.length - 1;
  const [index, setIndex] = useState(() => Math.floor(last / 2));
  const [w, setW] = useState(() => Math.min(W_MAX, Math.max(0, Math.round(data.guidance_scale / W_STEP) * W_STEP)));
  const step = data.steps[Math.min(index, last)]!;
  const [, h, wd] = data.shape;
  const scale = Math.max(1, Math.ceil(PICTURE / Math.max(h, wd)));
  const rgba = useMemo(() => latentToRgba(x0ForW(step, w), data.shape, data.latent_rgb, scale), [step, w, data.shape, data.latent_rgb, scale]);
  const canvas = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    const ctx = canvas.current?.getContext("2d");
    if (ctx) ctx.putImageData(new ImageData(rgba, wd * scale, h * scale), 0, 0);
  }, [rgba, wd, h, scale]);

  return (
    <figure className="cfg" aria-label={t("artifacts.cfgLabel")} data-testid="cfg-view" style={{ margin: 0, display: "flex", flexDirection: "column", gap: "0.6rem" }}>
      <label className="scrubber">
        <span>
          {t("artifacts.cfgStep")}: <strong data-testid="cfg-step">{t("artifacts.cfgStepValue", { step: step.step, last, t: formatNumber(step.t) })}</strong>
        </span>
        <input type="range" min={0} max={last} step={1} value={index} onChange={(e) => setIndex(Number(e.target.value))} data-testid="cfg-step-slider" />
      </label>
      <label className="scrubber">
        <span>
          {t("artifacts.cfgW")} = <strong data-testid="cfg-w">{w.toFixed(1)}</strong>{" "}
          <span className="muted">({t("artifacts.cfgSampledWith", { w: formatNumber(data.guidance_scale) })})</span>
        </span>
        <input type="range" min={0} max={W_MAX} step={W_STEP} value={w} onChange={(e) => setW(Number(e.target.value))} data-testid="cfg-w-slider" />
      </label>
      <div style={{ display: "flex", flexWrap: "wrap", gap: "1rem", alignItems: "flex-start" }}>
        <div>
          <canvas
            ref={canvas}
            width={wd * scale}
            height={h * scale}
            data-testid="cfg-canvas"
            role="img"
            aria-label={t("artifacts.cfgImage")}
            style={{ imageRendering: "pixelated", display: "block" }}
          />
          <p className="muted" style={{ margin: "0.2rem 0 0", maxWidth: wd * scale, fontSize: "0.8rem" }}>
            {t("artifacts.cfgImage")}
            {data.stride > 1 && ` (${t("artifacts.cfgSubsampled", { stride: data.stride, h: data.latent_shape[1], w: data.latent_shape[2] })})`}
          </p>
        </div>
        <dl style={{ margin: 0, flex: "1 1 16rem" }}>
          <dt>{t("artifacts.cfgDiff")}</dt>
          <dd data-testid="cfg-diff">{formatNumber(step.diff_norm)}</dd>
          <dt>{t("artifacts.cfgShift")}</dt>
          <dd data-testid="cfg-shift">{formatNumber(x0Shift(step, w))}</dd>
        </dl>
      </div>
      <div data-testid="cfg-formula">
        <Tex tex={formula(w, step.alpha_bar)} block />
      </div>
      <p className="muted" style={{ margin: 0 }}>
        {t("artifacts.cfgHint")}
      </p>
    </figure>
  );
}
