/**
 * The words of a prompt, next to the words a model was trained on (GET /models `prompt_words`):
 * for the prompt box's suggestions and its hint about words the model never saw.
 *
 * A word is a run of letters. The prompt syntax the studio takes is not made of words and is
 * left out: weights and brackets, (word:1.2) [word] \( — their punctuation and numbers are not
 * letters —, alternation and prompt editing [a|b] [from:to:0.5] (their words are words),
 * <lora:name:0.8> and any other <...> (a file name, not a word of the prompt), and the keyword
 * BREAK (upper case only, as A1111 reads it).
 */

export interface WordSpan {
  /** the word as typed */
  word: string;
  start: number;
  end: number;
}

// a <...> construct (to the end of the text while unclosed), or a run of letters
const PIECE = /<[^>]*>?|\p{L}+/gu;
const KEYWORDS = new Set(["BREAK"]);

/** The prompt's words, in order, with where each stands. */
export function wordSpans(prompt: string): WordSpan[] {
  const out: WordSpan[] = [];
  for (const m of prompt.matchAll(PIECE)) {
    const word = m[0];
    if (word.startsWith("<") || KEYWORDS.has(word)) continue;
    out.push({ word, start: m.index, end: m.index + word.length });
  }
  return out;
}

/**
 * The word the caret is in or at the end of (null: none, or inside a <...> construct). Its
 * `word` is the whole word; the part before the caret is the prefix being typed.
 */
export function wordAt(prompt: string, caret: number): WordSpan | null {
  return wordSpans(prompt).find((s) => s.start <= caret && caret <= s.end) ?? null;
}

/** The known words that complete `prefix` (case-insensitive), in the model's order; not the prefix itself. */
export function suggestWords(known: readonly string[], prefix: string, limit = 8): string[] {
  const p = prefix.toLowerCase();
  if (!p) return [];
  return known.filter((w) => w.length > p.length && w.toLowerCase().startsWith(p)).slice(0, limit);
}

/**
 * The prompt with `span`'s word replaced by `word`, and the caret just after it; a space is added
 * when the word ends the prompt, so the next word can follow.
 */
export function completeWord(prompt: string, span: WordSpan, word: string): { prompt: string; caret: number } {
  const after = prompt.slice(span.end);
  const tail = after === "" ? " " : "";
  const text = prompt.slice(0, span.start) + word + tail + after;
  return { prompt: text, caret: span.start + word.length + tail.length };
}

/**
 * The prompt's words not among `known`, lower-cased, each once, in order of appearance. An
 * empty `known` (the model's words are not known) flags nothing. `typing` is the word being
 * typed: it is left out while it can still become a known word.
 */
export function unknownWords(prompt: string, known: readonly string[], typing: WordSpan | null = null): string[] {
  if (known.length === 0) return [];
  const vocabulary = new Set(known.map((w) => w.toLowerCase()));
  const out: string[] = [];
  for (const s of wordSpans(prompt)) {
    const word = s.word.toLowerCase();
    if (vocabulary.has(word) || out.includes(word)) continue;
    if (typing && s.start === typing.start && suggestWords(known, word, 1).length > 0) continue;
    out.push(word);
  }
  return out;
}
