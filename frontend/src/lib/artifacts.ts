/**
 * Artifact events grouped into series for the media panel: the same picture over training
 * becomes one group of frames (a slider runs over them), and pictures drawn side by side at
 * each frame (attention heads, a network's layers) become variants of that group.
 *
 * Everything is read from the artifact's name, so a new kind needs no change here:
 *   boundary/epoch_00005.png                 series "boundary", frame epoch 5
 *   paths/step_00010.png                     series "paths", frame step 10
 *   feature_maps/epoch_00005/conv2.png       series "feature_maps", frame epoch 5, variant "conv2"
 *   attention/final/layer1_head2.json        series "attention", the final frame, variant "layer1_head2"
 *   boundary/c_03.png (step 3)               series "boundary/c", frame 3 (labelled by meta.C)
 *   probe.png                                a group of its own
 * A counter word (step, epoch, iter, ...) marks a frame wherever it stands; a bare trailing
 * number does when the artifact has a step; "final" joins a series that has numbered frames.
 */
import { eventsOfType, type ArtifactPayload, type JobEvent } from "../client/events";

export type ArtifactView = "image" | "scatter" | "heatmap" | "confusion" | "line" | "tree" | "text" | "json" | "cfg" | "other";

export type ArtifactMeta = Record<string, unknown>;

export interface ArtifactItem extends ArtifactPayload {
  seq: number;
  view: ArtifactView;
}

/** Where an artifact stands in its series. */
export interface FramePosition {
  /** the word the number came with, lower case: "epoch", "step", "c", "perplexity"; "" for none */
  counter: string;
  /** the number in the name; null for the final frame */
  index: number | null;
}

export interface ParsedName {
  series: string;
  /** null: a one-off artifact, not a frame of a series */
  frame: FramePosition | null;
  /** which of the pictures drawn at one frame: "layer1_head2", "conv1"; "" when only one is */
  variant: string;
}

export interface Frame {
  id: string;
  counter: string;
  index: number | null;
  final: boolean;
  /** the training step of the frame's artifacts, when they carry one */
  step: number | null;
  /** the frame's artifacts by variant */
  items: Map<string, ArtifactItem>;
}

/** A variant name split into numbered parts: "layer1_head2" -> layer 1, head 2. */
export interface VariantAxis {
  name: string;
  values: number[];
}

export interface ArtifactGroup {
  /** unique among the groups; the series name unless two views share it */
  key: string;
  series: string;
  view: ArtifactView;
  /** every artifact of the group, frame by frame */
  items: ArtifactItem[];
  /** in order: by step (or number), the final frame last */
  frames: Frame[];
  /** every variant seen, in natural order ("" alone when the frames hold one picture each) */
  variants: string[];
  /** the variants' numbered parts when every variant splits the same way; [] otherwise */
  axes: VariantAxis[];
}

const VIEWS: readonly string[] = ["image", "scatter", "heatmap", "confusion", "line", "tree", "text", "json", "cfg"];

export function artifactView(a: ArtifactPayload): ArtifactView {
  const v = a.meta?.view;
  if (typeof v === "string" && VIEWS.includes(v)) return v as ArtifactView;
  if (a.kind === "text" || a.mime?.startsWith("text/")) return "text";
  return a.mime?.startsWith("image/") ? "image" : "other";
}

// words that only count frames ("step_000010", "epoch_3", "iter_002", "chunk_001")
const COUNTER_WORDS = /^(step|steps|epoch|epochs|iter|iteration|it|chunk|frame|batch)$/i;

interface Part {
  word: string;
  n: number | null;
  text: string;
}

/** "layer1_head2" -> layer 1, head 2; "c_01" -> c 1; "step_003_tok_02" -> step 3, tok 2 */
function parts(segment: string): Part[] {
  const out: Part[] = [];
  for (const tok of segment.split(/[_-]/)) {
    if (!tok) continue;
    const m = /^([A-Za-z]*)(\d+)$/.exec(tok);
    const prev = out[out.length - 1];
    if (m && m[1] === "" && prev && prev.n == null) {
      prev.n = Number(m[2]);
      prev.text += `_${tok}`;
    } else if (m) out.push({ word: m[1]!, n: Number(m[2]), text: tok });
    else out.push({ word: tok, n: null, text: tok });
  }
  return out;
}

const joined = (ps: readonly Part[]) => ps.map((p) => p.text).join("_");
const path = (segs: readonly string[]) => segs.filter(Boolean).join("/");

