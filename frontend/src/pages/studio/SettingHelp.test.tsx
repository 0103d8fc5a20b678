import { act, fireEvent, render, screen } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import type { ModelInfo } from "../../client/types";
import { en } from "../../i18n/en";
import i18n from "../../i18n";
import { zh } from "../../i18n/zh";
import { learnAnchor } from "../train/math";
import { GenerateForm } from "./GenerateForm";
import { DEFAULT_SETTINGS } from "./settings";
import type { SettingKey } from "./SettingHelp";

const MODELS = [
  { name: "house", default: true, default_guidance: 4, resolution: { min: 32, max: 128, multiple: 8, native: 64 } },
] as unknown as ModelInfo[];

// each setting, the control its sentence describes, and the Learn page's section on it
const SETTINGS: [SettingKey, string[], string | null][] = [
  ["guidance", ["guidance"], "/learn#pipeline"],
  ["sampler", ["sampler"], `/learn#${learnAnchor("lab.diffusion_internals")}`],
  ["steps", ["steps"], "/learn#pipeline"],
  ["scheduleType", ["schedule-type"], "/learn#forward"],
  ["eta", ["eta"], `/learn#${learnAnchor("lab.diffusion_internals")}`],
  ["seed", ["seed"], null],
  ["size", ["width", "height"], "/learn#pipeline"],
  ["strength", ["strength"], "/learn#forward"],
];

function renderForm() {
  render(
    <GenerateForm
      settings={{ ...DEFAULT_SETTINGS, model: "house", mode: "img2img" }}
      onChange={() => undefined}
      onSubmit={() => undefined}
      models={MODELS}
      samplers={[]}
      busy={false}
      errors={{}}
    />,
  );
}

/** The text the control's aria-describedby points at. */
function description(testId: string): string {
  const ids = screen.getByTestId(testId).getAttribute("aria-describedby")?.split(" ") ?? [];
  return ids.map((id) => document.getElementById(id)?.textContent ?? "").join(" ");
}

describe("the studio's settings explain themselves", () => {
  afterEach(async () => {
    await act(() => i18n.changeLanguage("en"));
  });

  it("in a sentence each, which is the control's description, with a link to Learn where it has a section", () => {
    renderForm();
    for (const [setting, controls, learn] of SETTINGS) {
      const sentence = en.studio.settingHelp[setting];
      // shown by its "?" button (hovering it shows the sentence too)
      const help = screen.getByTestId(`help-${setting}`);
      const toggle = screen.getByTestId(`help-${setting}-toggle`);
      expect(help.hidden).toBe(true);
      expect(toggle.getAttribute("title")).toBe(sentence);
      fireEvent.click(toggle);
      expect(help.hidden).toBe(false);
      expect(toggle.getAttribute("aria-expanded")).toBe("true");
      expect(toggle.getAttribute("aria-controls")).toBe(help.id);
      expect(help.textContent).toContain(sentence);
      // read with the control, open or not
      for (const c of controls) expect(description(c)).toContain(sentence);
      const link = screen.queryByTestId(`help-${setting}-learn`);
      expect(link?.getAttribute("href") ?? null).toBe(learn);
    }
    expect(screen.getByTestId("help-guidance").textContent).toContain("ε̂ = ε(∅) + w·(ε(c) − ε(∅))");
    // guidance names the model's own default
    expect(description("guidance")).toContain("Empty: the model's own scale (4)");
    expect(screen.getByTestId("help-scheduleType-learn").textContent).toBe("Learn: The forward process (opens in a new tab)");
    expect(screen.getByRole("button", { name: "What Guidance scale does" })).toBe(screen.getByTestId("help-guidance-toggle"));
    fireEvent.click(screen.getByTestId("help-guidance-toggle"));
    expect(screen.getByTestId("help-guidance").hidden).toBe(true);
  });

  it("in Chinese too", async () => {
    renderForm();
    await act(() => i18n.changeLanguage("zh-CN"));
    for (const [setting, controls] of SETTINGS) {
      const sentence = zh.studio.settingHelp[setting];
      expect(sentence).not.toBe(en.studio.settingHelp[setting]);
      expect(screen.getByTestId(`help-${setting}`).textContent).toContain(sentence);
      for (const c of controls) expect(description(c)).toContain(sentence);
    }
    expect(screen.getByTestId("help-guidance").textContent).toMatch(/^无分类器引导/);
    expect(screen.getByTestId("help-scheduleType").textContent).toMatch(/^噪声调度/);
    expect(screen.getByTestId("help-steps").textContent).toContain("去噪");
    expect(screen.getByTestId("help-steps-learn").textContent).toBe(`学习页：${zh.learn.pipelineTitle}（在新标签页打开）`);
    expect(screen.getByTestId("help-eta-learn").textContent).toBe("学习页：拆开看扩散模型（在新标签页打开）");
    expect(screen.getByRole("button", { name: "引导强度的作用" })).toBe(screen.getByTestId("help-guidance-toggle"));
  });
});
