import type { FormEvent, ReactNode } from "react";
import { useTranslation } from "react-i18next";
import type { ModelInfo, SamplerInfo } from "../../client/types";
import { randomSeed } from "../../lib/format";
import { SCHEDULE_TYPES, type ScheduleType, type StudioSettings } from "./settings";

const SIZES = [32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024];

/** Sizes the model takes: within its [min, max] and multiples of its step. */
function sizesFor(model: ModelInfo | undefined): number[] {
  if (!model?.resolution) return [64];
  const { min, max, multiple, native } = model.resolution;
  const ok = SIZES.filter((s) => s >= min && s <= max && s % (multiple || 8) === 0);
  return [...new Set([...ok, native])].sort((a, b) => a - b);
}

export interface GenerateFormProps {
  settings: StudioSettings;
  onChange: (next: StudioSettings) => void;
  onSubmit: () => void;
  models: readonly ModelInfo[];
  samplers: readonly SamplerInfo[];
  busy: boolean;
  errors: Record<string, string>;
}

function FieldError({ message }: { message: string | undefined }) {
  if (!message) return null;
  return (
    <small className="field__error" data-testid="field-error" role="alert">
      {message}
    </small>
  );
}

function Field({ label, error, children }: { label: string; error?: string; children: ReactNode }) {
  return (
    <label className={error ? "field field--error" : "field"}>
      <span>{label}</span>
      {children}
      <FieldError message={error} />
    </label>
  );
}

