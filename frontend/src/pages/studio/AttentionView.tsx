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

/** One token's map out of a step's row of maps, filling its box. */
function TokenMap({
  src,
  crop,
  className,
  imgClassName,
  alt,
  opacity,
}: {
  src: string;
  crop: { width: string; left: string };
  className: string;
  imgClassName?: string;
  alt: string;
  opacity?: number;
}) {
  return (
    <div className={`token-crop ${className}`} style={opacity == null ? undefined : { opacity }}>
      <img className={imgClassName} src={src} alt={alt} style={crop} data-testid="attention-map" />
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
  const [gh, gw] = data.grid && data.grid.length === 2 ? data.grid : [0, 0];
  const crop = tokenCrop(tok, data.tokens.length, gw || 1, data.pad ?? 0);
  const size = gw ? ` (${gw}×${gh})` : "";

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
        {row ? (
          <TokenMap src={overlay} crop={crop} className="overlay-stack__top" alt={data.tokens[tok] ?? ""} opacity={opacity} />
        ) : (
          <img className="overlay-stack__top" src={overlay} alt={data.tokens[tok] ?? ""} style={{ opacity }} />
        )}
      </div>
      <figure className="attention__raw">
        {row ? (
          <TokenMap src={overlay} crop={crop} className="attention__cell" imgClassName="pixelated" alt="" />
        ) : (
          <img className="pixelated" src={overlay} alt="" />
        )}
        <figcaption>
          {t("studio.attentionRaw")}
          {size}
        </figcaption>
      </figure>
    </div>
  );
}
