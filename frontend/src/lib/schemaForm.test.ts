import { describe, expect, it } from "vitest";
import { MLP_SCHEMA } from "../test/schemas";
import { defaultValues, parseValues, schemaFields } from "./schemaForm";

describe("schemaFields", () => {
  const fields = schemaFields(MLP_SCHEMA);
  const byName = Object.fromEntries(fields.map((f) => [f.name, f]));

  it("maps each property to an input kind with its bounds", () => {
    expect(fields.map((f) => [f.name, f.kind])).toEqual([
      ["dataset", "enum"],
      ["hidden", "array"],
      ["lr", "number"],
      ["epochs", "integer"],
      ["seed", "integer"],
      ["standardize", "boolean"],
      ["activation", "enum"],
    ]);
    expect(byName.lr).toMatchObject({ exclusiveMinimum: 0, maximum: 1 });
    expect(byName.epochs).toMatchObject({ minimum: 1, maximum: 1000 });
    expect(byName.seed!.nullable).toBe(true);
    expect(byName.activation!.choices).toEqual(["relu", "tanh"]);
  });

  it("round-trips the defaults through the inputs", () => {
    const raw = defaultValues(fields);
    expect(raw.hidden).toBe("16, 16");
    expect(raw.seed).toBe("");
    expect(parseValues(fields, raw)).toEqual({
      params: { dataset: "moons", hidden: [16, 16], lr: 0.01, epochs: 50, seed: null, standardize: true, activation: "relu" },
      errors: {},
    });
  });

  it("offers a list of choices as checkboxes and sends the ticked ones", () => {
    const [methods] = schemaFields({
      type: "object",
      properties: {
        methods: { type: "array", items: { enum: ["normal", "batch", "stochastic"], type: "string" }, title: "Methods" },
      },
    });
    expect(methods!.kind).toBe("multi");
    expect(methods!.choices).toEqual(["normal", "batch", "stochastic"]);
    // no default in the schema and nothing ticked: left out, the model's default applies
    expect(parseValues([methods!], { methods: [] }).params).toEqual({});
    expect(parseValues([methods!], { methods: ['"batch"', '"normal"'] }).params).toEqual({ methods: ["batch", "normal"] });
  });

  it("reports inputs of the wrong type and leaves bounds to the API", () => {
    const raw = { ...defaultValues(fields), epochs: "2.5", hidden: "8, x", lr: "7" };
    const { params, errors } = parseValues(fields, raw);
    expect(Object.keys(errors).sort()).toEqual(["epochs", "hidden"]);
    expect(params.lr).toBe(7); // out of bounds: the API's 422 says so at the field
  });
});
