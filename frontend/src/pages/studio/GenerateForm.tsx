import { useId, useState, type FormEvent, type ReactNode } from "react";
import { useTranslation } from "react-i18next";
import type { ModelInfo, SamplerInfo } from "../../client/types";
import { randomSeed } from "../../lib/format";
import {
  HR_UPSCALERS,
  hiresSize,
  img2imgSteps,
  INPAINTING_FILLS,
  MODES,
  RESIZE_MODES,
  SCHEDULE_TYPES,
  type HrUpscaler,
  type InpaintingFill,
  type ResizeMode,
  type ScheduleType,
  type StudioSettings,
} from "./settings";
import { LoraPicker } from "./LoraPicker";
import { PromptBox } from "./PromptBox";
import { helpId, SettingHelp } from "./SettingHelp";
import { StylesPanel } from "./StylesPanel";
import type { LorasStore } from "./useLoras";
import type { StylesStore } from "./useStyles";

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
  /** saved prompt styles; absent: no styles row */
  styles?: StylesStore;
  /** the installed LoRAs; absent: no LoRA section */
  loras?: LorasStore;
}

function FieldError({ message }: { message: string | undefined }) {
  if (!message) return null;
  return (
    <small className="field__error" data-testid="field-error" role="alert">
      {message}
    </small>
  );
}

/** A labelled control; `help` (its SettingHelp) goes under it, outside the label, so it is
 * the control's description (aria-describedby), not part of its name. */
function Field({ label, error, help, children }: { label: string; error?: string; help?: ReactNode; children: ReactNode }) {
  const field = (
    <label className={error ? "field field--error" : "field"}>
      <span>{label}</span>
      {children}
      <FieldError message={error} />
    </label>
  );
  return help ? (
    <div className="field-help">
      {field}
      {help}
    </div>
  ) : field;
}

