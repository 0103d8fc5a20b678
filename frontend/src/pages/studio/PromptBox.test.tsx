import { act, fireEvent, render, screen, within } from "@testing-library/react";
import { useState } from "react";
import { describe, expect, it } from "vitest";
import type { ModelInfo } from "../../client/types";
import { GenerateForm } from "./GenerateForm";
import { DEFAULT_SETTINGS, type StudioSettings } from "./settings";

const HOUSE_WORDS = ["a", "small", "large", "red", "green", "blue", "purple", "circle", "square", "diamond"];
const HOUSE_WORDS_2 = ["on", "the", "left", "right", "at", "top", "and", "black", "background"];
const MODELS = [
  {
    name: "house",
    default: true,
    default_guidance: 4,
    resolution: { min: 32, max: 128, multiple: 8, native: 64 },
    prompt_words: [...HOUSE_WORDS, ...HOUSE_WORDS_2],
    prompt_examples: ["a red circle on the left", "a green diamond on the left and a purple circle on the right"],
  },
  { name: "sd", default: false, default_guidance: 7.5, resolution: { min: 256, max: 768, multiple: 8, native: 512 }, prompt_words: [], prompt_examples: [] },
] as unknown as ModelInfo[];

let current: StudioSettings = DEFAULT_SETTINGS;

function Studio({ model = "house" }: { model?: string }) {
  const [settings, setSettings] = useState<StudioSettings>({ ...DEFAULT_SETTINGS, model });
  current = settings;
  return (
    <GenerateForm settings={settings} onChange={setSettings} onSubmit={() => undefined} models={MODELS} samplers={[]} busy={false} errors={{}} />
  );
}

const box = () => screen.getByTestId("prompt") as HTMLTextAreaElement;

/** Focus the box and type `text` into it: the caret ends up after it, as when typing. */
function type(text: string) {
  act(() => box().focus());
  fireEvent.change(box(), { target: { value: text } });
}

/** The suggested words (the form's selects have options too). */
const suggested = () => {
  const list = screen.queryByTestId("prompt-words");
  return list ? within(list).getAllByRole("option") : [];
};
const options = () => suggested().map((o) => o.textContent);

describe("the prompt box", () => {
  it("suggests the model's words for the word being typed and completes it by keyboard", () => {
    render(<Studio />);
    type("a red circle on the left and a s");
    expect(screen.getByRole("listbox", { name: "Words the model knows" })).toBeTruthy();
    expect(options()).toEqual(["small", "square"]);
    // the first is chosen; the arrows move the choice (and wrap), the box points at it
    const chosen = () => suggested().find((o) => o.getAttribute("aria-selected") === "true")!;
    expect(chosen().textContent).toBe("small");
    fireEvent.keyDown(box(), { key: "ArrowDown" });
    expect(chosen().textContent).toBe("square");
    expect(box().getAttribute("aria-activedescendant")).toBe(chosen().id);
    fireEvent.keyDown(box(), { key: "ArrowDown" });
    expect(chosen().textContent).toBe("small");
    fireEvent.keyDown(box(), { key: "ArrowUp" });
    fireEvent.keyDown(box(), { key: "Enter" });
    expect(current.prompt).toBe("a red circle on the left and a square ");
    expect(box().selectionStart).toBe(current.prompt.length);
    expect(screen.queryByRole("listbox")).toBeNull();

    // Tab completes the first; the case typed does not matter
    type("a Pu");
    fireEvent.keyDown(box(), { key: "Tab" });
    expect(current.prompt).toBe("a purple ");
  });

  it("completes a word in the middle of the prompt, closes on Escape, and takes a click", () => {
    render(<Studio />);
    type("a bl circle");
    act(() => box().setSelectionRange(4, 4));
    fireEvent.select(box());
    expect(options()).toEqual(["blue", "black"]);
    fireEvent.keyDown(box(), { key: "Escape" });
    expect(screen.queryByRole("listbox")).toBeNull();
    // Enter is a plain key again while the list is closed
    fireEvent.keyDown(box(), { key: "Enter" });
    expect(current.prompt).toBe("a bl circle");

    // another letter opens it again; a click completes the whole word, caret after it
    type("a bla circle");
    act(() => box().setSelectionRange(5, 5));
    fireEvent.select(box());
    expect(options()).toEqual(["black"]);
    fireEvent.click(within(screen.getByTestId("prompt-words")).getByRole("option", { name: "black" }));
    expect(current.prompt).toBe("a black circle");
    expect(box().selectionStart).toBe(7);

    // the list is for the box with focus only
    type("a sm");
    expect(options()).toEqual(["small"]);
    fireEvent.blur(box());
    expect(screen.queryByRole("listbox")).toBeNull();
  });

  it("offers the model's example prompts, and the first as the placeholder", () => {
    render(<Studio />);
    expect(box().placeholder).toBe("a red circle on the left");
    const examples = screen.getAllByTestId("prompt-example");
    expect(examples.map((b) => b.textContent)).toEqual(MODELS[0]!.prompt_examples);
    fireEvent.click(examples[1]!);
    expect(current.prompt).toBe("a green diamond on the left and a purple circle on the right");
    expect(box().value).toBe(current.prompt);
  });

  it("names the words the model never saw, without blocking the prompt", () => {
    render(<Studio />);
    type("a red circle above a blue square");
    const hint = screen.getByTestId("prompt-unknown");
    expect(hint.textContent).toMatch(/^the model never saw: above /);
    expect(box().getAttribute("aria-describedby")).toContain(hint.id);
    expect((screen.getByTestId("generate") as HTMLButtonElement).disabled).toBe(false);

    // prompt syntax is not words: weights, alternation, LoRAs, BREAK
    type("(a red circle:1.2) [above|next] <lora:cats:0.8> BREAK a square");
    expect(screen.getByTestId("prompt-unknown").textContent).toMatch(/never saw: above, next /);

    type("a red circle on the left");
    expect(screen.queryByTestId("prompt-unknown")).toBeNull();
  });

  it("offers nothing for a model whose words are not known", () => {
    render(<Studio model="sd" />);
    expect(box().placeholder).toBe("Describe the picture you want");
    expect(box().getAttribute("aria-autocomplete")).toBeNull();
    type("a red ci");
    expect(screen.queryByRole("listbox")).toBeNull();
    type("a red circle above a blue square");
    expect(screen.queryByTestId("prompt-unknown")).toBeNull();
    expect(screen.queryByTestId("prompt-example")).toBeNull();
  });

  it("follows the selected model", () => {
    render(<Studio model="sd" />);
    expect(screen.queryByTestId("prompt-example")).toBeNull();
    fireEvent.change(screen.getByTestId("model"), { target: { value: "house" } });
    expect(screen.getAllByTestId("prompt-example")).toHaveLength(2);
    type("a sq");
    expect(options()).toEqual(["square"]);
  });
});
