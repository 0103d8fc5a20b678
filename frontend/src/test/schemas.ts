import type { JsonSchema } from "../lib/schemaForm";

// What pydantic v2 writes for a kind's Params model (model_json_schema()).
export const MLP_SCHEMA: JsonSchema = {
  additionalProperties: false,
  properties: {
    dataset: { default: "moons", description: "toy dataset", enum: ["moons", "circles", "blobs"], title: "Dataset", type: "string" },
    hidden: { default: [16, 16], description: "hidden layer sizes", items: { type: "integer" }, title: "Hidden", type: "array" },
    lr: { default: 0.01, description: "learning rate", exclusiveMinimum: 0, maximum: 1, title: "Lr", type: "number" },
    epochs: { default: 50, description: "passes over the data", maximum: 1000, minimum: 1, title: "Epochs", type: "integer" },
    seed: { anyOf: [{ type: "integer" }, { type: "null" }], default: null, description: "random seed", title: "Seed" },
    standardize: { default: true, description: "scale features", title: "Standardize", type: "boolean" },
    activation: { $ref: "#/$defs/Activation", default: "relu", description: "nonlinearity" },
  },
  $defs: { Activation: { enum: ["relu", "tanh"], title: "Activation", type: "string" } },
  title: "Params",
  type: "object",
};
