/**
 * The studio form's LoRAs: the installed ones (GET /api/v1/loras) with their base model and
 * validation grid, and the chosen ones with a weight each. A LoRA trained on another base model
 * than the selected model cannot be added, and a chosen one is greyed out and left out of the
 * request (the API would refuse it), with a note naming both models.
 */
import { useEffect, useState } from "react";
import { useTranslation } from "react-i18next";
import { Link } from "react-router-dom";
import type { LoraInfo } from "../../client/types";
import { loraProblem, MAX_LORAS, type LoraChoice } from "./settings";
import type { LorasStore } from "./useLoras";
import "./loras.css";

/** The slider's span; the number box takes what the API takes. */
const SLIDER = { min: -1, max: 2, step: 0.05 };
const LIMIT = 4;

export interface LoraPickerProps {
  store: LorasStore;
  chosen: readonly LoraChoice[];
  onChosen: (next: LoraChoice[]) => void;
  /** the selected model ("" before the list of models arrives) */
  model: string;
  /** the API's 422 message for `loras` */
  error?: string;
}

function Thumb({ lora }: { lora: LoraInfo | undefined }) {
  const { t } = useTranslation();
  if (!lora?.preview_url) return <span className="lora__thumb lora__thumb--none" aria-hidden />;
  return (
    <a href={lora.preview_url} target="_blank" rel="noreferrer" title={t("loras.openPreview")}>
      <img className="lora__thumb pixelated" src={lora.preview_url} alt={t("loras.preview", { name: lora.name })} loading="lazy" />
    </a>
  );
}

export function LoraPicker({ store, chosen, onChosen, model, error }: LoraPickerProps) {
  const { t } = useTranslation();
  const [open, setOpen] = useState(chosen.length > 0);
  // the API's message about the LoRAs is not left in a closed section
  useEffect(() => {
    if (error) setOpen(true);
  }, [error]);
  const known = store.loaded ? store.list : null;
  const problem = (name: string) => loraProblem(name, model, known);
  const active = chosen.filter((c) => problem(c.name) == null).length;
  const full = chosen.length >= MAX_LORAS;
  const unchosen = store.list.filter((l) => !chosen.some((c) => c.name === l.name));

  const setWeight = (name: string, raw: string) => {
    const w = Number(raw);
    if (raw === "" || !Number.isFinite(w)) return;
    const weight = Math.min(LIMIT, Math.max(-LIMIT, w));
    onChosen(chosen.map((c) => (c.name === name ? { ...c, weight } : c)));
  };
  const note = (lora: LoraInfo | undefined, name: string) => {
    const p = problem(name);
    if (p === "missing") return t("loras.missing");
    if (p === "model") return t("loras.otherModel", { base: lora?.base_model ?? "", model });
    return null;
  };

  return (
    <details
      className="advanced lora-picker"
      data-testid="lora-section"
      open={open}
      onToggle={(e) => setOpen(e.currentTarget.open)}
    >
      <summary>
        {t("loras.title")}
        {active > 0 && (
          <span className="badge badge--running" data-testid="loras-active">
            {active}
          </span>
        )}
      </summary>
      <small className="muted">{t("loras.help")}</small>

      {chosen.length > 0 && (
        <ol className="lora-list" data-testid="loras-chosen">
          {chosen.map((c) => {
            const lora = store.list.find((l) => l.name === c.name);
            const why = note(lora, c.name);
            const id = `lora-weight-${c.name}`;
            return (
              <li
                key={c.name}
                className={why ? "lora lora--off" : "lora"}
                data-testid="lora-chosen"
                data-name={c.name}
                data-active={why ? "false" : "true"}
              >
                <Thumb lora={lora} />
                <div className="lora__body">
                  <div className="lora__head">
                    <strong>{c.name}</strong>
                    {lora?.base_model && <span className="muted small">{t("loras.base", { model: lora.base_model })}</span>}
                  </div>
                  <div className="lora__weight">
                    <label htmlFor={id} className="muted small">
                      {t("loras.weight")}
                    </label>
                    <input
                      type="range"
                      data-testid="lora-weight-range"
                      aria-label={t("loras.weightOf", { name: c.name })}
                      min={SLIDER.min}
                      max={SLIDER.max}
                      step={SLIDER.step}
                      value={Math.min(SLIDER.max, Math.max(SLIDER.min, c.weight))}
                      disabled={!!why}
                      onChange={(e) => setWeight(c.name, e.target.value)}
                    />
                    <input
                      id={id}
                      type="number"
                      data-testid="lora-weight"
                      min={-LIMIT}
                      max={LIMIT}
                      step={SLIDER.step}
                      value={c.weight}
                      disabled={!!why}
                      onChange={(e) => setWeight(c.name, e.target.value)}
                    />
                  </div>
                  {why && (
                    <small className="muted" data-testid="lora-note">
                      {why}
                    </small>
                  )}
                </div>
                <button
                  type="button"
                  className="lora__remove"
                  data-testid="lora-remove"
                  aria-label={t("loras.remove", { name: c.name })}
                  title={t("loras.remove", { name: c.name })}
                  onClick={() => onChosen(chosen.filter((x) => x.name !== c.name))}
                >
                  ×
                </button>
              </li>
            );
          })}
        </ol>
      )}

      {unchosen.length > 0 && (
        <ul className="lora-list lora-list--available" data-testid="loras-list">
          {unchosen.map((l) => {
            const why = problem(l.name);
            return (
              <li key={l.name} className={why ? "lora lora--off" : "lora"} data-testid="lora-item" data-name={l.name}>
                <Thumb lora={l} />
                <div className="lora__body">
                  <div className="lora__head">
                    <strong>{l.name}</strong>
                    <span className="muted small">
                      {l.base_model ? t("loras.base", { model: l.base_model }) : t("loras.baseUnknown")}
                    </span>
                  </div>
                  <small className="muted">
                    {[
                      l.dataset ? t("loras.dataset", { name: l.dataset }) : null,
                      l.steps != null ? t("loras.steps", { count: l.steps }) : null,
                      l.rank != null ? t("loras.rank", { rank: l.rank }) : null,
                    ]
                      .filter(Boolean)
                      .join(" · ")}
                  </small>
                  {why === "model" && (
                    <small className="muted" data-testid="lora-note">
                      {t("loras.otherModel", { base: l.base_model ?? "", model })}
                    </small>
                  )}
                </div>
                <button
                  type="button"
                  data-testid="lora-add"
                  disabled={!!why || full}
                  title={full ? t("loras.full", { max: MAX_LORAS }) : undefined}
                  onClick={() => onChosen([...chosen, { name: l.name, weight: 1 }])}
                >
                  {t("loras.add")}
                </button>
              </li>
            );
          })}
        </ul>
      )}

      {store.loaded && store.list.length === 0 && (
        <p className="muted small" data-testid="loras-empty">
          {t("loras.none")} <Link to="/datasets">{t("loras.trainOne")}</Link>
        </p>
      )}
      {store.error && (
        <p className="error small" role="alert">
          {t("loras.loadError", { error: store.error })}
        </p>
      )}
      {error && (
        <small className="field__error" data-testid="field-error" role="alert">
          {error}
        </small>
      )}
    </details>
  );
}
