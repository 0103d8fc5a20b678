import { describe, expect, it } from "vitest";
import type { ArtifactPayload } from "../client/events";
import {
  artifactView,
  frameLabel,
  groupArtifacts,
  metaCaptions,
  metaText,
  parseName,
  plotAxes,
  variantAt,
  type ArtifactItem,
} from "./artifacts";
import { fillPattern } from "./pattern";

const a = (name: string, step: number | null, meta: Record<string, unknown> = {}): ArtifactPayload => ({
  name,
  step,
  kind: "image",
  mime: "image/png",
  size: 1,
  meta,
  url: "",
});

let seq = 0;
const item = (name: string, step: number | null, meta: Record<string, unknown> = {}, view = "image"): ArtifactItem => {
  const p = a(name, step, { view, ...meta });
  return { ...p, seq: ++seq, view: artifactView(p) };
};

describe("artifact series", () => {
  it("groups the same picture over training by its name without the step", () => {
    expect(parseName(a("boundary/step_000010.png", 10))).toEqual({ series: "boundary", frame: { counter: "step", index: 10 }, variant: "" });
    expect(parseName(a("clusters/iter_003.json", 3)).series).toBe("clusters");
    expect(parseName(a("samples/recon_0042.png", 42)).series).toBe("samples/recon");
    expect(parseName(a("confusion_5.json", 5)).series).toBe("confusion");
    expect(parseName(a("samples/fake_grid_0042.png", 42)).series).toBe("samples/fake_grid");
    // names of kinds being written: the counter word alone marks the frame, step or not
    expect(parseName(a("paths/step_00010.png", null))).toEqual({ series: "paths", frame: { counter: "step", index: 10 }, variant: "" });
    expect(parseName(a("mixture/epoch_00005.png", 250)).frame).toEqual({ counter: "epoch", index: 5 });
    // one-off artifacts stay themselves
    expect(parseName(a("final/image_0.png", null))).toEqual({ series: "final/image_0.png", frame: null, variant: "" });
    expect(parseName(a("probe.png", null)).frame).toBeNull();
    expect(parseName(a("confusion_5.json", null)).frame).toBeNull();
  });

  it("reads the epoch from a folder and the layer or head from the file below it", () => {
    expect(parseName(a("feature_maps/epoch_00002/conv1.png", 44))).toEqual({
      series: "feature_maps",
      frame: { counter: "epoch", index: 2 },
      variant: "conv1",
    });
    expect(parseName(a("attention/final/layer2_head1.json", 94))).toEqual({
      series: "attention",
      frame: { counter: "", index: null },
      variant: "layer2_head1",
    });
    expect(parseName(a("attention/step_003_tok_02.png", 3))).toEqual({
      series: "attention",
      frame: { counter: "step", index: 3 },
      variant: "tok_02",
    });
  });

  it("makes one group per series with the epochs in order and the final model last", () => {
    // the order lab.transformer writes them in (two layers, two heads, epochs 1 and 2, final)
    const items: ArtifactItem[] = [item("positional_encoding.json", null, {}, "heatmap")];
    for (const [tag, step] of [["epoch_00001", 47], ["epoch_00002", 94], ["final", 94]] as const)
      for (const layer of [1, 2])
        for (const head of [1, 2])
          items.push(item(`attention/${tag}/layer${layer}_head${head}.json`, step, { layer, head }, "heatmap"));
    const groups = groupArtifacts(items);
    expect(groups.map((g) => g.key)).toEqual(["positional_encoding.json", "attention"]);
    const att = groups[1]!;
    expect(att.frames.map((f) => frameLabel(f))).toEqual([{ kind: "epoch", n: 1 }, { kind: "epoch", n: 2 }, { kind: "final" }]);
    expect(att.variants).toEqual(["layer1_head1", "layer1_head2", "layer2_head1", "layer2_head2"]);
    expect(att.axes).toEqual([
      { name: "layer", values: [1, 2] },
      { name: "head", values: [1, 2] },
    ]);
    expect(variantAt(att, [2, 1])).toBe("layer2_head1");
    expect(att.frames[1]!.items.get("layer2_head1")!.name).toBe("attention/epoch_00002/layer2_head1.json");
    expect(att.items).toHaveLength(12);
  });

  it("joins a final frame only to a series with numbered frames", () => {
    const groups = groupArtifacts([
      item("filters/epoch_00001.png", 22),
      item("filters/final.png", 44),
      // lab.svm: the sweep over C, then the final model at the chosen C (no step)
      item("boundary/c_01.png", 1, { C: 0.01 }),
      item("boundary/c_02.png", 2, { C: 1.0 }),
      item("boundary/final.png", null, { C: 1.0 }),
    ]);
    expect(groups.map((g) => [g.key, g.frames.length])).toEqual([
      ["filters", 2],
      ["boundary/c", 2],
      ["boundary/final.png", 1],
    ]);
    expect(groups[1]!.frames.map(frameLabel)).toEqual([
      { kind: "value", name: "C", value: 0.01 },
      { kind: "value", name: "C", value: 1 },
    ]);
  });

  it("orders frames by step, keeps the newest of a repeated frame and splits views", () => {
    const groups = groupArtifacts([
      item("samples/epoch_00010.png", 100),
      item("samples/epoch_00002.png", 20),
      item("samples/epoch_00002.png", 20, { title: "again" }),
      item("boundary/depth_03.png", 3),
      item("similarity/step_000100.json", 100, {}, "heatmap"),
      item("similarity/step_000100.png", 100),
    ]);
    const samples = groups[0]!;
    expect(samples.frames.map((f) => f.index)).toEqual([2, 10]);
    expect(samples.frames[0]!.items.get("")!.meta!.title).toBe("again");
    expect(frameLabel(groups[1]!.frames[0]!)).toEqual({ kind: "counter", name: "depth", n: 3 });
    expect(groups.slice(2).map((g) => [g.key, g.view])).toEqual([
      ["similarity", "heatmap"],
      ["similarity (image)", "image"],
    ]);
  });

  it("shows the tree and text artifacts the decision tree writes", () => {
    expect(artifactView({ ...a("tree.json", null, { view: "tree" }), kind: "json", mime: "application/json" })).toBe("tree");
    expect(artifactView({ ...a("tree.txt", null, { view: "text" }), kind: "text", mime: "text/plain; charset=utf-8" })).toBe("text");
    expect(artifactView({ ...a("notes.md", null), kind: "text", mime: "text/markdown; charset=utf-8" })).toBe("text");
    expect(artifactView({ ...a("model.safetensors", null), kind: "checkpoint", mime: "application/octet-stream" })).toBe("other");
  });

  it("reads axis names and log scales from the data or else the meta", () => {
    expect(plotAxes({ x_title: "predicted", y_title: "true" })).toEqual({ xTitle: "predicted", yTitle: "true", logX: false, logY: false });
    expect(plotAxes({ title: "accuracy vs C" }, { log_x: true, x_title: "C" })).toEqual({ xTitle: "C", yTitle: null, logX: true, logY: false });
  });

  it("reads the Chinese axis titles in Chinese, from the data or the meta, else the English", () => {
    // lab.seq2seq: English axis titles in the meta, their Chinese in the heatmap's JSON
    const data = { title: "decoder layer 1, head 1", x_title_zh: "源序列词元" };
    const meta = { x_title: "source token", y_title: "output token", y_title_zh: "输出词元" };
    expect(plotAxes(data, meta, true)).toMatchObject({ xTitle: "源序列词元", yTitle: "输出词元" });
    expect(plotAxes(data, meta)).toMatchObject({ xTitle: "source token", yTitle: "output token" });
    // an artifact written before the kinds spoke Chinese
    expect(plotAxes({ x_title: "predicted" }, null, true).xTitle).toBe("predicted");
  });

  it("gives a title, a caption and tile captions in the reader's language", () => {
    const meta = { title: "misclassified validation images", title_zh: "分错的验证集图像", caption: "k = 4", captions: ["3→5", "8→1"], captions_zh: ["3→5", "8→1"] };
    expect(metaText(meta, "title", true)).toBe("分错的验证集图像");
    expect(metaText(meta, "title")).toBe("misclassified validation images");
    expect(metaText(meta, "caption", true)).toBe("k = 4"); // no caption_zh: the English
    expect(metaText({ title: "W", title_zh: " " }, "title", true)).toBe("W");
    const svd = { captions: ["original, rank 32", "k = 1: error 24%"], captions_zh: ["原图，秩 32", "k = 1：误差 24%"] };
    expect(metaCaptions(svd, true)).toEqual(["原图，秩 32", "k = 1：误差 24%"]);
    expect(metaCaptions(svd)).toEqual(["original, rank 32", "k = 1: error 24%"]);
    // Chinese for only some tiles would shift them under the wrong pictures: all English then
    expect(metaCaptions({ ...svd, captions_zh: ["原图，秩 32"] }, true)).toEqual(svd.captions);
  });

  it("fills the attention map pattern like Python's format", () => {
    expect(fillPattern("attention/step_{step:03d}_tok_{tok:02d}.png", { step: 7, tok: 3 })).toBe(
      "attention/step_007_tok_03.png",
    );
  });
});
