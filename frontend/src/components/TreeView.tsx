/**
 * A fitted decision tree (the lab's tree.json) drawn as a tree: each split node shows its test
 * "feature ≤ threshold", every node its impurity, sample count and majority class, coloured by
 * that class and shaded by how pure the node is. The left branch is "yes" (≤), the right "no".
 * A split node folds and unfolds its subtree (click, Enter or Space); a large tree starts
 * folded below the depth at which it still fits.
 */
import { useMemo, useState, type KeyboardEvent } from "react";
import { useTranslation } from "react-i18next";
import { formatNumber } from "../lib/format";
import { colorAt } from "../lib/palette";

/** One node as `tree_structure` in backend/difflab/lab/decision_tree.py writes it. */
export interface TreeNode {
  samples: number;
  impurity: number;
  class: string;
  /** class shares (or counts) of the training points at the node */
  value: number[];
  feature?: string;
  threshold?: number;
  left?: TreeNode;
  right?: TreeNode;
}

export interface TreeData {
  criterion: string;
  depth: number;
  leaves: number;
  root: TreeNode;
}

const W = 156; // node box
const H = 58;
const GAP_X = 14;
const GAP_Y = 36;
const MAX_OPEN_LEAVES = 24; // a tree with more leaves starts folded

const isSplit = (n: TreeNode): n is TreeNode & { left: TreeNode; right: TreeNode } => !!n.left && !!n.right;

function argmax(v: readonly number[]): number {
  let best = 0;
  v.forEach((x, i) => {
    if (x > v[best]!) best = i;
  });
  return best;
}

/** 0 for an even mix of the classes, 1 for a node of one class. */
function purity(v: readonly number[]): number {
  const total = v.reduce((a, b) => a + b, 0);
  if (v.length < 2 || total <= 0) return 1;
  const top = Math.max(...v) / total;
  return (top - 1 / v.length) / (1 - 1 / v.length);
}

function leafCount(n: TreeNode): number {
  return isSplit(n) ? leafCount(n.left) + leafCount(n.right) : 1;
}

/** Ids ("" root, "L", "LR", ...) of the split nodes to fold so that at most `limit` leaves show. */
export function initialFolds(root: TreeNode, limit = MAX_OPEN_LEAVES): Set<string> {
  const byDepth: { id: string; node: TreeNode }[][] = [];
  const walk = (node: TreeNode, id: string, d: number) => {
    (byDepth[d] ??= []).push({ id, node });
    if (isSplit(node)) {
      walk(node.left, `${id}L`, d + 1);
      walk(node.right, `${id}R`, d + 1);
    }
  };
  walk(root, "", 0);
  // cut at depth d: the nodes at d plus the leaves above it are what shows
  let leavesAbove = 0;
  for (let d = 0; d < byDepth.length; d++) {
    const level = byDepth[d]!;
    const splits = level.filter(({ node }) => isSplit(node));
    if (splits.length === 0) return new Set();
    const shownIfOpen = leavesAbove + level.length - splits.length + 2 * splits.length;
    if (shownIfOpen > limit) return new Set(splits.map(({ id }) => id));
    leavesAbove += level.length - splits.length;
  }
  return new Set();
}

interface Placed {
  id: string;
  node: TreeNode;
  depth: number;
  slot: number;
  folded: boolean;
}

/** Leaves (and folded nodes) take one slot each from the left; a parent sits above its children. */
function layout(root: TreeNode, folds: ReadonlySet<string>) {
  const nodes: Placed[] = [];
  const edges: { from: Placed; to: Placed; yes: boolean }[] = [];
  let slots = 0;
  let depth = 0;
  const place = (node: TreeNode, id: string, d: number): Placed => {
    depth = Math.max(depth, d);
    const folded = isSplit(node) && folds.has(id);
    if (!isSplit(node) || folded) {
      const p = { id, node, depth: d, slot: slots++, folded };
      nodes.push(p);
      return p;
    }
    const left = place(node.left, `${id}L`, d + 1);
    const right = place(node.right, `${id}R`, d + 1);
    const p = { id, node, depth: d, slot: (left.slot + right.slot) / 2, folded };
    nodes.push(p);
    edges.push({ from: p, to: left, yes: true }, { from: p, to: right, yes: false });
    return p;
  };
  place(root, "", 0);
  return { nodes, edges, slots, depth };
}

const clip = (s: string, n = 24) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);
const cx = (p: Placed) => p.slot * (W + GAP_X) + GAP_X / 2 + W / 2;
const top = (p: Placed) => p.depth * (H + GAP_Y) + 4;

