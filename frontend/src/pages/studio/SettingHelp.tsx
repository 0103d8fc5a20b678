/**
 * A studio setting's explanation: one sentence saying what it does, behind a "?" button beside
 * the setting's label (a disclosure: the button says whether it is open, and hovering it shows
 * the sentence too). The sentence has an id for the control's aria-describedby, so a screen
 * reader reads it with the control whether or not it is open. Where the Learn page has a section
 * on the concept, a link to it follows (in a new tab, so the form stays as it is).
 *
 * Place it in a `.field-help` box after the setting's label (GenerateForm's Field does): the
 * button sits at the box's top right, and an open box takes its grid row whole.
 */
import { useState, type ReactNode } from "react";
import { useTranslation } from "react-i18next";
import "./help.css";

export type SettingKey = "guidance" | "sampler" | "steps" | "scheduleType" | "eta" | "seed" | "size" | "strength";

// The Learn page's sections on each concept: the pipeline shows the denoising loop, the guidance
// formula and the latent the VAE decodes; the forward process shows the noise schedule β_t, ᾱ_t;
// lab.diffusion_internals' card (LabKinds gives it the id learnAnchor(name)) writes out each
// sampler's reverse step and DDIM's σ_t(η).
interface LearnSection {
  anchor: string;
  /** the i18n key of its title */
  title: string;
}
const PIPELINE: LearnSection = { anchor: "pipeline", title: "learn.pipelineTitle" };
const FORWARD: LearnSection = { anchor: "forward", title: "learn.forwardTitle" };
const INSIDE: LearnSection = { anchor: "lab-diffusion_internals", title: "studio.settingHelp.insideTitle" };
const LEARN_SECTION: Partial<Record<SettingKey, LearnSection>> = {
  guidance: PIPELINE,
  sampler: INSIDE,
  steps: PIPELINE,
  size: PIPELINE,
  scheduleType: FORWARD,
  strength: FORWARD,
  eta: INSIDE,
};

/** The id of a setting's sentence, for its control's aria-describedby. */
export function helpId(form: string, setting: SettingKey): string {
  return `${form}-help-${setting}`;
}

export interface SettingHelpProps {
  /** an id of the form, making the ids unique in the page */
  form: string;
  setting: SettingKey;
  /** the setting's name, for the button's label */
  label: string;
  /** said after the sentence (the model's own default, say) */
  extra?: ReactNode;
}

export function SettingHelp({ form, setting, label, extra }: SettingHelpProps) {
  const { t } = useTranslation();
  const [open, setOpen] = useState(false);
  const section = LEARN_SECTION[setting];
  const id = helpId(form, setting);
  const sentence = t(`studio.settingHelp.${setting}`);
  return (
    <>
      <button
        type="button"
        className="setting-help__toggle"
        aria-expanded={open}
        aria-controls={`${id}-box`}
        aria-label={t("studio.settingHelp.about", { setting: label })}
        title={sentence}
        data-testid={`help-${setting}-toggle`}
        onClick={() => setOpen((o) => !o)}
      >
        ?
      </button>
      <small className="setting-help" id={`${id}-box`} hidden={!open} data-testid={`help-${setting}`}>
        <span id={id}>
          {sentence}
          {extra ? <> {extra}</> : null}
        </span>
        {section && (
          <>
            {" "}
            <a href={`/learn#${section.anchor}`} target="_blank" rel="noopener" data-testid={`help-${setting}-learn`}>
              {t("studio.settingHelp.learn", { section: t(section.title) })}
              <span className="sr-only">{t("studio.settingHelp.newTab")}</span>
            </a>
          </>
        )}
      </small>
    </>
  );
}
