import { act, fireEvent, render, screen, within } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import i18n from "../../i18n";
import { installFetch } from "../../test/fakes";
import { artifactView, groupArtifacts, type ArtifactItem } from "../../lib/artifacts";
import { MediaPanel } from "./MediaPanel";

vi.mock("uplot", () => ({ default: { paths: { points: () => () => null } } }));
vi.mock("../../components/UPlotChart", () => ({ colorAt: () => "#000", UPlotChart: () => <div data-testid="uplot" /> }));

const JOB = "j";
const url = (name: string) => `/api/v1/jobs/${JOB}/artifacts/${name}`;
let seq = 0;

function art(name: string, step: number | null, meta: Record<string, unknown>, kind = "image"): ArtifactItem {
  const mime = name.endsWith(".png") ? "image/png" : name.endsWith(".txt") ? "text/plain; charset=utf-8" : "application/json";
  const p = { name, step, kind: kind as ArtifactItem["kind"], mime, size: 1, meta, url: url(name) };
  return { ...p, seq: ++seq, view: artifactView(p) };
}

/** What lab.cnn writes with two conv layers, artifact_every 1 and two epochs. */
function cnnArtifacts(epochs: number): ArtifactItem[] {
  const out = [art("probe.png", null, { view: "image", title: "probe image (class 2)" })];
  const draw = (tag: string, when: string, step: number, epoch: number | null) => {
    out.push(art(`filters/${tag}.png`, step, { view: "image", title: `conv1 kernels, ${when}`, epoch }));
    for (const i of [1, 2])
      out.push(
        art(`feature_maps/${tag}/conv${i}.png`, step, {
          view: "image",
          title: `conv${i} feature maps of the probe image, ${when}`,
          epoch,
          layer: `conv${i}`,
        }),
      );
  };
  for (let e = 1; e <= epochs; e++) draw(`epoch_${String(e).padStart(5, "0")}`, `epoch ${e}`, 22 * e, e);
  draw("final", "final", 22 * epochs, null);
  out.push(art("mistakes.png", 22 * epochs, { view: "image", title: "misclassified validation images", captions: ["3→5", "8→1"], cols: 8 }));
  return out;
}

const panel = (key: string) => screen.getAllByTestId("media-group").find((g) => g.dataset.group === key)!;
const src = (el: HTMLElement) => within(el).getByRole("img").getAttribute("src");

