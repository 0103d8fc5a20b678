import { fireEvent, render, screen, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { IRIS_TREE } from "../test/decisionTree";
import { initialFolds, TreeView, type TreeNode } from "./TreeView";

/** A full binary tree of the given depth (2^depth leaves). */
function full(depth: number): TreeNode {
  if (depth === 0) return { samples: 1, impurity: 0, class: "a", value: [1, 0] };
  return { samples: 2 ** depth, impurity: 0.5, class: "a", value: [1, 1], feature: "x", threshold: depth, left: full(depth - 1), right: full(depth - 1) };
}

describe("TreeView", () => {
  it("draws every split with its test and every leaf with its class", () => {
    render(<TreeView data={IRIS_TREE} />);
    const nodes = screen.getAllByTestId("tree-node");
    expect(nodes).toHaveLength(9);
    const leaves = nodes.filter((n) => n.hasAttribute("data-leaf"));
    expect(leaves.map((n) => n.querySelector("text")!.textContent)).toEqual(["setosa", "versicolor", "versicolor", "virginica", "virginica"]);
    const splits = screen.getAllByRole("button");
    expect(splits.map((n) => n.querySelector("text")!.textContent)).toEqual([
      "petal length (cm) ≤ 4.95",
      "petal length (cm) ≤ 4.85",
      "petal width (cm) ≤ 1.75",
      "petal width (cm) ≤ 0.8",
    ]);
    expect(screen.getByTestId("tree-view").textContent).toContain("gini · depth 3 · 5 leaves");
    // the left branch is "yes" (≤ threshold), the right one "no": one pair per split
    const edges = [...document.querySelectorAll(".tree__edge text")].map((e) => e.textContent);
    expect(edges.filter((e) => e === "yes")).toHaveLength(4);
    expect(edges.filter((e) => e === "no")).toHaveLength(4);
    // a leaf sits below its parent, the parent between its children
    const root = splits[3]!.querySelector("rect")!;
    const setosa = leaves[0]!.querySelector("rect")!;
    expect(Number(setosa.getAttribute("y"))).toBeGreaterThan(Number(root.getAttribute("y")));
  });

  it("folds a subtree by click or keyboard and unfolds it again", () => {
    render(<TreeView data={IRIS_TREE} />);
    const right = screen.getByRole("button", { name: /petal width \(cm\) ≤ 1\.75/ });
    expect(right.getAttribute("aria-expanded")).toBe("true");
    fireEvent.click(right);
    expect(screen.getAllByTestId("tree-node")).toHaveLength(3);
    const folded = screen.getByRole("button", { name: /petal width \(cm\) ≤ 1\.75/ });
    expect(folded.getAttribute("aria-expanded")).toBe("false");
    expect(within(folded).getByText("+4 leaves folded")).toBeTruthy();
    fireEvent.keyDown(folded, { key: "Enter" });
    expect(screen.getAllByTestId("tree-node")).toHaveLength(9);
  });

  it("starts a large tree folded where it still fits", () => {
    const root = full(7); // 128 leaves
    const folds = initialFolds(root, 24);
    expect(folds.size).toBe(16); // the 16 splits at depth 4: 32 would show below them
    expect([...folds].every((id) => id.length === 4)).toBe(true);
    expect(initialFolds(IRIS_TREE.root).size).toBe(0);
    render(<TreeView data={{ criterion: "gini", depth: 7, leaves: 128, root }} />);
    expect(document.querySelectorAll("[data-folded]")).toHaveLength(16);
  });
});
