/**
 * Prompt editing and alternation ([from:to:when], [a|b]) in the live view: a denoise event
 * carries `prompt`, the text in effect from its step on, on the first step and whenever it
 * changes (only for a prompt with such a schedule).
 */
import type { DenoisePayload } from "../../client/events";

export interface PromptSwitch {
  /** the frame's place in the list */
  index: number;
  step: number;
  /** the text in effect from this step on */
  prompt: string;
}

/** The frames at which the prompt in effect changed; the first text sent is no switch. */
export function promptSwitches(frames: readonly DenoisePayload[]): PromptSwitch[] {
  const out: PromptSwitch[] = [];
  let current: string | null = null;
  frames.forEach((f, index) => {
    if (f.prompt == null) return;
    if (current != null && f.prompt !== current) out.push({ index, step: f.step, prompt: f.prompt });
    current = f.prompt;
  });
  return out;
}

/** The prompt in effect at frames[index]: the last one sent at or before it; null: none sent. */
export function promptAt(frames: readonly DenoisePayload[], index: number): string | null {
  for (let i = Math.min(index, frames.length - 1); i >= 0; i--) {
    const text = frames[i]!.prompt;
    if (text != null) return text;
  }
  return null;
}