/** Where one artifact belongs by its name (and step); see the module's comment. */
export function parseName(a: Pick<ArtifactPayload, "name" | "step" | "meta">): ParsedName {
  const alone: ParsedName = { series: a.name, frame: null, variant: "" };
  const segs = a.name.replace(/\.[^./]+$/, "").split("/");
  const dirs = segs.slice(0, -1);
  const stem = segs[segs.length - 1]!;
  const explicit = typeof a.meta?.series === "string" ? a.meta.series : null;

  // a counter word anywhere: in a folder (the file below is the variant) or in the file name
  for (let s = 0; s < segs.length; s++) {
    const ps = parts(segs[s]!);
    const k = ps.findIndex((p) => p.n != null && COUNTER_WORDS.test(p.word));
    if (k < 0) continue;
    const frame = { counter: ps[k]!.word.toLowerCase(), index: ps[k]!.n };
    const rest = ps.filter((_, j) => j !== k);
    let series: string;
    let variant: string;
    if (s < segs.length - 1) {
      series = path([...segs.slice(0, s), joined(rest), ...segs.slice(s + 1, -1)]);
      variant = stem;
    } else {
      series = path([...dirs, joined(rest.filter((p) => p.n == null))]);
      variant = joined(rest.filter((p) => p.n != null));
    }
    if (!series) [series, variant] = [variant || frame.counter, ""];
    return { series: explicit ?? series, frame, variant: explicit ? "" : variant };
  }

  // the model after training: ".../final.png" or ".../final/<variant>.png"
  const f = segs.lastIndexOf("final");
  if (f >= 0) {
    const last = f === segs.length - 1;
    const series = explicit ?? path(last ? dirs : [...segs.slice(0, f), ...segs.slice(f + 1, -1)]);
    if (series) return { series, frame: { counter: "", index: null }, variant: last || explicit ? "" : stem };
  }

  // a bare trailing number of an artifact with a step: "samples/recon_0042.png", "boundary/c_03.png"
  const ps = parts(stem);
  const tail = ps[ps.length - 1];
  if (a.step != null && tail?.n != null) {
    const series = path([...dirs, [...ps.slice(0, -1).map((p) => p.text), tail.word].filter(Boolean).join("_")]);
    if (series || explicit) return { series: explicit ?? series, frame: { counter: tail.word.toLowerCase(), index: tail.n }, variant: "" };
  }
  if (explicit && a.step != null) return { series: explicit, frame: { counter: "step", index: a.step }, variant: "" };
  return alone;
}

export function artifactItems(events: readonly JobEvent[]): ArtifactItem[] {
  return eventsOfType(events, "artifact").map((e) => ({ ...e.payload, seq: e.seq, view: artifactView(e.payload) }));
}

const natural = (a: string, b: string) => a.localeCompare(b, undefined, { numeric: true });

function frameOrder(a: Frame, b: Frame): number {
  if (a.final !== b.final) return a.final ? 1 : -1;
  const pa = a.step ?? a.index ?? 0;
  const pb = b.step ?? b.index ?? 0;
  return pa - pb || (a.index ?? 0) - (b.index ?? 0);
}

/** The numbered parts the variants share ("layer1_head2": layer, head), or [] when they differ. */
export function variantAxes(variants: readonly string[]): VariantAxis[] {
  if (variants.length < 2) return [];
  const split = variants.map(parts);
  const words = split[0]!.map((p) => p.word);
  const same = split.every((ps) => ps.length === words.length && ps.every((p, i) => p.n != null && p.word === words[i]));
  if (!same || new Set(words).size !== words.length) return [];
  return words.map((name, i) => ({ name, values: [...new Set(split.map((ps) => ps[i]!.n!))].sort((x, y) => x - y) }));
}

/** The variant with these axis values ("layer1_head2" for layer 1, head 2), if any. */
export function variantAt(group: ArtifactGroup, values: readonly number[]): string | undefined {
  return group.variants.find((v) => {
    const ps = parts(v);
    return ps.length === values.length && ps.every((p, i) => p.n === values[i]);
  });
}

/** A variant's axis values, in the order of `group.axes`. */
export function variantValues(variant: string): number[] {
  return parts(variant).map((p) => p.n ?? NaN);
}

/**
 * Groups in first-seen order, each with its frames in order. A later artifact of the same
 * frame and variant replaces the earlier one. The final frame joins its series only where
 * the series has numbered frames; otherwise it is a group of its own.
 */
