/** Prompt weights of tokens, from the generation's text/tokens.json. */

export interface TokensJson {
  tokens: string[];
  ids?: number[];
  weights?: number[];
}

/** "×1.3" for a weighted token; null for weight 1 (or none). */
export function formatWeight(weight: number | undefined | null): string | null {
  if (weight == null || !Number.isFinite(weight) || Math.abs(weight - 1) < 1e-6) return null;
  return `×${Number(weight.toFixed(3))}`;
}

const SPECIAL = /^<\|?(startoftext|endoftext|pad)\|?>$/i;

/**
 * The weights of the prompt's own tokens, in order: tokens.json holds each chunk's start and end
 * tokens too, which the attention index (the prompt's tokens only) does not. Null when the two
 * lists do not line up (an older generation, another tokenizer).
 */
export function promptTokenWeights(info: TokensJson, promptTokens: readonly string[]): number[] | null {
  if (!info.weights || info.weights.length !== info.tokens.length) return null;
  // each chunk is [start, ...tokens, end]: the first and last ids name the start and end tokens
  const ids = info.ids?.length === info.tokens.length ? info.ids : null;
  const special = ids
    ? (i: number) => ids[i] === ids[0] || ids[i] === ids[ids.length - 1]
    : (i: number) => SPECIAL.test(info.tokens[i] ?? "");
  const weights = info.weights.filter((_, i) => !special(i));
  return weights.length === promptTokens.length ? weights : null;
}
