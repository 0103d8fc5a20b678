/**
 * The studio form's saved prompt styles: choose some for the next generation (merged into its
 * prompts in the order chosen, previewed here), save the prompt as a style, edit and delete.
 */
import { useEffect, useRef, useState } from "react";
import { useTranslation } from "react-i18next";
import { applyStyles, PROMPT_PLACEHOLDER, styleNameProblem } from "./promptStyles";
import type { StylesStore } from "./useStyles";
import "./prompts.css";

const NAME_PROBLEMS = { empty: "styles.nameEmpty", long: "styles.nameLong", chars: "styles.nameChars" } as const;

interface Draft {
  /** null: a new style; else the name of the style being edited */
  editing: string | null;
  name: string;
  prompt: string;
  negative_prompt: string;
  error: string | null;
  saving: boolean;
}

export interface StylesPanelProps {
  store: StylesStore;
  /** the chosen styles, in order */
  chosen: readonly string[];
  onChosen: (names: string[]) => void;
  prompt: string;
  negativePrompt: string;
}

export function StylesPanel({ store, chosen, onChosen, prompt, negativePrompt }: StylesPanelProps) {
  const { t } = useTranslation();
  const [draft, setDraft] = useState<Draft | null>(null);
  const [manage, setManage] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const promptBox = useRef<HTMLTextAreaElement>(null);
  const known = new Set(store.list.map((s) => s.name));

  // a chosen style deleted elsewhere (another tab, an earlier visit) is no longer chosen
  const stale = store.loaded && chosen.some((n) => !known.has(n));
  useEffect(() => {
    if (stale) onChosen(chosen.filter((n) => known.has(n)));
  }, [stale]); // the names as of this render: enough, it runs when a stale name appears

  const merged = applyStyles(prompt, negativePrompt, chosen, store.list);
  const unchosen = store.list.filter((s) => !chosen.includes(s.name));

  const startNew = () =>
    setDraft({ editing: null, name: "", prompt, negative_prompt: negativePrompt, error: null, saving: false });

  const insertPlaceholder = () => {
    if (!draft) return;
    const box = promptBox.current;
    const at = box ? box.selectionStart : 0;
    const end = box ? box.selectionEnd : 0;
    const text = draft.prompt.slice(0, at) + PROMPT_PLACEHOLDER + draft.prompt.slice(end);
    setDraft({ ...draft, prompt: text });
    requestAnimationFrame(() => {
      box?.focus();
      box?.setSelectionRange(at + PROMPT_PLACEHOLDER.length, at + PROMPT_PLACEHOLDER.length);
    });
  };

  const saveDraft = async () => {
    if (!draft) return;
    const name = draft.editing ?? draft.name.trim();
    const problem = styleNameProblem(name);
    if (problem) {
      setDraft({ ...draft, error: t(NAME_PROBLEMS[problem]) });
      return;
    }
    if (draft.editing == null && known.has(name) && !window.confirm(t("styles.confirmReplace", { name }))) return;
    setDraft({ ...draft, saving: true, error: null });
    const err = await store.save(name, { prompt: draft.prompt, negative_prompt: draft.negative_prompt });
    if (err) setDraft({ ...draft, saving: false, error: err });
    else setDraft(null);
  };

  const remove = async (name: string) => {
    if (!window.confirm(t("styles.confirmDelete", { name }))) return;
    setError(null);
    const err = await store.remove(name);
    if (err) setError(err);
    else if (chosen.includes(name)) onChosen(chosen.filter((n) => n !== name));
  };

  return (
    <div className="styles-panel" data-testid="styles-panel">
      <div className="styles-panel__row">
        <span className="styles-panel__label">{t("styles.label")}</span>
        {chosen.length > 0 && (
          <ol className="styles-panel__chosen" data-testid="styles-chosen" title={t("styles.order")}>
            {chosen.map((name) => (
              <li key={name} className="chip" data-testid="style-chip">
                {name}
                {store.loaded && !known.has(name) && <span className="muted"> ({t("styles.missing")})</span>}
                <button
                  type="button"
                  className="styles-panel__x"
                  data-testid="style-unchoose"
                  aria-label={t("styles.remove", { name })}
                  title={t("styles.remove", { name })}
                  onClick={() => onChosen(chosen.filter((n) => n !== name))}
                >
                  ×
                </button>
              </li>
            ))}
          </ol>
        )}
        <select
          data-testid="style-add"
          value=""
          aria-label={t("styles.add")}
          disabled={unchosen.length === 0}
          onChange={(e) => e.target.value && onChosen([...chosen, e.target.value])}
        >
          <option value="">{store.list.length ? t("styles.add") : t("styles.noneSaved")}</option>
          {unchosen.map((s) => (
            <option key={s.name} value={s.name}>
              {s.name}
            </option>
          ))}
        </select>
        <button type="button" data-testid="style-save-current" onClick={startNew}>
          {t("styles.saveCurrent")}
        </button>
        {store.list.length > 0 && (
          <button type="button" data-testid="styles-manage" aria-expanded={manage} onClick={() => setManage(!manage)}>
            {t("styles.manage")}
          </button>
        )}
      </div>

      {chosen.length > 0 && (
        <div className="styles-panel__preview muted small" data-testid="styles-preview">
          <div>
            {t("styles.preview")}: <q data-testid="styles-preview-prompt">{merged.prompt}</q>
          </div>
          {merged.negative_prompt && (
            <div>
              {t("styles.previewNegative")}: <q data-testid="styles-preview-negative">{merged.negative_prompt}</q>
            </div>
          )}
        </div>
      )}

      {draft && (
        <div className="styles-panel__editor" data-testid="style-editor">
          <strong>{draft.editing == null ? t("styles.newStyle") : t("styles.editing", { name: draft.editing })}</strong>
          {draft.editing == null && (
            <label className="field">
              <span>{t("styles.name")}</span>
              <input
                data-testid="style-name"
                value={draft.name}
                maxLength={100}
                autoFocus
                onChange={(e) => setDraft({ ...draft, name: e.target.value, error: null })}
              />
            </label>
          )}
          <label className="field">
            <span>{t("styles.prompt")}</span>
            <textarea
              ref={promptBox}
              data-testid="style-prompt"
              rows={2}
              value={draft.prompt}
              onChange={(e) => setDraft({ ...draft, prompt: e.target.value })}
            />
          </label>
          <div className="styles-panel__row">
            <button type="button" data-testid="style-insert-placeholder" onClick={insertPlaceholder}>
              {t("styles.insertPlaceholder")}
            </button>
            <small className="muted">{t("styles.placeholderHelp")}</small>
          </div>
          <label className="field">
            <span>{t("styles.negative")}</span>
            <textarea
              data-testid="style-negative"
              rows={2}
              value={draft.negative_prompt}
              onChange={(e) => setDraft({ ...draft, negative_prompt: e.target.value })}
            />
          </label>
          {draft.error && (
            <small className="field__error" role="alert" data-testid="style-error">
              {draft.error}
            </small>
          )}
          <div className="styles-panel__row">
            <button type="button" className="primary" data-testid="style-save" disabled={draft.saving} onClick={() => void saveDraft()}>
              {t("styles.save")}
            </button>
            <button type="button" onClick={() => setDraft(null)}>
              {t("common.cancel")}
            </button>
          </div>
        </div>
      )}

      {manage && store.list.length > 0 && (
        <ul className="styles-panel__list" data-testid="styles-list">
          {store.list.map((s) => (
            <li key={s.name} data-testid="style-item" data-name={s.name}>
              <strong>{s.name}</strong>
              <span className="muted small styles-panel__text" title={s.negative_prompt ? `${s.prompt}\n− ${s.negative_prompt}` : s.prompt}>
                {s.prompt}
              </span>
              <button
                type="button"
                data-testid="style-edit"
                onClick={() =>
                  setDraft({ editing: s.name, name: s.name, prompt: s.prompt, negative_prompt: s.negative_prompt, error: null, saving: false })
                }
              >
                {t("styles.edit")}
              </button>
              <button type="button" className="danger" data-testid="style-delete" onClick={() => void remove(s.name)}>
                {t("styles.delete")}
              </button>
            </li>
          ))}
        </ul>
      )}

      {(error || store.error) && (
        <p className="error small" role="alert">
          {error ?? t("styles.loadError", { error: store.error })}
        </p>
      )}
    </div>
  );
}
