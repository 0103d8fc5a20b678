/** Artifact events grouped into series (the same picture over training) for the media panel. */
import { eventsOfType, type ArtifactPayload, type JobEvent } from "../client/events";

export type ArtifactView = "image" | "scatter" | "heatmap" | "confusion" | "line" | "other";

export interface ArtifactItem extends ArtifactPayload {
  seq: number;
  view: ArtifactView;
}

export interface ArtifactGroup {
  key: string;
  view: ArtifactView;
  items: ArtifactItem[];
}

const VIEWS: readonly string[] = ["image", "scatter", "heatmap", "confusion", "line"];

export function artifactView(a: ArtifactPayload): ArtifactView {
  const v = a.meta?.view;
  if (typeof v === "string" && VIEWS.includes(v)) return v as ArtifactView;
  return a.mime?.startsWith("image/") ? "image" : "other";
}

// file stems that only count steps ("step_000010", "epoch_3", "iter_002", "chunk_001")
const COUNTER_WORDS = /^(step|steps|epoch|epochs|iter|iteration|it|chunk|frame|batch)?$/i;

/**
 * The series an artifact belongs to: its name with the step number taken out.
 * "boundary/step_000010.png" -> "boundary", "samples/recon_0042.png" -> "samples/recon",
 * "final/image_0.png" stays itself (no step), so each final image is its own group.
 */
export function groupKey(a: ArtifactPayload): string {
  if (a.step == null) return a.name;
  const slash = a.name.lastIndexOf("/");
  const dir = slash >= 0 ? a.name.slice(0, slash) : "";
  const file = (slash >= 0 ? a.name.slice(slash + 1) : a.name).replace(/\.[^.]+$/, "");
  const stem = file.replace(/[_-]?\d+$/, "");
  if (dir && COUNTER_WORDS.test(stem)) return dir;
  return dir ? `${dir}/${stem}` : stem || a.name;
}

export function artifactItems(events: readonly JobEvent[]): ArtifactItem[] {
  return eventsOfType(events, "artifact").map((e) => ({ ...e.payload, seq: e.seq, view: artifactView(e.payload) }));
}

/** Groups in first-seen order; items of a group sorted by step. */
export function groupArtifacts(items: readonly ArtifactItem[]): ArtifactGroup[] {
  const groups = new Map<string, ArtifactGroup>();
  for (const item of items) {
    const key = groupKey(item);
    let g = groups.get(key);
    if (!g) {
      g = { key, view: item.view, items: [] };
      groups.set(key, g);
    }
    g.items.push(item);
  }
  for (const g of groups.values()) g.items.sort((a, b) => (a.step ?? 0) - (b.step ?? 0) || a.seq - b.seq);
  return [...groups.values()];
}
