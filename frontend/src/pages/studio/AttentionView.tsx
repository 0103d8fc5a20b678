/** Per-token cross-attention over the image: pick a word of the prompt and a denoising step. */
import { useEffect, useState } from "react";
import { useTranslation } from "react-i18next";
import { artifactUrl } from "../../client";
import { useJson } from "../../hooks/useJson";
import { tokenCrop } from "./batchCrop";
import { fillPattern } from "../../lib/pattern";
import { promptTokenWeights, type TokensJson } from "./tokenWeights";
import { WeightBadge } from "./WeightBadge";

export interface AttentionIndex {
  tokens: string[];
  steps: number[];
  pattern: string;
  /** [h, w] of the maps: the U-Net's latent grid (absent in older generations, whose maps are image-sized) */
  grid?: number[];
  /** "row": one picture per step, the tokens' maps side by side in token order (older generations: one file per token) */
  layout?: string;
  /** "row": columns of edge padding either side of each map */
  pad?: number;
}

/** A step's map: with `crop`, one token's map out of the step's row of maps, filling its box;
 * without (older generations), the token's own file. */
function MapImage({
  src,
  crop,
  className,
  imgClassName,
  alt,
  opacity,
  onLoad,
}: {
  src: string;
  crop: { width: string; left: string } | null;
  className: string;
  imgClassName?: string;
  alt: string;
  opacity?: number;
  onLoad?: (img: HTMLImageElement) => void;
}) {
  const style = opacity == null ? undefined : { opacity };
  if (!crop) return <img className={[className, imgClassName].filter(Boolean).join(" ")} src={src} alt={alt} style={style} />;
  return (
    <div className={`token-crop ${className}`} style={style}>
      <img className={imgClassName} src={src} alt={alt} style={crop} onLoad={(e) => onLoad?.(e.currentTarget)} data-testid="attention-map" />
    </div>
  );
}

/** Tokens worth offering: CLIP's start/end/padding tokens carry no word. */
function isWordToken(tok: string): boolean {
  return !/^<\|?(startoftext|endoftext|pad)\|?>$/i.test(tok) && tok.trim() !== "";
}

export function AttentionView({
  indexUrl,
  jobId,
  baseImage,
}: {
  indexUrl: string;
  jobId: string;
  baseImage: string | null;
}) {
  const { t } = useTranslation();
  const { data, error } = useJson<AttentionIndex>(indexUrl);
  // the prompt weights, (word:1.3), from the text encoder's artifact (absent in older generations)
  const { data: tokensJson } = useJson<TokensJson>(artifactUrl(jobId, "text/tokens.json"));
  const weights = data && tokensJson ? promptTokenWeights(tokensJson, data.tokens) : null;
  const [tok, setTok] = useState<number | null>(null);
  const [stepIdx, setStepIdx] = useState<number | null>(null);
  const [opacity, setOpacity] = useState(0.65);
  // the loaded row's size: hires fix's two passes have maps on two grids, so the index's grid
  // (the last pass's) is only a first guess for a step's row
  const [loaded, setLoaded] = useState<{ src: string; width: number; height: number } | null>(null);

  useEffect(() => {
    if (!data) return;
    const firstWord = data.tokens.findIndex(isWordToken);
    setTok(firstWord >= 0 ? firstWord : 0);
    setStepIdx(data.steps.length - 1);
  }, [data]);

  if (error) return <p className="error">{error}</p>;
  if (!data || tok == null || stepIdx == null) return <p className="muted">{t("common.loading")}</p>;
  const step = data.steps[stepIdx] ?? 0;
  const row = data.layout === "row";
  const overlay = artifactUrl(jobId, fillPattern(data.pattern, row ? { step } : { step, tok }));
  const pad = data.pad ?? 0;
  const shown = loaded?.src === overlay ? loaded : null;
  const [gh, gw] = shown
    ? [shown.height, shown.width / Math.max(1, data.tokens.length) - 2 * pad]
    : data.grid && data.grid.length === 2
      ? data.grid
      : [0, 0];
  const crop = row ? tokenCrop(tok, data.tokens.length, gw || 1, pad) : null;
  const size = gw ? ` (${gw}×${gh})` : "";
  const measure = (img: HTMLImageElement) => setLoaded({ src: img.getAttribute("src") ?? "", width: img.naturalWidth, height: img.naturalHeight });

  return (
    <div className="attention">
      <div className="tokens" role="group" aria-label={t("studio.tokens")}>
        {data.tokens.map((word, i) =>
          isWordToken(word) ? (
            <button
              key={i}
              type="button"
              className="token"
              aria-pressed={i === tok}
              data-testid="attention-token"
              onClick={() => setTok(i)}
            >
              {word}
              <WeightBadge weight={weights?.[i]} />
            </button>
          ) : null,
        )}
      </div>
      <div className="grid2">
        <label className="scrubber">
          <span>{t("studio.attentionStep", { step: step + 1 })}</span>
          <input
            type="range"
            min={0}
            max={data.steps.length - 1}
            value={stepIdx}
            onChange={(e) => setStepIdx(Number(e.target.value))}
            data-testid="attention-step"
          />
        </label>
        <label className="scrubber">
          <span>{t("studio.overlayOpacity")}</span>
          <input type="range" min={0} max={1} step={0.05} value={opacity} onChange={(e) => setOpacity(Number(e.target.value))} />
        </label>
      </div>
      <div className="overlay-stack">
        {baseImage && <img className="pixelated" src={baseImage} alt="" />}
        {/* the map is measured on the latent grid: scaled smoothly over the picture */}
        <MapImage src={overlay} crop={crop} className="overlay-stack__top" alt={data.tokens[tok] ?? ""} opacity={opacity} onLoad={measure} />
      </div>
      <figure className="attention__raw">
        <MapImage src={overlay} crop={crop} className="attention__cell" imgClassName="pixelated" alt="" />
        <figcaption>
          {t("studio.attentionRaw")}
          {size}
        </figcaption>
      </figure>
    </div>
  );
}