export function GenerateForm({ settings, onChange, onSubmit, models, samplers, busy, errors, styles, loras }: GenerateFormProps) {
  const { t } = useTranslation();
  const form = useId();
  const set = <K extends keyof StudioSettings>(key: K, value: StudioSettings[K]) => onChange({ ...settings, [key]: value });
  const num = (key: keyof StudioSettings) => (e: { target: { value: string } }) =>
    set(key, (e.target.value === "" ? 0 : Number(e.target.value)) as never);

  const submit = (e: FormEvent) => {
    e.preventDefault();
    onSubmit();
  };
  const model = models.find((m) => m.name === settings.model);
  // the prompt box offers the words of the model that will run (the default one until chosen)
  const promptModel = model ?? models.find((m) => m.default);
  const sizes = sizesFor(model);
  const native = model?.resolution?.native;
  const sizeSelect = (key: "width" | "height", testId: string) => (
    <select
      data-testid={testId}
      value={settings[key] ?? ""}
      aria-describedby={helpId(form, "size")}
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

  const { skipped, run } = img2imgSteps(settings.strength, settings.steps);
  // hires fix and variation seeds are text-to-image only (the API refuses them with an init image)
  const txt2img = settings.mode === "txt2img";
  const sweeping = settings.guidance_sweep.trim() !== "";
  const hiresOff = !txt2img ? t("studio.hiresTxt2imgOnly") : sweeping ? t("studio.hiresNoSweep") : null;
  const [hiresOpen, setHiresOpen] = useState(settings.enable_hr);
  const [variationOpen, setVariationOpen] = useState(settings.subseed_strength > 0);
  const baseW = settings.width ?? native;
  const baseH = settings.height ?? native;
  const hiresTo = baseW && baseH ? hiresSize(baseW, baseH, settings.hr_scale) : null;
  const hiresOn = settings.enable_hr && !hiresOff;
  // 422s about `loras` (the list, or one of its items)
  const loraError = Object.entries(errors)
    .filter(([k]) => k === "loras" || k.startsWith("loras."))
    .map(([, v]) => v)
    .join("; ");

  return (
    <form className="card studio-form" onSubmit={submit} noValidate>
      <div className="segmented studio-form__modes" role="group" aria-label={t("studio.modeLabel")}>
        {MODES.map((m) => (
          <button
            key={m}
            type="button"
            data-testid={`mode-${m}`}
            aria-pressed={settings.mode === m}
            onClick={() => set("mode", m)}
          >
            {t(`studio.mode_${m}`)}
          </button>
        ))}
      </div>
      <PromptBox
        value={settings.prompt}
        onChange={(prompt) => set("prompt", prompt)}
        onSubmit={onSubmit}
        words={promptModel?.prompt_words ?? []}
        examples={promptModel?.prompt_examples ?? []}
        error={errors.prompt}
      />
      <Field label={t("studio.negativePrompt")} error={errors.negative_prompt}>
        <textarea
          data-testid="negative-prompt"
          rows={2}
          value={settings.negative_prompt}
          onChange={(e) => set("negative_prompt", e.target.value)}
        />
      </Field>
      {styles && (
        <StylesPanel
          store={styles}
          chosen={settings.styles}
          onChosen={(names) => set("styles", names)}
          prompt={settings.prompt}
          negativePrompt={settings.negative_prompt}
        />
      )}
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
        <Field label={t("studio.sampler")} error={errors.sampler} help={<SettingHelp form={form} setting="sampler" label={t("studio.sampler")} />}>
          <select
            data-testid="sampler"
            value={settings.sampler}
            aria-describedby={helpId(form, "sampler")}
            onChange={(e) => set("sampler", e.target.value)}
          >
            <option value="">{t("studio.defaultSampler")}</option>
            {samplers.map((s) => (
              <option key={s.name} value={s.name}>
                {s.name}
              </option>
            ))}
          </select>
        </Field>
        <Field label={t("studio.steps")} error={errors.steps} help={<SettingHelp form={form} setting="steps" label={t("studio.steps")} />}>
          <input
            data-testid="steps"
            type="number"
            min={1}
            max={150}
            value={settings.steps}
            aria-describedby={helpId(form, "steps")}
            onChange={num("steps")}
          />
        </Field>
        <Field
          label={t("studio.guidance")}
          error={errors.guidance_scale}
          help={
            <SettingHelp
              form={form}
              setting="guidance"
              label={t("studio.guidance")}
              extra={model ? t("studio.guidanceDefault", { value: model.default_guidance }) : undefined}
            />
          }
        >
          <input
            data-testid="guidance"
            aria-describedby={helpId(form, "guidance")}
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
      {loras && (
        <LoraPicker
          store={loras}
          chosen={settings.loras}
          onChosen={(next) => set("loras", next)}
          model={settings.model}
          error={loraError || undefined}
        />
      )}
      <Field label={t("studio.seed")} error={errors.seed} help={<SettingHelp form={form} setting="seed" label={t("studio.seed")} />}>
        <div className="seed-row">
          <input
            data-testid="seed"
            aria-describedby={helpId(form, "seed")}
            type="number"
            min={-1}
            value={settings.seed < 0 ? "" : settings.seed}
            placeholder={t("studio.seedRandomPlaceholder")}
            title={t("studio.seedHelp")}
            onChange={(e) => set("seed", e.target.value === "" ? -1 : Number(e.target.value))}
          />
          <button
            type="button"
            data-testid="seed-reroll"
            title={t("studio.reroll")}
            aria-label={t("studio.reroll")}
            onClick={() => set("seed", randomSeed())}
          >
            🎲 {t("studio.rerollShort")}
          </button>
        </div>
      </Field>
      <div className="grid3">
        <Field
          label={t("studio.width")}
          error={errors.width}
          help={<SettingHelp form={form} setting="size" label={t("studio.settingHelp.sizeLabel")} />}
        >
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
        <small className="muted">
          {t("studio.nativeHelp", { size: native })}
          {settings.mode !== "txt2img" && ` · ${t("studio.nativeInit")}`}
        </small>
      )}
      {settings.mode !== "txt2img" && (
        <>
          <Field
            label={`${t("studio.strength")}: ${settings.strength.toFixed(2)}`}
            error={errors.strength}
            help={<SettingHelp form={form} setting="strength" label={t("studio.strength")} />}
          >
            <input
              data-testid="strength"
              aria-describedby={helpId(form, "strength")}
              type="range"
              min={0}
              max={1}
              step={0.01}
              value={settings.strength}
              onChange={num("strength")}
            />
            <small className="muted" data-testid="strength-help">
              {run > 0
                ? t("studio.strengthHelp", { strength: settings.strength, steps: settings.steps, skipped, run })
                : t("studio.strengthNone", { strength: settings.strength, steps: settings.steps })}
            </small>
          </Field>
          <Field label={t("studio.resizeMode")} error={errors.resize_mode}>
            <select
              data-testid="resize-mode"
              value={settings.resize_mode}
              onChange={(e) => set("resize_mode", e.target.value as ResizeMode)}
            >
              {RESIZE_MODES.map((m) => (
                <option key={m} value={m}>
                  {t(`studio.resize_${m}`)}
                </option>
              ))}
            </select>
          </Field>
        </>
      )}
      {settings.mode === "inpaint" && (
        <div className="grid2">
          <Field label={t("studio.maskBlur")} error={errors.mask_blur}>
            <input data-testid="mask-blur" type="number" min={0} max={64} value={settings.mask_blur} onChange={num("mask_blur")} />
          </Field>
          <Field label={t("studio.inpaintingFill")} error={errors.inpainting_fill}>
            <select
              data-testid="inpainting-fill"
              value={settings.inpainting_fill}
              onChange={(e) => set("inpainting_fill", e.target.value as InpaintingFill)}
            >
              {INPAINTING_FILLS.map((f) => (
                <option key={f} value={f}>
                  {t(`studio.fill_${f}`)}
                </option>
              ))}
            </select>
          </Field>
          <label className="field__check" title={t("studio.onlyMaskedHelp")}>
            <input
              type="checkbox"
              data-testid="inpaint-full-res"
              checked={settings.inpaint_full_res}
              onChange={(e) => set("inpaint_full_res", e.target.checked)}
            />
            {t("studio.onlyMasked")}
          </label>
          {settings.inpaint_full_res && (
            <Field label={t("studio.onlyMaskedPadding")} error={errors.inpaint_full_res_padding}>
              <input
                data-testid="inpaint-padding"
                type="number"
                min={0}
                max={256}
                value={settings.inpaint_full_res_padding}
                onChange={num("inpaint_full_res_padding")}
              />
            </Field>
          )}
        </div>
      )}
      <details
        className="advanced"
        data-testid="hires-section"
        open={hiresOpen}
        onToggle={(e) => setHiresOpen(e.currentTarget.open)}
      >
        <summary data-testid="hires-summary">
          {t("studio.hires")}
          {hiresOn && (
            <span className="badge badge--running" data-testid="hires-on">
              ×{settings.hr_scale}
              {hiresTo ? ` → ${hiresTo.width}×${hiresTo.height}` : ""}
            </span>
          )}
        </summary>
        <label className="field__check" title={t("studio.hiresHelp")}>
          <input
            type="checkbox"
            data-testid="enable-hr"
            checked={settings.enable_hr && !hiresOff}
            disabled={!!hiresOff}
            onChange={(e) => set("enable_hr", e.target.checked)}
          />
          {t("studio.hiresEnable")}
        </label>
        {hiresOff && (
          <small className="muted" data-testid="hires-note">
            {hiresOff}
          </small>
        )}
        <FieldError message={errors.enable_hr} />
        <fieldset className="plain-fieldset" disabled={!hiresOn}>
          <div className="grid2">
            <Field label={t("studio.hrUpscaler")} error={errors.hr_upscaler}>
              <select
                data-testid="hr-upscaler"
                value={settings.hr_upscaler}
                onChange={(e) => set("hr_upscaler", e.target.value as HrUpscaler)}
              >
                {HR_UPSCALERS.map((u) => (
                  <option key={u} value={u}>
                    {u}
                  </option>
                ))}
              </select>
            </Field>
            <Field label={t("studio.hrScale")} error={errors.hr_scale}>
              <input
                data-testid="hr-scale"
                type="number"
                min={1.05}
                max={4}
                step={0.05}
                value={settings.hr_scale}
                onChange={num("hr_scale")}
              />
            </Field>
            <Field label={t("studio.hrSteps")} error={errors.hr_second_pass_steps}>
              <input
                data-testid="hr-steps"
                type="number"
                min={0}
                max={150}
                value={settings.hr_second_pass_steps}
                title={t("studio.hrStepsHelp")}
                onChange={num("hr_second_pass_steps")}
              />
            </Field>
            <Field label={`${t("studio.hrStrength")}: ${settings.hr_strength.toFixed(2)}`} error={errors.hr_strength}>
              <input
                data-testid="hr-strength"
                type="range"
                min={0}
                max={1}
                step={0.01}
                value={settings.hr_strength}
                onChange={num("hr_strength")}
              />
            </Field>
          </div>
          {hiresOn && (
            <small className="muted" data-testid="hires-help">
              {t("studio.hiresPlan", {
                steps: settings.steps,
                second: settings.hr_second_pass_steps || settings.steps,
                size: hiresTo ? `${hiresTo.width}×${hiresTo.height}` : `×${settings.hr_scale}`,
              })}
            </small>
          )}
        </fieldset>
      </details>
      <details
        className="advanced"
        data-testid="variation-section"
        open={variationOpen}
        onToggle={(e) => setVariationOpen(e.currentTarget.open)}
      >
        <summary>
          {t("studio.variation")}
          {txt2img && settings.subseed_strength > 0 && (
            <span className="badge badge--running">{settings.subseed_strength.toFixed(2)}</span>
          )}
        </summary>
        {!txt2img && (
          <small className="muted" data-testid="variation-note">
            {t("studio.variationTxt2imgOnly")}
          </small>
        )}
        <fieldset className="plain-fieldset" disabled={!txt2img}>
          <div className="grid2">
            <Field label={t("studio.subseed")} error={errors.subseed}>
              <div className="seed-row">
                <input
                  data-testid="subseed"
                  type="number"
                  min={-1}
                  value={settings.subseed < 0 ? "" : settings.subseed}
                  placeholder={t("studio.seedRandomPlaceholder")}
                  onChange={(e) => set("subseed", e.target.value === "" ? -1 : Number(e.target.value))}
                />
                <button
                  type="button"
                  title={t("studio.reroll")}
                  aria-label={t("studio.reroll")}
                  onClick={() => set("subseed", randomSeed())}
                >
                  🎲
                </button>
              </div>
            </Field>
            <Field
              label={`${t("studio.subseedStrength")}: ${settings.subseed_strength.toFixed(2)}`}
              error={errors.subseed_strength}
            >
              <input
                data-testid="subseed-strength"
                type="range"
                min={0}
                max={1}
                step={0.01}
                value={settings.subseed_strength}
                onChange={num("subseed_strength")}
              />
            </Field>
          </div>
          <small className="muted">{t("studio.variationHelp")}</small>
        </fieldset>
      </details>
      <details className="advanced">
        <summary>{t("studio.advanced")}</summary>
        <div className="grid2">
          <Field label={t("studio.etaField")} error={errors.eta} help={<SettingHelp form={form} setting="eta" label={t("studio.etaField")} />}>
            <input
              data-testid="eta"
              type="number"
              min={0}
              max={1}
              step={0.1}
              value={settings.eta}
              aria-describedby={helpId(form, "eta")}
              onChange={num("eta")}
            />
          </Field>
          <Field
            label={t("studio.scheduleType")}
            error={errors.scheduler}
            help={<SettingHelp form={form} setting="scheduleType" label={t("studio.scheduleType")} />}
          >
            <select
              data-testid="schedule-type"
              value={settings.scheduler}
              aria-describedby={helpId(form, "scheduleType")}
              onChange={(e) => set("scheduler", e.target.value as ScheduleType)}
            >
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
          <Field label={t("studio.clipSkip")} error={errors.clip_skip}>
            <input
              data-testid="clip-skip"
              type="number"
              min={1}
              max={12}
              value={settings.clip_skip}
              title={t("studio.clipSkipHelp")}
              onChange={num("clip_skip")}
            />
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
