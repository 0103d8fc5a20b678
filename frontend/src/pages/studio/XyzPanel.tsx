/**
 * The X/Y/Z plot's form: up to three axes (a field and its values), the cell count as you type,
 * and "Run plot", which submits the form's current settings as every cell's base.
 */
import { useTranslation } from "react-i18next";
import { SCHEDULE_TYPES } from "./settings";
import {
  AXIS_FIELDS,
  AXIS_NAMES,
  cellCount,
  MAX_CELLS,
  parseAxes,
  variesLora,
  type AxisField,
  type AxisInput,
  type AxisName,
  type AxisSpec,
} from "./xyz";

export interface XyzPanelProps {
  axes: Record<AxisName, AxisInput>;
  onAxes: (next: Record<AxisName, AxisInput>) => void;
  onRun: (specs: Partial<Record<AxisName, AxisSpec>>) => void;
  samplers: readonly string[];
  models: readonly string[];
  /** the installed LoRAs' names (GET /loras): the LoRA axis offers them */
  loras: readonly string[];
  /**
   * The LoRA a LoRA axis varies: the first of the request's `loras` (settings.loras less those
   * that do not apply); null when the request has none (the API refuses the axis then).
   */
  baseLora: string | null;
  /** how many LoRAs are chosen in the LoRAs section (some may not apply to the model) */
  chosenLoras: number;
  busy: boolean;
  /** the server's 422s: per axis, and "" for the rest */
  errors: Partial<Record<AxisName | "", string>>;
}

/** Names the API serves for the fields that take names (a click adds one to the values). */
function choicesFor(
  field: AxisField | "",
  samplers: readonly string[],
  models: readonly string[],
  loras: readonly string[],
): readonly string[] {
  if (field === "sampler") return samplers;
  if (field === "model") return models;
  if (field === "lora") return loras;
  if (field === "scheduler") return SCHEDULE_TYPES;
  return [];
}

/** The value as it goes into the comma-separated text (quoted when it holds a comma or quote). */
function quote(v: string): string {
  return /[,"]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

export function XyzPanel({ axes, onAxes, onRun, samplers, models, loras, baseLora, chosenLoras, busy, errors }: XyzPanelProps) {
  const { t } = useTranslation();
  const { specs, errors: parseErrors } = parseAxes(axes);
  const count = cellCount(specs);
  const tooMany = count > MAX_CELLS;
  const invalid = Object.keys(parseErrors).length > 0;
  const setAxis = (name: AxisName, next: Partial<AxisInput>) => onAxes({ ...axes, [name]: { ...axes[name], ...next } });

  return (
    <details className="card xyz-panel" data-testid="xyz-panel">
      <summary>
        <strong>{t("xyz.title")}</strong>
      </summary>
      <p className="muted small">{t("xyz.help")}</p>
      {AXIS_NAMES.map((name) => {
        const axis = axes[name];
        const choices = choicesFor(axis.field, samplers, models, loras);
        const error = errors[name] ?? (axis.field || name === "x" ? parseErrors[name] : undefined);
        const used = new Set(specs[name]?.values.map(String) ?? []);
        return (
          <div key={name} className={error ? "xyz-axis field--error" : "xyz-axis"} data-axis={name} data-testid={`xyz-axis-${name}`}>
            <span className="xyz-axis__name">{name.toUpperCase()}</span>
            <select
              aria-label={t("xyz.axisField", { axis: name.toUpperCase() })}
              data-testid={`xyz-field-${name}`}
              value={axis.field}
              onChange={(e) => setAxis(name, { field: e.target.value as AxisField | "" })}
            >
              {name !== "x" && <option value="">{t("xyz.none")}</option>}
              {name === "x" && !axis.field && <option value="">{t("xyz.choose")}</option>}
              {AXIS_FIELDS.map((f) => (
                <option key={f} value={f}>
                  {t(`xyz.field_${f}`)}
                </option>
              ))}
            </select>
            <input
              aria-label={t("xyz.axisValues", { axis: name.toUpperCase() })}
              data-testid={`xyz-values-${name}`}
              value={axis.text}
              disabled={!axis.field}
              placeholder={axis.field ? t(`xyz.placeholder_${axis.field}`) : ""}
              onChange={(e) => setAxis(name, { text: e.target.value })}
            />
            {choices.length > 0 && (
              <div className="xyz-axis__choices" data-testid={`xyz-choices-${name}`}>
                {choices.map((c) => (
                  <button
                    key={c}
                    type="button"
                    aria-pressed={used.has(c)}
                    onClick={() => {
                      const have = used.has(c);
                      const vals = (specs[name]?.values.map(String) ?? []).filter((v) => v !== c);
                      setAxis(name, { text: (have ? vals : [...vals, c]).map(quote).join(", ") });
                    }}
                  >
                    {c}
                  </button>
                ))}
              </div>
            )}
            {axis.field === "prompt_sr" && <small className="muted xyz-axis__hint">{t("xyz.promptSrHelp")}</small>}
            {variesLora(axis.field) &&
              (baseLora == null ? (
                <small className="xyz-axis__hint xyz-axis__note" data-testid="xyz-lora-note">
                  {chosenLoras > 0 ? t("xyz.loraNoneApplies") : t("xyz.loraNeeded")}
                </small>
              ) : (
                <small className="muted xyz-axis__hint" data-testid="xyz-lora-target">
                  {t("xyz.loraVaries", { name: baseLora })}
                </small>
              ))}
            {error && (
              <small className="field__error xyz-axis__hint" data-testid="field-error" role="alert">
                {error}
              </small>
            )}
          </div>
        );
      })}
      <p className={tooMany ? "error" : "muted"} data-testid="xyz-count">
        {tooMany ? t("xyz.tooMany", { count, max: MAX_CELLS }) : t("xyz.cells", { count })}
      </p>
      {errors[""] && (
        <p className="error" role="alert" data-testid="xyz-error">
          {errors[""]}
        </p>
      )}
      <button
        type="button"
        className="primary"
        data-testid="xyz-run"
        disabled={busy || invalid || count === 0 || tooMany}
        onClick={() => onRun(specs)}
      >
        {busy ? t("studio.submitting") : t("xyz.run", { count })}
      </button>
    </details>
  );
}
