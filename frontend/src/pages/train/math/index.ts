/** Every lab kind's formulas by kind name, with a generic entry for kinds not written up yet. */
import { BLOCKS } from "./blocks";
import { CLASSIC, optimizerFormula } from "./classic";
import { NEURAL } from "./neural";
import { num } from "./tex";
import type { Formula, KindMath } from "./types";
import { metric } from "./values";

export const KIND_MATH: Readonly<Record<string, KindMath>> = { ...CLASSIC, ...NEURAL, ...BLOCKS };

/** A kind without an entry: its optimizer's update and its losses, when it has them. */
export const GENERIC: KindMath = {
  formulas(input) {
    const out: Formula[] = [];
    if (typeof input.params.optimizer === "string") out.push(optimizerFormula(input));
    const train = metric(input, "train/loss");
    const val = metric(input, "val/loss");
    const parts = [train != null ? String.raw`\mathcal{L}_{\text{train}} = ${num(train)}` : null, val != null ? String.raw`\mathcal{L}_{\text{val}} = ${num(val)}` : null];
    if (train != null || val != null) {
      out.push({ id: "lossLive", role: "live", tex: parts.filter(Boolean).join(String.raw`,\qquad `), vars: { step: input.step ?? "–" } });
    }
    return out;
  },
};

/** "lab.vae" -> "vae": the kind's key in the i18n `math` section and in page anchors. */
export function kindId(kind: string): string {
  return kind.replace(/^lab\./, "");
}

/** The kind's entry (`generic` when it has none), and the i18n id its sentences live under. */
export function mathOf(kind: string): { id: string; math: KindMath; generic: boolean } {
  const math = KIND_MATH[kind];
  return math ? { id: kindId(kind), math, generic: false } : { id: "generic", math: GENERIC, generic: true };
}

/** The kind's section on the learn page (LabKinds gives each kind this id). */
export function learnAnchor(kind: string): string {
  return `lab-${kindId(kind).replace(/[^A-Za-z0-9_-]/g, "-")}`;
}

/** The kind's section of docs/lab.md, as GitHub anchors its "### `lab.kind`" heading. */
export function docsSection(kind: string): string {
  return `docs/lab.md#${kind.toLowerCase().replace(/[^a-z0-9_ -]/g, "").replace(/ /g, "-")}`;
}
