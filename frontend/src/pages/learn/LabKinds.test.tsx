import { act, fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { MemoryRouter } from "react-router-dom";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { JobKind } from "../../client/types";
import i18n from "../../i18n";
import { installFetch } from "../../test/fakes";
import { withQueryClient } from "../../test/query";
import { LabKinds } from "./LabKinds";

const KINDS: JobKind[] = [
  {
    name: "lab.perceptron",
    title: "Perceptron",
    description: "Rosenblatt's rule on each mistake.",
    title_zh: "感知器",
    description_zh: "每次误分类时按 Rosenblatt 规则更新。",
    queue: "cpu",
    category: "lab",
    admin_only: false,
    params_schema: { properties: { eta: { type: "number", default: 0.5 }, epochs: { type: "integer", default: 30 } } },
  },
  {
    name: "lab.kmeans",
    title: "k-means",
    description: "Lloyd's algorithm.",
    queue: "cpu",
    category: "lab",
    admin_only: false,
    params_schema: { properties: { k: { type: "integer", default: 3 } } },
  },
  {
    name: "unet",
    title: "U-Net",
    description: "Not a lab kind.",
    queue: "gpu",
    category: "train",
    admin_only: true,
    params_schema: {},
  },
];

function show(path = "/learn") {
  installFetch([{ path: "/api/v1/jobs", body: { data: [{ kind: "lab.kmeans" }, { kind: "lab.kmeans" }], count: 2 } }]);
  return render(
    <MemoryRouter initialEntries={[path]}>
      <LabKinds kinds={KINDS} />
    </MemoryRouter>,
    { wrapper: withQueryClient() },
  );
}

const card = (kind: string) => document.querySelector(`[data-kind="${kind}"]`) as HTMLElement;

describe("lab kinds on the learn page", () => {
  afterEach(async () => {
    vi.restoreAllMocks();
    await act(() => i18n.changeLanguage("en"));
  });

  it("gives each lab kind a section with its formulas, opened on demand, with its defaults in them", async () => {
    show();
    expect(screen.getAllByRole("heading", { level: 3 }).map((h) => h.textContent)).toEqual(["Perceptron", "k-means"]);
    expect(card("lab.perceptron").id).toBe("lab-perceptron");
    await waitFor(() => expect(within(card("lab.kmeans")).getByText("Runs: 2")).toBeTruthy());
    expect(card("lab.perceptron").querySelector(".katex")).toBeNull();

    fireEvent.click(within(card("lab.perceptron")).getByText("Formulas"));
    const update = card("lab.perceptron").querySelector('[data-formula="update"] .katex');
    expect(update?.textContent?.replace(/[\s\u200b]/g, "")).toContain("η=0.5"); // the kind's default
    expect(card("lab.perceptron").querySelectorAll('[data-role="live"]')).toHaveLength(0);
    expect(within(card("lab.perceptron")).getByText("docs/lab.md#labperceptron")).toBeTruthy();
  });

  it("opens the section a link points to", () => {
    show("/learn#lab-kmeans");
    expect(card("lab.kmeans").className).toContain("lab-kind--open");
    expect(card("lab.kmeans").querySelector('[data-formula="assign"] .katex')).not.toBeNull();
    expect(card("lab.perceptron").className).not.toContain("lab-kind--open");
  });

  it("shows the Chinese title and description, and falls back to English where a kind has none", async () => {
    await act(() => i18n.changeLanguage("zh-CN"));
    show();
    expect(within(card("lab.perceptron")).getByRole("heading").textContent).toBe("感知器");
    expect(within(card("lab.perceptron")).getByText("每次误分类时按 Rosenblatt 规则更新。")).toBeTruthy();
    expect(within(card("lab.kmeans")).getByRole("heading").textContent).toBe("k-means");
    fireEvent.click(within(card("lab.kmeans")).getByText("公式"));
    expect(within(card("lab.kmeans")).getByText("分配步骤：每个点归入最近的簇中心。")).toBeTruthy();
  });
});