export function TreeView({ data }: { data: TreeData }) {
  const { t } = useTranslation();
  const [folds, setFolds] = useState(() => initialFolds(data.root));
  const { nodes, edges, slots, depth } = useMemo(() => layout(data.root, folds), [data, folds]);
  const classes = useMemo(() => {
    const names = new Map<number, string>();
    const walk = (n: TreeNode) => {
      names.set(argmax(n.value), n.class);
      if (isSplit(n)) {
        walk(n.left);
        walk(n.right);
      }
    };
    walk(data.root);
    return [...names.entries()].sort((a, b) => a[0] - b[0]);
  }, [data]);
  const toggle = (id: string) =>
    setFolds((f) => {
      const next = new Set(f);
      if (!next.delete(id)) next.add(id);
      return next;
    });

  return (
    <figure className="tree" data-testid="tree-view">
      <figcaption className="muted small">
        {t("artifacts.treeSummary", { criterion: data.criterion, depth: data.depth, leaves: data.leaves })}
      </figcaption>
      <div className="tree__scroll">
        <svg
          className="tree__svg"
          width={slots * (W + GAP_X)}
          height={(depth + 1) * (H + GAP_Y)}
          aria-label={t("artifacts.treeLabel")}
        >
          {edges.map(({ from, to, yes }) => {
            const x1 = cx(from);
            const y1 = top(from) + H;
            const x2 = cx(to);
            const y2 = top(to);
            const my = (y1 + y2) / 2;
            return (
              <g key={`${to.id}-edge`} className="tree__edge">
                <path d={`M${x1},${y1} C${x1},${my} ${x2},${my} ${x2},${y2}`} fill="none" />
                <text x={(x1 + x2) / 2} y={my - 3} textAnchor="middle">
                  {yes ? t("artifacts.treeYes") : t("artifacts.treeNo")}
                </text>
              </g>
            );
          })}
          {nodes.map((p) => (
            <TreeBox key={p.id || "root"} p={p} criterion={data.criterion} onToggle={toggle} />
          ))}
        </svg>
      </div>
      <ul className="tree__legend">
        {classes.map(([i, name]) => (
          <li key={i} className="chip">
            <span className="tree__swatch" style={{ background: colorAt(i) }} />
            {name}
          </li>
        ))}
      </ul>
    </figure>
  );
}

function TreeBox({ p, criterion, onToggle }: { p: Placed; criterion: string; onToggle: (id: string) => void }) {
  const { t } = useTranslation();
  const n = p.node;
  const split = isSplit(n);
  const test = split ? `${n.feature ?? "?"} ≤ ${formatNumber(n.threshold)}` : n.class;
  const stats = `${criterion} ${formatNumber(n.impurity)} · n = ${n.samples}`;
  const third = p.folded
    ? t("artifacts.treeFolded", { count: leafCount(n) })
    : split
      ? `→ ${n.class}`
      : n.value.map((v) => formatNumber(v)).join(" / ");
  const color = colorAt(argmax(n.value));
  const x = cx(p) - W / 2;
  const y = top(p);
  const full = [test, stats, split ? `${t("artifacts.treeMajority")}: ${n.class}` : null, `[${n.value.join(", ")}]`]
    .filter(Boolean)
    .join("\n");
  const interactive = split
    ? {
        role: "button",
        tabIndex: 0,
        "aria-expanded": !p.folded,
        "aria-label": `${test}. ${stats}. ${t(p.folded ? "artifacts.treeUnfold" : "artifacts.treeFold")}`,
        onClick: () => onToggle(p.id),
        onKeyDown: (e: KeyboardEvent) => {
          if (e.key === "Enter" || e.key === " ") {
            e.preventDefault();
            onToggle(p.id);
          }
        },
      }
    : {};
  return (
    <g
      className={`tree__node${split ? " tree__node--split" : ""}${p.folded ? " tree__node--folded" : ""}`}
      data-testid="tree-node"
      data-leaf={split ? undefined : ""}
      data-folded={p.folded ? "" : undefined}
      {...interactive}
    >
      <title>{full}</title>
      <rect x={x} y={y} width={W} height={H} rx={6} fill={color} fillOpacity={0.12 + 0.5 * purity(n.value)} stroke={color} />
      <text x={x + 8} y={y + 17} className="tree__test">
        {clip(test)}
      </text>
      <text x={x + 8} y={y + 34}>
        {clip(stats, 28)}
      </text>
      <text x={x + 8} y={y + 50}>
        {clip(third, 28)}
      </text>
    </g>
  );
}
