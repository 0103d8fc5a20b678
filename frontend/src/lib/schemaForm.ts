/**
 * A form from a job kind's params JSON schema (what pydantic v2 writes for the kind's Params
 * model): one field per property, its default filled in, Literal choices as a select, numbers
 * with their bounds. Values are held as text while edited and turned back into JSON on submit.
 */

export type JsonSchema = {
  type?: string | string[];
  title?: string;
  description?: string;
  default?: unknown;
  enum?: unknown[];
  const?: unknown;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  $ref?: string;
  $defs?: Record<string, JsonSchema>;
  definitions?: Record<string, JsonSchema>;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  multipleOf?: number;
  minLength?: number;
  maxLength?: number;
  [key: string]: unknown;
};

export type FieldKind = "integer" | "number" | "string" | "boolean" | "enum" | "multi" | "array" | "json";

/** The help of one property of an object-valued field (a nested model: edited as JSON). */
export interface FieldPart {
  name: string;
  description: string;
  /** the help in Simplified Chinese ("" when the API has none) */
  descriptionZh: string;
}

export interface FormField {
  name: string;
  title: string;
  description: string;
  /** the help in Simplified Chinese ("" when the API has none): the schema's `description_zh` */
  descriptionZh: string;
  kind: FieldKind;
  /** null is an allowed value (Optional[...] in the model); an empty input means null */
  nullable: boolean;
  required: boolean;
  default: unknown;
  choices: unknown[];
  itemKind: "integer" | "number" | "string" | null;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  step?: number;
  /** a nested model's own fields (an object, or a list of objects), whose help the form lists */
  parts: FieldPart[];
}

/** What an input holds while the form is edited. */
export type RawValue = string | boolean | string[];
export type RawValues = Record<string, RawValue>;

function resolve(schema: JsonSchema, root: JsonSchema, depth = 0): JsonSchema {
  if (depth > 8) return schema;
  if (schema.$ref) {
    const name = schema.$ref.split("/").pop() ?? "";
    const target = root.$defs?.[name] ?? root.definitions?.[name];
    if (target) {
      const { $ref: _ref, ...rest } = schema;
      return resolve({ ...target, ...rest }, root, depth + 1);
    }
  }
  if (schema.allOf && schema.allOf.length === 1) {
    const { allOf, ...rest } = schema;
    return resolve({ ...resolve(allOf[0]!, root, depth + 1), ...rest }, root, depth + 1);
  }
  return schema;
}

function typeOf(s: JsonSchema): string | undefined {
  if (Array.isArray(s.type)) return s.type.find((t) => t !== "null");
  return s.type;
}

function text(value: unknown): string {
  return typeof value === "string" ? value : "";
}

/** True for any Chinese UI language (i18next's `zh-CN`, a browser's `zh`, `zh-TW`...). */
export function isChinese(language: string | undefined): boolean {
  return (language ?? "").toLowerCase().startsWith("zh");
}

/** The Chinese text when the UI speaks Chinese and the API gave one, else the English. */
export function localized(english: string, chinese: string | null | undefined, language: string | undefined): string {
  return isChinese(language) && chinese ? chinese : english;
}

/** The help of the properties of a nested model (an object, or the items of a list of them). */
function partsOf(prop: JsonSchema, root: JsonSchema): FieldPart[] {
  const target = resolve(prop.items ? resolve(prop.items, root) : prop, root);
  return Object.entries(target.properties ?? {}).map(([name, raw]) => {
    const sub = resolve(raw, root);
    return {
      name,
      description: text(raw.description) || text(sub.description),
      descriptionZh: text(raw.description_zh) || text(sub.description_zh),
    };
  });
}

function titleCase(name: string): string {
  return name.replace(/_/g, " ").replace(/^\w/, (c) => c.toUpperCase());
}

