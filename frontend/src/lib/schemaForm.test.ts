import { describe, expect, it } from "vitest";
import { MLP_SCHEMA } from "../test/schemas";
import { defaultValues, isChinese, localized, parseValues, schemaFields, type JsonSchema } from "./schemaForm";

// What the API serves for a kind with nested models: `description_zh` beside each `description`.
const ZH_SCHEMA: JsonSchema = {
  properties: {
    steps: { default: 25, description: "Denoising steps.", description_zh: "去噪步数。", title: "Steps", type: "integer" },
    eta: { default: 0, description: "DDIM's eta.", title: "Eta", type: "number" },
    loras: {
      description: "LoRAs and their weights.",
      description_zh: "LoRA 及其权重。",
      items: { $ref: "#/$defs/LoraWeight" },
      title: "Loras",
      type: "array",
    },
    sd_upscale: {
      anyOf: [{ $ref: "#/$defs/SdUpscale" }, { type: "null" }],
      default: null,
      description: "Upscale settings.",
      description_zh: "放大设置。",
    },
  },
  $defs: {
    LoraWeight: {
      description: "One LoRA.",
      properties: {
        name: { description: "File name.", description_zh: "文件名。", title: "Name", type: "string" },
        weight: { default: 1, description: "Multiplier.", description_zh: "倍数。", title: "Weight", type: "number" },
      },
      required: ["name"],
      type: "object",
    },
    SdUpscale: {
      properties: { scale: { default: 2, description: "How much.", title: "Scale", type: "number" } },
      type: "object",
    },
  },
  type: "object",
};

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

describe("Chinese help", () => {
  const byName = Object.fromEntries(schemaFields(ZH_SCHEMA).map((f) => [f.name, f]));

  it("reads description_zh beside description, nested models' own fields included", () => {
    expect(byName.steps).toMatchObject({ description: "Denoising steps.", descriptionZh: "去噪步数。", parts: [] });
    expect(byName.eta!.descriptionZh).toBe("");
    // a list of models and an optional model are edited as JSON; their fields' help is listed
    expect(byName.loras).toMatchObject({ kind: "json", descriptionZh: "LoRA 及其权重。" });
    expect(byName.loras!.parts).toEqual([
      { name: "name", description: "File name.", descriptionZh: "文件名。" },
      { name: "weight", description: "Multiplier.", descriptionZh: "倍数。" },
    ]);
    expect(byName.sd_upscale).toMatchObject({ kind: "json", nullable: true, descriptionZh: "放大设置。" });
    expect(byName.sd_upscale!.parts).toEqual([{ name: "scale", description: "How much.", descriptionZh: "" }]);
  });

  it("picks the Chinese for any Chinese UI language where there is one", () => {
    expect(isChinese("zh-CN")).toBe(true);
    expect(isChinese("zh")).toBe(true);
    expect(isChinese("en")).toBe(false);
    expect(localized("steps", "步数", "zh-CN")).toBe("步数");
    expect(localized("steps", "步数", "en")).toBe("steps");
    expect(localized("steps", "", "zh-CN")).toBe("steps");
    expect(localized("steps", null, "zh-CN")).toBe("steps");
  });
});
