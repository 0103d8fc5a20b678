import { describe, expect, it } from "vitest";
import { completeWord, suggestWords, unknownWords, wordAt, wordSpans } from "./promptWords";

const WORDS = ["a", "small", "large", "red", "blue", "circle", "square", "on", "the", "left", "right", "at", "and"];

describe("the words of a prompt", () => {
  it("are runs of letters; weights, brackets, <lora:...> and BREAK are not words", () => {
    const prompt = "(a red circle:1.2) [left|right] <lora:cats:0.8> BREAK ((square)) \\(at\\) [on:the:0.5]";
    expect(wordSpans(prompt).map((s) => s.word)).toEqual(["a", "red", "circle", "left", "right", "square", "at", "on", "the"]);
    expect(wordSpans("an unclosed <lora:cats")).toHaveLength(2);
    // only the upper-case keyword is A1111's BREAK
    expect(wordSpans("break BREAK").map((s) => s.word)).toEqual(["break"]);
  });

  it("finds the word at the caret, not inside a <...> construct", () => {
    expect(wordAt("a red ci", 8)).toEqual({ word: "ci", start: 6, end: 8 });
    expect(wordAt("a red circle", 7)).toEqual({ word: "circle", start: 6, end: 12 });
    expect(wordAt("a red ", 6)).toBeNull();
    expect(wordAt("<lora:ca", 8)).toBeNull();
  });
});

describe("suggestions", () => {
  it("complete a prefix with the known words, in the model's order, case-insensitively", () => {
    expect(suggestWords(WORDS, "s")).toEqual(["small", "square"]);
    expect(suggestWords(WORDS, "A")).toEqual(["at", "and"]);
    expect(suggestWords(WORDS, "circle")).toEqual([]);
    expect(suggestWords(WORDS, "")).toEqual([]);
    expect(suggestWords([], "s")).toEqual([]);
  });

  it("replace the whole word and put the caret after it, with a space at the end of the prompt", () => {
    expect(completeWord("a red ci", { word: "ci", start: 6, end: 8 }, "circle")).toEqual({ prompt: "a red circle ", caret: 13 });
    expect(completeWord("a sq on the left", { word: "sq", start: 2, end: 4 }, "square")).toEqual({
      prompt: "a square on the left",
      caret: 8,
    });
    expect(completeWord("(a re:1.2)", { word: "re", start: 3, end: 5 }, "red")).toEqual({ prompt: "(a red:1.2)", caret: 6 });
  });
});

describe("words the model never saw", () => {
  it("are listed once each, lower-cased, in order; syntax is ignored", () => {
    expect(unknownWords("a red circle above a blue square", WORDS)).toEqual(["above"]);
    expect(unknownWords("(a red circle:1.3) Above [a|next] <lora:cats:0.8> BREAK next to a square", WORDS)).toEqual([
      "above",
      "next",
      "to",
    ]);
  });

  it("are none when the model's words are not known", () => {
    expect(unknownWords("a red circle above a blue square", [])).toEqual([]);
  });

  it("leave out the word being typed while it can still become a known word", () => {
    const prompt = "a red circ";
    expect(unknownWords(prompt, WORDS, wordAt(prompt, 10))).toEqual([]);
    expect(unknownWords(prompt, WORDS)).toEqual(["circ"]);
    const hopeless = "a red abov";
    expect(unknownWords(hopeless, WORDS, wordAt(hopeless, 10))).toEqual(["abov"]);
  });
});
