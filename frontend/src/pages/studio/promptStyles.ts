/**
 * Saved prompt styles (GET/PUT/DELETE /api/v1/styles), merged into a request's prompts as
 * A1111 merges them. The studio's POST /generations takes no `styles`: the studio merges the
 * chosen styles in before sending, so the job, the gallery and the infotext hold the merged text.
 */
import type { PromptStyle } from "../../client/types";

export const PROMPT_PLACEHOLDER = "{prompt}";

/**
 * A1111's rule (backend merge_prompts): the prompt replaces `{prompt}` in the style; a style
 * without it is appended after ", " (each side trimmed, an empty side left out).
 */
export function mergePrompts(style: string, prompt: string): string {
  if (style.includes(PROMPT_PLACEHOLDER)) return style.split(PROMPT_PLACEHOLDER).join(prompt);
  return [prompt.trim(), style.trim()].filter(Boolean).join(", ");
}

export interface MergedPrompts {
  prompt: string;
  negative_prompt: string;
}

/** The prompts with the chosen styles merged in, in the order chosen; a name not saved is skipped. */
export function applyStyles(
  prompt: string,
  negativePrompt: string,
  names: readonly string[],
  saved: readonly PromptStyle[],
): MergedPrompts {
  const byName = new Map(saved.map((s) => [s.name, s]));
  let merged: MergedPrompts = { prompt, negative_prompt: negativePrompt };
  for (const name of names) {
    const style = byName.get(name);
    if (!style) continue;
    merged = {
      prompt: mergePrompts(style.prompt, merged.prompt),
      negative_prompt: mergePrompts(style.negative_prompt, merged.negative_prompt),
    };
  }
  return merged;
}

/** What the API takes as a style's name: 1-100 characters, no slash, backslash or control character. */
export function styleNameProblem(name: string): "empty" | "long" | "chars" | null {
  if (name.trim() === "") return "empty";
  if (name.length > 100) return "long";
  if (/[\x00-\x1f/\\]/.test(name)) return "chars";
  return null;
}