export function GenerateForm({ settings, onChange, onSubmit, models, samplers, busy, errors }: GenerateFormProps) {
  const { t } = useTranslation();
  const set = <K extends keyof StudioSettings>(key: K, value: StudioSettings[K]) => onChange({ ...settings, [key]: value });
  const num = (key: keyof StudioSettings) => (e: { target: { value: string } }) =>
    set(key, (e.target.value === "" ? 0 : Number(e.target.value)) as never);

  const submit = (e: FormEvent) => {
    e.preventDefault();
    onSubmit();
  };
  const model = models.find((m) => m.name === settings.model);
  const sizes = sizesFor(model);
  const native = model?.resolution?.native;
  const sizeSelect = (key: "width" | "height", testId: string) => (
    <select
      data-testid={testId}
      value={settings[key] ?? ""}
      onChange={(e) => set(key, e.target.value === "" ? null : Number(e.target.value))}
    >
      <option value="" title={native ? t("studio.nativeHelp", { size: native }) : undefined}>
        {native ? t("studio.native") : t("studio.nativeUnknown")}
      </option>
      {[...new Set([...sizes, ...(settings[key] != null ? [settings[key]!] : [])])].map((s) => (
        <option key={s} value={s}>
          {s}
        </option>
      ))}
    </select>
  );

  return (
    <form className="card studio-form" onSubmit={submit} noValidate>
      <Field label={t("studio.prompt")} error={errors.prompt}>
        <textarea
          data-testid="prompt"
          rows={3}
          value={settings.prompt}
          placeholder={t("studio.promptPlaceholder")}
          onChange={(e) => set("prompt", e.target.value)}
          onKeyDown={(e) => {
            if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) onSubmit();
          }}
        />
      </Field>
      <Field label={t("studio.negativePrompt")} error={errors.negative_prompt}>
        <textarea
          data-testid="negative-prompt"
          rows={2}
          value={settings.negative_prompt}
          onChange={(e) => set("negative_prompt", e.target.value)}
        />
      </Field>
      <div className="grid2">
        <Field label={t("studio.model")} error={errors.model}>
          <select data-testid="model" value={settings.model} onChange={(e) => set("model", e.target.value)}>
            {models.length === 0 && <option value="">{t("studio.defaultModel")}</option>}
            {models.map((m) => (
              <option key={m.name} value={m.name}>
                {m.name}
                {m.default ? ` (${t("studio.default")})` : ""}
              </option>
            ))}
          </select>
        </Field>
        <Field label={t("studio.sampler")} error={errors.sampler}>
          <select data-testid="sampler" value={settings.sampler} onChange={(e) => set("sampler", e.target.value)}>
            <option value="">{t("studio.defaultSampler")}</option>
            {samplers.map((s) => (
              <option key={s.name} value={s.name}>
                {s.name}
              </option>
            ))}
          </select>
        </Field>
        <Field label={t("studio.steps")} error={errors.steps}>
          <input data-testid="steps" type="number" min={1} max={150} value={settings.steps} onChange={num("steps")} />
        </Field>
        <Field label={t("studio.guidance")} error={errors.guidance_scale}>
          <input
            data-testid="guidance"
            type="number"
            min={0}
            max={30}
            step={0.5}
            value={settings.guidance_scale ?? ""}
            placeholder={model ? String(model.default_guidance) : ""}
            title={t("studio.guidanceDefault", { value: model?.default_guidance ?? "" })}
            onChange={(e) => set("guidance_scale", e.target.value === "" ? null : Number(e.target.value))}
          />
        </Field>
      </div>
      <Field label={t("studio.seed")} error={errors.seed}>
        <div className="seed-row">
          <input data-testid="seed" type="number" min={0} value={settings.seed} onChange={num("seed")} />
          <button
            type="button"
            data-testid="seed-reroll"
            title={t("studio.reroll")}
            aria-label={t("studio.reroll")}
            onClick={() => set("seed", randomSeed())}
          >
            {t("studio.rerollShort")}
          </button>
          <label className="field__check" title={t("studio.lockHelp")}>
            <input
              type="checkbox"
              data-testid="seed-lock"
              checked={settings.seedLocked}
              onChange={(e) => set("seedLocked", e.target.checked)}
            />
            {t("studio.lock")}
          </label>
        </div>
      </Field>
      <div className="grid3">
        <Field label={t("studio.width")} error={errors.width}>
          {sizeSelect("width", "width")}
        </Field>
        <Field label={t("studio.height")} error={errors.height}>
          {sizeSelect("height", "height")}
        </Field>
        <Field label={t("studio.batch")} error={errors.batch_size}>
          <input data-testid="batch" type="number" min={1} max={16} value={settings.batch_size} onChange={num("batch_size")} />
        </Field>
      </div>
      {native && (settings.width == null || settings.height == null) && (
        <small className="muted">{t("studio.nativeHelp", { size: native })}</small>
      )}
      <details className="advanced">
        <summary>{t("studio.advanced")}</summary>
        <div className="grid2">
          <Field label={t("studio.etaField")} error={errors.eta}>
            <input type="number" min={0} max={1} step={0.1} value={settings.eta} onChange={num("eta")} />
          </Field>
          <Field label={t("studio.scheduleType")} error={errors.scheduler}>
            <select value={settings.scheduler} onChange={(e) => set("scheduler", e.target.value as ScheduleType)}>
              {SCHEDULE_TYPES.map((s) => (
                <option key={s} value={s}>
                  {s}
                </option>
              ))}
            </select>
          </Field>
          <Field label={t("studio.preview")} error={errors.preview}>
            <select value={settings.preview} onChange={(e) => set("preview", e.target.value as StudioSettings["preview"])}>
              <option value="full">{t("studio.previewFull")}</option>
              <option value="approx">{t("studio.previewApprox")}</option>
              <option value="none">{t("studio.previewNone")}</option>
            </select>
          </Field>
          <Field label={t("studio.previewEvery")} error={errors.preview_every}>
            <input type="number" min={1} value={settings.preview_every} onChange={num("preview_every")} />
          </Field>
          <Field label={t("studio.sweep")} error={errors.guidance_sweep}>
            <input
              data-testid="guidance-sweep"
              value={settings.guidance_sweep}
              placeholder="1, 3, 7.5, 12"
              onChange={(e) => set("guidance_sweep", e.target.value)}
            />
          </Field>
        </div>
      </details>
      {errors[""] && (
        <p className="error" role="alert" data-testid="field-error">
          {errors[""]}
        </p>
      )}
      <button className="primary" type="submit" data-testid="generate" disabled={busy}>
        {busy ? t("studio.submitting") : t("studio.generate")}
      </button>
    </form>
  );
}