export function groupArtifacts(items: readonly ArtifactItem[]): ArtifactGroup[] {
  const parsed = items.map((item) => ({ item, p: parseName(item) }));
  const id = (series: string, view: ArtifactView) => `${series}\u0000${view}`;
  const numbered = new Set(parsed.filter(({ p }) => p.frame?.index != null).map(({ item, p }) => id(p.series, item.view)));

  const groups = new Map<string, ArtifactGroup>();
  const frames = new Map<string, Frame>(); // by group and frame id
  const seriesViews = new Map<string, number>();
  for (const { item, p: raw } of parsed) {
    const lonelyFinal = raw.frame != null && raw.frame.index == null && !numbered.has(id(raw.series, item.view));
    const p: ParsedName = lonelyFinal ? { series: item.name, frame: null, variant: "" } : raw;
    const gid = id(p.series, item.view);
    let g = groups.get(gid);
    if (!g) {
      const n = seriesViews.get(p.series) ?? 0;
      seriesViews.set(p.series, n + 1);
      const key = n ? `${p.series} (${item.view})` : p.series;
      g = { key, series: p.series, view: item.view, items: [], frames: [], variants: [], axes: [] };
      groups.set(gid, g);
    }
    const final = p.frame != null && p.frame.index == null;
    const fid = p.frame ? (final ? "final" : `${p.frame.counter}:${p.frame.index}`) : "";
    let frame = frames.get(`${gid}\u0000${fid}`);
    if (!frame) {
      frame = { id: fid, counter: p.frame?.counter ?? "", index: p.frame?.index ?? null, final, step: null, items: new Map() };
      frames.set(`${gid}\u0000${fid}`, frame);
      g.frames.push(frame);
    }
    frame.items.set(p.variant, item);
    if (item.step != null) frame.step = item.step;
  }
  for (const g of groups.values()) {
    g.frames.sort(frameOrder);
    g.variants = [...new Set(g.frames.flatMap((fr) => [...fr.items.keys()]))].sort(natural);
    g.axes = variantAxes(g.variants);
    g.items = g.frames.flatMap((fr) => g.variants.flatMap((v) => fr.items.get(v) ?? []));
  }
  return [...groups.values()];
}

/** What a frame is called: the epoch, the step, a swept value (C = 0.01), or the final model. */
export type FrameLabel =
  | { kind: "final" }
  | { kind: "epoch" | "step" | "iteration"; n: number }
  | { kind: "value"; name: string; value: number }
  | { kind: "counter"; name: string; n: number }
  | { kind: "none" };

export function frameLabel(frame: Frame): FrameLabel {
  if (frame.final) return { kind: "final" };
  if (frame.index == null) return frame.step != null ? { kind: "step", n: frame.step } : { kind: "none" };
  const c = frame.counter;
  if (c === "epoch" || c === "epochs") return { kind: "epoch", n: frame.index };
  if (c === "step" || c === "steps" || c === "") return { kind: "step", n: frame.index };
  if (c === "iter" || c === "iteration" || c === "it") return { kind: "iteration", n: frame.index };
  // a swept parameter the kind names in meta: boundary/c_03.png with meta {C: 0.01}
  const meta = (frame.items.values().next().value?.meta ?? {}) as ArtifactMeta;
  for (const [k, v] of Object.entries(meta)) {
    if (k.toLowerCase() === c && typeof v === "number" && Number.isFinite(v)) return { kind: "value", name: k, value: v };
  }
  return { kind: "counter", name: c, n: frame.index };
}

/** Axis titles and log scales of a plot: from its JSON (x_title, ...) or else the artifact's meta. */
export interface PlotAxes {
  xTitle: string | null;
  yTitle: string | null;
  logX: boolean;
  logY: boolean;
}

const nonEmpty = (v: unknown): string | null => (typeof v === "string" && v.trim() ? v : null);

/**
 * The axes of a plot. With `zh` an axis title's Chinese (x_title_zh, from the JSON or the meta)
 * comes first and its English is the fallback.
 */
export function plotAxes(data: object | null | undefined, meta?: ArtifactMeta | null, zh = false): PlotAxes {
  const d = (data ?? {}) as Record<string, unknown>;
  const m = meta ?? {};
  const str = (k: string) => (zh ? (nonEmpty(d[`${k}_zh`]) ?? nonEmpty(m[`${k}_zh`])) : null) ?? nonEmpty(d[k] ?? m[k]);
  const flag = (k: string) => d[k] === true || m[k] === true;
  return { xTitle: str("x_title"), yTitle: str("y_title"), logX: flag("log_x"), logY: flag("log_y") };
}

/**
 * A string from an artifact's meta or a plot's JSON (title, caption), or null. With `zh` its
 * Chinese (`title_zh`, `caption_zh`) where the backend gave one, else the English.
 */
export function metaText(meta: Record<string, unknown> | undefined | null, key: string, zh = false): string | null {
  return (zh ? nonEmpty(meta?.[`${key}_zh`]) : null) ?? nonEmpty(meta?.[key]);
}

/**
 * Per-tile captions of an image grid (meta.captions), in reading order. With `zh` the Chinese
 * ones (meta.captions_zh) where there is one for every tile, else the English.
 */
export function metaCaptions(meta: ArtifactMeta | undefined | null, zh = false): string[] {
  const v = meta?.captions;
  const english = Array.isArray(v) ? v.map(String) : [];
  const chinese = meta?.captions_zh;
  return zh && Array.isArray(chinese) && chinese.length === english.length ? chinese.map(String) : english;
}
