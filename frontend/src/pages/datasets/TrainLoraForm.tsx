/**
 * "Train a LoRA on this dataset": the `lora` job's main parameters with its defaults, sent as
 * POST /api/v1/jobs {kind: "lora", params}; the API's 422s at the field; on success the run page.
 */
import { useState, type FormEvent, type ReactNode } from "react";
import { useTranslation } from "react-i18next";
import { useNavigate } from "react-router-dom";
import { api } from "../../client";
import { errorMessage, fieldErrors } from "../../client/errors";
import type { ModelInfo } from "../../client/types";

/** The lora kind's defaults (train_lora.Params). */
export const LORA_DEFAULTS = { rank: "4", steps: "300", lr: "0.0005" };
/** The API takes at most this many validation prompts. */
export const MAX_VALIDATION_PROMPTS = 8;

const FIELDS = ["model", "rank", "steps", "lr", "train_text_encoder", "validation_prompts", "output"] as const;
type FieldName = (typeof FIELDS)[number];
type Errors = Partial<Record<FieldName | "", string>>;

export interface TrainLoraFormProps {
  dataset: string;
  models: readonly ModelInfo[];
  /** the base model ("" before the list arrives: the kind's default) */
  model: string;
  onModel: (model: string) => void;
}

/** The validation prompts typed one per line (blank lines left out). */
export function promptLines(text: string): string[] {
  return text
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);
}

function Field({ name, label, error, children }: { name: string; label: string; error?: string; children: ReactNode }) {
  return (
    <label className={error ? "field field--error" : "field"} data-field={name}>
      <span>{label}</span>
      {children}
      {error && (
        <small className="field__error" data-testid="field-error" role="alert">
          {error}
        </small>
      )}
    </label>
  );
}

export function TrainLoraForm({ dataset, models, model, onModel }: TrainLoraFormProps) {
  const { t } = useTranslation();
  const navigate = useNavigate();
  const [rank, setRank] = useState(LORA_DEFAULTS.rank);
  const [steps, setSteps] = useState(LORA_DEFAULTS.steps);
  const [lr, setLr] = useState(LORA_DEFAULTS.lr);
  const [textEncoder, setTextEncoder] = useState(false);
  const [prompts, setPrompts] = useState("");
  const [output, setOutput] = useState("");
  const [errors, setErrors] = useState<Errors>({});
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const found: Errors = {};
    const number = (key: FieldName, raw: string) => {
      const v = Number(raw);
      if (raw.trim() === "" || !Number.isFinite(v)) found[key] = t("datasets.loraNumber");
      return v;
    };
    const params: Record<string, unknown> = {
      dataset,
      rank: number("rank", rank),
      steps: number("steps", steps),
      lr: number("lr", lr),
      train_text_encoder: textEncoder,
      validation_prompts: promptLines(prompts),
    };
    if (model) params.model = model;
    if (output.trim()) params.output = output.trim();
    if ((params.validation_prompts as string[]).length > MAX_VALIDATION_PROMPTS)
      found.validation_prompts = t("datasets.loraTooManyPrompts", { max: MAX_VALIDATION_PROMPTS });
    setErrors(found);
    if (Object.keys(found).length) return;
    setBusy(true);
    try {
      const { data, error, response } = await api.POST("/api/v1/jobs", { body: { kind: "lora", params } });
      if (data) {
        navigate(`/train/${data.id}`);
        return;
      }
      if (response.status !== 422) {
        setErrors({ "": errorMessage(error, `${response.status} ${response.statusText}`) });
        return;
      }
      const next: Errors = {};
      for (const [key, msg] of Object.entries(fieldErrors(error, [["body", "params"], ["params"]]))) {
        const at = FIELDS.find((f) => key === f || key.startsWith(`${f}.`)) ?? "";
        const text = at === "" && key ? `${key}: ${msg}` : msg;
        next[at] = next[at] ? `${next[at]}; ${text}` : text;
      }
      setErrors(Object.keys(next).length ? next : { "": errorMessage(error) });
    } catch (err) {
      setErrors({ "": errorMessage(err) });
    } finally {
      setBusy(false);
    }
  };

  const lines = promptLines(prompts).length;
  return (
    <form className="card train-lora" data-testid="train-lora" onSubmit={(e) => void submit(e)} noValidate>
      <h2>{t("datasets.loraTitle")}</h2>
      <p className="muted small">{t("datasets.loraHelp")}</p>
      <div className="train-lora__fields">
        <Field name="model" label={t("datasets.loraModel")} error={errors.model}>
          <select data-testid="lora-model" value={model} onChange={(e) => onModel(e.target.value)}>
            {models.length === 0 && <option value="">{t("studio.defaultModel")}</option>}
            {models.map((m) => (
              <option key={m.name} value={m.name}>
                {m.name}
                {m.default ? ` (${t("studio.default")})` : ""}
              </option>
            ))}
          </select>
        </Field>
        <Field name="rank" label={t("datasets.loraRank")} error={errors.rank}>
          <input data-testid="lora-rank" type="number" min={1} max={128} value={rank} onChange={(e) => setRank(e.target.value)} />
        </Field>
        <Field name="steps" label={t("datasets.loraSteps")} error={errors.steps}>
          <input data-testid="lora-steps" type="number" min={1} max={20000} value={steps} onChange={(e) => setSteps(e.target.value)} />
        </Field>
        <Field name="lr" label={t("datasets.loraLr")} error={errors.lr}>
          <input data-testid="lora-lr" type="number" min={0} max={1} step="any" value={lr} onChange={(e) => setLr(e.target.value)} />
        </Field>
        <Field name="output" label={t("datasets.loraOutput")} error={errors.output}>
          <input
            data-testid="lora-output"
            value={output}
            maxLength={64}
            placeholder={t("datasets.loraOutputPlaceholder")}
            onChange={(e) => setOutput(e.target.value)}
          />
        </Field>
      </div>
      <div className={errors.train_text_encoder ? "field field--error" : "field"} data-field="train_text_encoder">
        <label className="field__check">
          <input
            type="checkbox"
            data-testid="lora-text-encoder"
            checked={textEncoder}
            onChange={(e) => setTextEncoder(e.target.checked)}
          />
          {t("datasets.loraTextEncoder")}
        </label>
        <small className="field__help">{t("datasets.loraTextEncoderHelp")}</small>
        {errors.train_text_encoder && (
          <small className="field__error" data-testid="field-error" role="alert">
            {errors.train_text_encoder}
          </small>
        )}
      </div>
      <Field name="validation_prompts" label={t("datasets.loraPrompts", { count: lines, max: MAX_VALIDATION_PROMPTS })} error={errors.validation_prompts}>
        <textarea
          data-testid="lora-prompts"
          rows={4}
          value={prompts}
          placeholder={t("datasets.loraPromptsPlaceholder")}
          onChange={(e) => setPrompts(e.target.value)}
        />
        <small className="field__help">{t("datasets.loraPromptsHelp")}</small>
      </Field>
      {errors[""] && (
        <p className="error" role="alert" data-testid="lora-error">
          {errors[""]}
        </p>
      )}
      <button type="submit" className="primary" data-testid="lora-submit" disabled={busy}>
        {busy ? t("datasets.loraStarting") : t("datasets.loraStart")}
      </button>
    </form>
  );
}
