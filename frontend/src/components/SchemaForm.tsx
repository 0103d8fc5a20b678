/**
 * Inputs for every field of a params schema (see lib/schemaForm.ts); errors shown at the field.
 * A field's help is in the UI's language: `description_zh` in Chinese where the API gives one.
 */
import { useTranslation } from "react-i18next";
import { boundsText, localized, type FormField, type RawValue, type RawValues } from "../lib/schemaForm";

export interface SchemaFormProps {
  fields: readonly FormField[];
  values: RawValues;
  errors: Record<string, string>;
  onChange: (name: string, value: RawValue) => void;
  /** values to offer for a text field (a datalist: any other value can still be typed) */
  suggestions?: Readonly<Record<string, readonly string[]>>;
  /** a line under a field, from the page rather than the schema (e.g. a bound from the workers) */
  hints?: Readonly<Record<string, string>>;
}

export function SchemaFields({ fields, values, errors, onChange, suggestions = {}, hints = {} }: SchemaFormProps) {
  const { t, i18n } = useTranslation();
  if (fields.length === 0) return <p className="muted">{t("admin.noParams")}</p>;
  return (
    <div className="schema-fields">
      {fields.map((f) => {
        const id = `param-${f.name}`;
        const error = errors[f.name];
        const value = values[f.name];
        const bounds = boundsText(f);
        const offered = f.kind === "string" ? suggestions[f.name] : undefined;
        const help = localized(f.description, f.descriptionZh, i18n.language);
        const parts = f.parts.filter((p) => p.description || p.descriptionZh);
        return (
          <div key={f.name} className={error ? "field field--error" : "field"} data-field={f.name}>
            {f.kind === "boolean" ? (
              <label className="field__check" htmlFor={id}>
                <input
                  id={id}
                  name={f.name}
                  type="checkbox"
                  checked={value === true}
                  onChange={(e) => onChange(f.name, e.target.checked)}
                />
                {f.title}
              </label>
            ) : (
              <label htmlFor={id} id={`${id}-label`}>
                {f.title}
              </label>
            )}
            {f.kind === "multi" ? (
              <div className="multi" role="group" aria-labelledby={`${id}-label`} id={id}>
                {f.choices.map((c) => {
                  const key = JSON.stringify(c);
                  const chosen = Array.isArray(value) ? value : [];
                  return (
                    <label key={key} className="field__check">
                      <input
                        type="checkbox"
                        name={f.name}
                        checked={chosen.includes(key)}
                        onChange={(e) =>
                          onChange(f.name, e.target.checked ? [...chosen, key] : chosen.filter((x) => x !== key))
                        }
                      />
                      {String(c)}
                    </label>
                  );
                })}
              </div>
            ) : f.kind === "enum" ? (
              <select
                id={id}
                name={f.name}
                value={typeof value === "string" ? value : ""}
                onChange={(e) => onChange(f.name, e.target.value)}
                aria-invalid={!!error}
              >
                {f.nullable && <option value="">—</option>}
                {f.choices.map((c) => (
                  <option key={JSON.stringify(c)} value={JSON.stringify(c)}>
                    {String(c)}
                  </option>
                ))}
              </select>
            ) : f.kind === "json" ? (
              <textarea
                id={id}
                name={f.name}
                rows={3}
                className="mono"
                value={typeof value === "string" ? value : ""}
                onChange={(e) => onChange(f.name, e.target.value)}
                aria-invalid={!!error}
              />
            ) : f.kind !== "boolean" ? (
              <input
                id={id}
                name={f.name}
                type={f.kind === "integer" || f.kind === "number" ? "number" : "text"}
                inputMode={f.kind === "integer" ? "numeric" : f.kind === "number" ? "decimal" : undefined}
                min={f.minimum}
                max={f.maximum}
                step={f.kind === "number" ? (f.step ?? "any") : f.step}
                placeholder={
                  f.default === undefined && !f.required
                    ? t("admin.serverDefault")
                    : f.kind === "array"
                      ? t("admin.listHint")
                      : f.nullable
                        ? t("admin.optional")
                        : undefined
                }
                list={offered?.length ? `${id}-choices` : undefined}
                value={typeof value === "string" ? value : ""}
                onChange={(e) => onChange(f.name, e.target.value)}
                aria-invalid={!!error}
              />
            ) : null}
            {offered && offered.length > 0 && (
              <datalist id={`${id}-choices`} data-testid={`choices-${f.name}`}>
                {offered.map((c) => (
                  <option key={c} value={c} />
                ))}
              </datalist>
            )}
            {(help || bounds) && (
              <small className="field__help">
                {help}
                {bounds && <span className="field__bounds">{bounds}</span>}
              </small>
            )}
            {parts.length > 0 && (
              <dl className="field__parts small" data-testid={`parts-${f.name}`}>
                {parts.map((p) => (
                  <div key={p.name}>
                    <dt className="mono">{p.name}</dt>
                    <dd>{localized(p.description, p.descriptionZh, i18n.language)}</dd>
                  </div>
                ))}
              </dl>
            )}
            {hints[f.name] && (
              <small className="field__help" data-testid="field-hint">
                {hints[f.name]}
              </small>
            )}
            {error && (
              <small className="field__error" data-testid="field-error" role="alert">
                {error}
              </small>
            )}
          </div>
        );
      })}
    </div>
  );
}
