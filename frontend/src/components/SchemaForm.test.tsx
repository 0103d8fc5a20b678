import { act, render, screen } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import i18n from "../i18n";
import { defaultValues, schemaFields, type JsonSchema } from "../lib/schemaForm";
import { SchemaFields } from "./SchemaForm";

const SCHEMA: JsonSchema = {
  properties: {
    steps: { default: 25, description: "Denoising steps.", description_zh: "去噪步数。", title: "Steps", type: "integer" },
    eta: { default: 0, description: "DDIM's eta.", title: "Eta", type: "number" },
    loras: {
      description: "LoRAs and their weights.",
      description_zh: "LoRA 及其权重。",
      items: { $ref: "#/$defs/LoraWeight" },
      title: "Loras",
      type: "array",
    },
  },
  $defs: {
    LoraWeight: {
      properties: {
        name: { description: "File name.", description_zh: "文件名。", title: "Name", type: "string" },
        weight: { default: 1, description: "Multiplier.", title: "Weight", type: "number" },
      },
      type: "object",
    },
  },
  type: "object",
};

function renderForm() {
  const fields = schemaFields(SCHEMA);
  render(<SchemaFields fields={fields} values={defaultValues(fields)} errors={{}} onChange={() => undefined} />);
}

const help = (name: string) => document.querySelector(`[data-field="${name}"] .field__help`)!.textContent;
const parts = (name: string) =>
  [...screen.getByTestId(`parts-${name}`).querySelectorAll("div")].map((d) => [
    d.querySelector("dt")!.textContent,
    d.querySelector("dd")!.textContent,
  ]);

describe("SchemaFields", () => {
  afterEach(async () => {
    await act(() => i18n.changeLanguage("en"));
  });

  it("shows the English help in English", () => {
    renderForm();
    expect(help("steps")).toBe("Denoising steps.");
    expect(help("loras")).toBe("LoRAs and their weights.");
    expect(parts("loras")).toEqual([
      ["name", "File name."],
      ["weight", "Multiplier."],
    ]);
  });

  it("shows description_zh in Chinese, the English where there is none, and follows a switch of language", async () => {
    await act(() => i18n.changeLanguage("zh-CN"));
    renderForm();
    expect(help("steps")).toBe("去噪步数。");
    expect(help("eta")).toBe("DDIM's eta.");
    expect(help("loras")).toBe("LoRA 及其权重。");
    expect(parts("loras")).toEqual([
      ["name", "文件名。"],
      ["weight", "Multiplier."],
    ]);
    await act(() => i18n.changeLanguage("en"));
    expect(help("steps")).toBe("Denoising steps.");
  });
});
