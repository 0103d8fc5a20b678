/** A decision tree in the format lab.decision_tree writes (tree.json). */
import type { TreeData } from "../components/TreeView";

// tree.json as lab.decision_tree writes it (iris, max_depth 3, scaling none)
export const IRIS_TREE: TreeData = {
  criterion: "gini",
  depth: 3,
  leaves: 5,
  root: {
    samples: 112,
    impurity: 0.66661,
    class: "virginica",
    value: [0.3304, 0.3304, 0.3393],
    feature: "petal width (cm)",
    threshold: 0.8,
    left: { samples: 37, impurity: 0.0, class: "setosa", value: [1.0, 0.0, 0.0] },
    right: {
      samples: 75,
      impurity: 0.49991,
      class: "virginica",
      value: [0.0, 0.4933, 0.5067],
      feature: "petal width (cm)",
      threshold: 1.75,
      left: {
        samples: 39,
        impurity: 0.14201,
        class: "versicolor",
        value: [0.0, 0.9231, 0.0769],
        feature: "petal length (cm)",
        threshold: 4.95,
        left: { samples: 35, impurity: 0.05551, class: "versicolor", value: [0.0, 0.9714, 0.0286] },
        right: { samples: 4, impurity: 0.5, class: "versicolor", value: [0.0, 0.5, 0.5] },
      },
      right: {
        samples: 36,
        impurity: 0.05401,
        class: "virginica",
        value: [0.0, 0.0278, 0.9722],
        feature: "petal length (cm)",
        threshold: 4.85,
        left: { samples: 3, impurity: 0.44444, class: "virginica", value: [0.0, 0.3333, 0.6667] },
        right: { samples: 33, impurity: 0.0, class: "virginica", value: [0.0, 0.0, 1.0] },
      },
    },
  },
};