/** The fields of an object schema, in property order. */
export function schemaFields(schema: JsonSchema): FormField[] {
  const root = schema;
  const obj = resolve(schema, root);
  const required = new Set(obj.required ?? []);
  return Object.entries(obj.properties ?? {}).map(([name, raw]) => {
    let prop = resolve(raw, root);
    let nullable = Array.isArray(prop.type) && prop.type.includes("null");
    const variants = prop.anyOf ?? prop.oneOf;
    if (variants) {
      const nonNull = variants.filter((v) => v.type !== "null").map((v) => resolve(v, root));
      nullable = nullable || nonNull.length < variants.length;
      if (nonNull.length === 1) {
        const { anyOf: _a, oneOf: _o, ...rest } = prop;
        prop = { ...nonNull[0]!, ...rest };
      } else if (nonNull.every((v) => v.const !== undefined || v.enum)) {
        // a union of Literals: still one choice list
        const { anyOf: _a, oneOf: _o, ...rest } = prop;
        prop = { ...rest, enum: nonNull.flatMap((v) => (v.enum ? v.enum : [v.const])) };
      }
    }
    const field: FormField = {
      name,
      title: prop.title ?? titleCase(name),
      description: prop.description ?? raw.description ?? "",
      descriptionZh: text(prop.description_zh) || text(raw.description_zh),
      kind: "json",
      nullable,
      required: required.has(name),
      default: prop.default ?? raw.default,
      choices: [],
      itemKind: null,
      parts: [],
    };
    const type = typeOf(prop);
    if (prop.enum || prop.const !== undefined) {
      field.kind = "enum";
      field.choices = prop.enum ?? [prop.const];
    } else if (type === "boolean") {
      field.kind = "boolean";
    } else if (type === "integer" || type === "number") {
      field.kind = type;
      field.minimum = prop.minimum;
      field.maximum = prop.maximum;
      field.exclusiveMinimum = prop.exclusiveMinimum;
      field.exclusiveMaximum = prop.exclusiveMaximum;
      field.step = prop.multipleOf ?? (type === "integer" ? 1 : undefined);
    } else if (type === "string") {
      field.kind = "string";
    } else if (type === "array") {
      const items = prop.items ? resolve(prop.items, root) : {};
      const itemType = typeOf(items);
      if (items.enum) {
        field.kind = "multi"; // a list of choices: one checkbox per choice
        field.choices = items.enum;
      } else if (itemType === "integer" || itemType === "number" || itemType === "string") {
        field.kind = "array";
        field.itemKind = itemType;
      }
    }
    if (field.kind === "json") field.parts = partsOf(prop, root);
    return field;
  });
}

/** The text an input shows for a JSON value. */
export function toRaw(field: FormField, value: unknown): RawValue {
  if (field.kind === "boolean") return value === true;
  if (field.kind === "multi") return Array.isArray(value) ? value.map((v) => JSON.stringify(v)) : [];
  if (value === undefined || value === null) return "";
  if (field.kind === "enum") return JSON.stringify(value);
  if (field.kind === "array" && Array.isArray(value)) return value.join(", ");
  if (field.kind === "json") return JSON.stringify(value, null, 2);
  return String(value);
}

/** Inputs filled with every field's default. */
export function defaultValues(fields: readonly FormField[]): RawValues {
  const out: RawValues = {};
  for (const f of fields) out[f.name] = toRaw(f, f.default);
  return out;
}

export interface ParsedParams {
  params: Record<string, unknown>;
  /** inputs that are not even the right type (not a number, bad JSON) */
  errors: Record<string, string>;
}

/**
 * Inputs back to JSON params. Only type is checked here; bounds and everything else are the
 * API's to judge, and its 422 messages are shown at the field.
 */
export function parseValues(fields: readonly FormField[], raw: RawValues): ParsedParams {
  const params: Record<string, unknown> = {};
  const errors: Record<string, string> = {};
  for (const f of fields) {
    const v = raw[f.name];
    if (f.kind === "boolean") {
      params[f.name] = v === true;
      continue;
    }
    if (f.kind === "multi") {
      const chosen = Array.isArray(v) ? v : [];
      // nothing ticked and no default known: leave it to the model's default
      if (chosen.length || f.default !== undefined) params[f.name] = chosen.map((c) => JSON.parse(c) as unknown);
      continue;
    }
    const text = typeof v === "string" ? v.trim() : "";
    if (text === "") {
      if (f.nullable) params[f.name] = null;
      else if (f.kind === "string") params[f.name] = "";
      else if (f.required) errors[f.name] = "required";
      // an empty optional field is left out: the model's default applies
      continue;
    }
    switch (f.kind) {
      case "integer":
      case "number": {
        const n = Number(text);
        if (!Number.isFinite(n) || (f.kind === "integer" && !Number.isInteger(n))) {
          errors[f.name] = f.kind === "integer" ? "expected an integer" : "expected a number";
        } else params[f.name] = n;
        break;
      }
      case "string":
        params[f.name] = typeof v === "string" ? v : "";
        break;
      case "enum":
        try {
          params[f.name] = JSON.parse(text);
        } catch {
          params[f.name] = text;
        }
        break;
      case "array": {
        const parts = text.split(/[,\s]+/).filter(Boolean);
        if (f.itemKind === "string") params[f.name] = parts;
        else {
          const nums = parts.map(Number);
          if (nums.some((n) => !Number.isFinite(n))) errors[f.name] = "expected numbers";
          else params[f.name] = nums;
        }
        break;
      }
      case "json":
        try {
          params[f.name] = JSON.parse(text);
        } catch {
          errors[f.name] = "expected JSON";
        }
        break;
    }
  }
  return { params, errors };
}

/** "0 ≤ x ≤ 1" style text for a number field's bounds, or "" when unbounded. */
export function boundsText(f: FormField): string {
  const lo =
    f.minimum !== undefined ? `${f.minimum} ≤ ` : f.exclusiveMinimum !== undefined ? `${f.exclusiveMinimum} < ` : "";
  const hi =
    f.maximum !== undefined ? ` ≤ ${f.maximum}` : f.exclusiveMaximum !== undefined ? ` < ${f.exclusiveMaximum}` : "";
  return lo || hi ? `${lo}x${hi}` : "";
}