describe("MediaPanel", () => {
  beforeEach(() => {
    installFetch([]);
  });
  afterEach(async () => {
    await act(() => i18n.changeLanguage("en"));
  });

  it("shows feature maps over epochs as one panel: a slider over epochs, buttons over layers", () => {
    render(<MediaPanel groups={groupArtifacts(cnnArtifacts(2))} jobId={JOB} />);
    expect(screen.getAllByTestId("media-group").map((g) => g.dataset.group)).toEqual(["probe.png", "filters", "feature_maps", "mistakes.png"]);
    const maps = panel("feature_maps");
    const slider = within(maps).getByRole("slider", { name: "Epoch" });
    // the newest frame first: the final model, after the last epoch's step
    expect(slider.getAttribute("aria-valuetext")).toBe("final");
    expect(within(maps).getByTestId("media-at").textContent).toBe("final · step 44");
    expect(src(maps)).toBe(url("feature_maps/final/conv1.png"));
    expect(within(maps).getByTestId("media-title").textContent).toBe("conv1 feature maps of the probe image, final");

    fireEvent.change(slider, { target: { value: "0" } });
    expect(slider.getAttribute("aria-valuetext")).toBe("epoch 1");
    expect(src(maps)).toBe(url("feature_maps/epoch_00001/conv1.png"));
    expect(within(maps).getByTestId("media-title").textContent).toBe("conv1 feature maps of the probe image, epoch 1");

    const conv2 = within(within(maps).getByRole("group", { name: "conv" })).getByRole("button", { name: "conv 2" });
    fireEvent.click(conv2);
    expect(conv2.getAttribute("aria-pressed")).toBe("true");
    expect(src(maps)).toBe(url("feature_maps/epoch_00001/conv2.png"));
    // the layer stays chosen while the slider moves
    fireEvent.change(slider, { target: { value: "1" } });
    expect(src(maps)).toBe(url("feature_maps/epoch_00002/conv2.png"));
  });

  it("follows the newest frame until the slider is moved", () => {
    const { rerender } = render(<MediaPanel groups={groupArtifacts(cnnArtifacts(1).slice(0, 2))} jobId={JOB} />);
    expect(within(panel("filters")).queryByRole("slider")).toBeNull(); // one frame: nothing to slide
    rerender(<MediaPanel groups={groupArtifacts(cnnArtifacts(3))} jobId={JOB} />);
    const filters = panel("filters");
    expect(within(filters).getByRole("slider").getAttribute("max")).toBe("3");
    expect(src(filters)).toBe(url("filters/final.png"));
  });

  it("shows titles, a caption and the captions of an image grid's tiles", () => {
    const items = [
      ...cnnArtifacts(1),
      art("reconstructions/step_000100.png", 100, { view: "image", caption: "top: originals, bottom: reconstructions" }),
    ];
    render(<MediaPanel groups={groupArtifacts(items)} jobId={JOB} />);
    expect(within(panel("probe.png")).getByTestId("media-title").textContent).toBe("probe image (class 2)");
    expect(within(panel("reconstructions")).getByTestId("media-caption").textContent).toBe("top: originals, bottom: reconstructions");
    const tiles = within(panel("mistakes.png")).getByTestId("media-captions");
    expect([...tiles.querySelectorAll("li")].map((li) => li.textContent)).toEqual(["3→5", "8→1"]);
    expect(tiles.style.gridTemplateColumns).toBe("repeat(2, 1fr)");
  });

  it("shows the title, caption and tile captions in Chinese when the UI speaks Chinese", async () => {
    const items = [
      art("probe.png", null, { view: "image", title: "probe image (class 2)", title_zh: "探针图像（类别 2）" }),
      art("mistakes.png", 22, {
        view: "image",
        title: "misclassified validation images",
        title_zh: "分错的验证集图像",
        captions: ["3→5", "8→1"],
        captions_zh: ["3→5", "8→1"],
        cols: 8,
      }),
      art("reconstructions.png", null, {
        view: "image",
        title: "the original and its rank-k approximations",
        title_zh: "原图及其秩 k 近似",
        caption: "k = 4: error 9.1%",
        caption_zh: "k = 4：误差 9.1%",
        captions: ["original, rank 32", "k = 4: error 9.1%"],
        captions_zh: ["原图，秩 32", "k = 4：误差 9.1%"],
      }),
      art("filters/final.png", 22, { view: "image", title: "conv1 kernels, final" }), // no Chinese
    ];
    await act(() => i18n.changeLanguage("zh-CN"));
    render(<MediaPanel groups={groupArtifacts(items)} jobId={JOB} />);
    const text = (key: string, id: string) => within(panel(key)).getByTestId(id).textContent;
    const tiles = (key: string) => [...within(panel(key)).getByTestId("media-captions").querySelectorAll("li")].map((li) => li.textContent);
    expect(text("probe.png", "media-title")).toBe("探针图像（类别 2）");
    expect(text("reconstructions.png", "media-title")).toBe("原图及其秩 k 近似");
    expect(text("reconstructions.png", "media-caption")).toBe("k = 4：误差 9.1%");
    expect(tiles("reconstructions.png")).toEqual(["原图，秩 32", "k = 4：误差 9.1%"]);
    expect(tiles("mistakes.png")).toEqual(["3→5", "8→1"]);
    expect(text("filters/final.png", "media-title")).toBe("conv1 kernels, final");

    await act(() => i18n.changeLanguage("en"));
    expect(text("reconstructions.png", "media-title")).toBe("the original and its rank-k approximations");
    expect(tiles("reconstructions.png")).toEqual(["original, rank 32", "k = 4: error 9.1%"]);
  });

  it("labels a sweep's frames by the swept value", () => {
    const items = [0.01, 1, 100].map((C, i) => art(`boundary/c_0${i + 1}.png`, i + 1, { view: "image", C }));
    render(<MediaPanel groups={groupArtifacts(items)} jobId={JOB} />);
    const slider = screen.getByRole("slider", { name: "C" });
    expect(slider.getAttribute("aria-valuetext")).toBe("C = 100");
    fireEvent.change(slider, { target: { value: "0" } });
    expect(slider.getAttribute("aria-valuetext")).toBe("C = 0.01");
    expect(src(panel("boundary/c"))).toBe(url("boundary/c_01.png"));
  });

  it("switches attention maps by layer and head, and says when a frame lacks one", async () => {
    const items: ArtifactItem[] = [];
    const routes = [];
    for (const [tag, when, step] of [["epoch_00001", "epoch 1", 47], ["final", "final", 94]] as const)
      for (const layer of [1, 2])
        for (const head of [1, 2]) {
          if (tag === "epoch_00001" && layer === 2 && head === 2) continue;
          const name = `attention/${tag}/layer${layer}_head${head}.json`;
          items.push(art(name, step, { view: "heatmap", epoch: null, layer, head }, "json"));
          const title = `layer ${layer}, head ${head}: attention of each query (row) over the keys (columns), ${when}`;
          routes.push({ path: url(name), body: { matrix: [[1, 0], [0.5, 0.5]], x_labels: ["1", "2"], y_labels: ["1", "2"], title } });
        }
    installFetch(routes);
    render(<MediaPanel groups={groupArtifacts(items)} jobId={JOB} />);
    const att = panel("attention");
    expect(await within(att).findByText(/^layer 1, head 1: .*, final$/)).toBeTruthy();
    fireEvent.click(within(att).getByRole("button", { name: "layer 2" }));
    fireEvent.click(within(att).getByRole("button", { name: "head 2" }));
    expect(await within(att).findByText(/^layer 2, head 2: .*, final$/)).toBeTruthy();
    fireEvent.change(within(att).getByRole("slider", { name: "Epoch" }), { target: { value: "0" } });
    expect(within(att).getByTestId("media-missing")).toBeTruthy();
    fireEvent.click(within(att).getByRole("button", { name: "head 1" }));
    expect(await within(att).findByText(/^layer 2, head 1: .*, epoch 1$/)).toBeTruthy();
  });

  it("shows the decision tree's tree and text, which it used to drop", () => {
    const items = [
      art("tree.json", null, { view: "tree" }, "json"),
      art("tree.txt", null, { view: "text" }, "text"),
      art("model.safetensors", null, {}, "checkpoint"),
    ];
    render(<MediaPanel groups={groupArtifacts(items)} jobId={JOB} />);
    expect(screen.getAllByTestId("media-group").map((g) => [g.dataset.group, g.classList.contains("media--wide")])).toEqual([
      ["tree.json", true],
      ["tree.txt", true],
    ]);
  });
});
