/**
 * The studio's prompt box. For a model whose training captions are known (GET /models
 * `prompt_words`, `prompt_examples`) it offers what the model learned: while a word is typed, a
 * list of the known words that complete it (arrows to choose, Enter or Tab to complete, Escape
 * to close, or a click); a "try:" row of its example prompts, each filling the box; and a hint
 * naming the words of the prompt it never saw (the prompt is still sent as it is). The
 * placeholder is the model's first example. A model with no known words gets none of this.
 */
import { useId, useLayoutEffect, useRef, useState, type KeyboardEvent } from "react";
import { useTranslation } from "react-i18next";
import { completeWord, suggestWords, unknownWords, wordAt } from "./promptWords";
import "./help.css";
import "./prompts.css";

export interface PromptBoxProps {
  value: string;
  onChange: (prompt: string) => void;
  /** Ctrl+Enter (⌘+Enter) in the box */
  onSubmit: () => void;
  /** the words of the model's training captions; empty: not known */
  words: readonly string[];
  /** prompts of the forms the model was trained on */
  examples: readonly string[];
  error?: string;
}

export function PromptBox({ value, onChange, onSubmit, words, examples, error }: PromptBoxProps) {
  const { t } = useTranslation();
  const id = useId();
  const box = useRef<HTMLTextAreaElement>(null);
  // the caret (null: a selection, or not known); the box has focus; the list closed by Escape
  // for this word and prefix; the option chosen with the arrows, for this word and prefix
  const [caret, setCaret] = useState<number | null>(null);
  const [focused, setFocused] = useState(false);
  const [dismissed, setDismissed] = useState<string | null>(null);
  const [active, setActive] = useState({ key: "", index: 0 });
  const placeCaret = useRef<number | null>(null);

  const at = caret == null ? null : wordAt(value, Math.min(caret, value.length));
  const prefix = at && caret != null ? value.slice(at.start, caret) : "";
  const options = at ? suggestWords(words, prefix) : [];
  const key = at ? `${at.start}:${prefix}` : "";
  const open = focused && options.length > 0 && dismissed !== key;
  const index = active.key === key ? Math.min(active.index, options.length - 1) : 0;
  const unknown = unknownWords(value, words, focused ? at : null);

  // a completion moves the caret to the end of the word once the new text is in the box
  useLayoutEffect(() => {
    const pos = placeCaret.current;
    placeCaret.current = null;
    if (pos != null) box.current?.setSelectionRange(pos, pos);
  }, [value]);

  const trackCaret = (el: HTMLTextAreaElement) => setCaret(el.selectionStart === el.selectionEnd ? el.selectionStart : null);

  const complete = (word: string) => {
    if (!at) return;
    const next = completeWord(value, at, word);
    placeCaret.current = next.caret;
    setCaret(next.caret);
    onChange(next.prompt);
  };

  const onKeyDown = (e: KeyboardEvent<HTMLTextAreaElement>) => {
    if (e.nativeEvent.isComposing) return; // an input method's Enter confirms its text
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
      onSubmit();
      return;
    }
    if (!open) return;
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      const step = e.key === "ArrowDown" ? 1 : -1;
      setActive({ key, index: (index + step + options.length) % options.length });
    } else if ((e.key === "Enter" || e.key === "Tab") && !e.shiftKey && !e.altKey) {
      e.preventDefault();
      complete(options[index]!);
    } else if (e.key === "Escape") {
      e.preventDefault();
      setDismissed(key);
    }
  };

  const listId = `${id}-words`;
  const unknownId = `${id}-unknown`;
  const syntaxId = `${id}-syntax`;
  return (
    <div className={error ? "field field--error prompt-box" : "field prompt-box"}>
      <label htmlFor={`${id}-prompt`}>{t("studio.prompt")}</label>
      <div className="prompt-box__input">
        <textarea
          id={`${id}-prompt`}
          ref={box}
          data-testid="prompt"
          rows={3}
          value={value}
          placeholder={examples[0] ?? t("studio.promptPlaceholder")}
          aria-autocomplete={words.length > 0 ? "list" : undefined}
          aria-controls={open ? listId : undefined}
          aria-activedescendant={open ? `${listId}-${index}` : undefined}
          aria-describedby={[unknown.length > 0 ? unknownId : null, syntaxId].filter(Boolean).join(" ")}
          onChange={(e) => {
            trackCaret(e.target);
            onChange(e.target.value);
          }}
          onSelect={(e) => trackCaret(e.currentTarget)}
          onFocus={(e) => {
            setFocused(true);
            trackCaret(e.currentTarget);
          }}
          onBlur={() => setFocused(false)}
          onKeyDown={onKeyDown}
        />
        {open && (
          <ul className="prompt-box__words" id={listId} role="listbox" aria-label={t("studio.promptSuggestions")} data-testid="prompt-words">
            {options.map((w, i) => (
              <li
                key={w}
                id={`${listId}-${i}`}
                role="option"
                aria-selected={i === index}
                className={i === index ? "prompt-box__word prompt-box__word--active" : "prompt-box__word"}
                // keep the focus (and the caret) in the box
                onMouseDown={(e) => e.preventDefault()}
                onClick={() => complete(w)}
              >
                <strong>{w.slice(0, prefix.length)}</strong>
                {w.slice(prefix.length)}
              </li>
            ))}
          </ul>
        )}
        <span className="sr-only" aria-live="polite">
          {open ? t("studio.promptSuggestionsCount", { count: options.length }) : ""}
        </span>
      </div>
      {unknown.length > 0 && (
        <small className="prompt-box__unknown" id={unknownId} data-testid="prompt-unknown">
          {t("studio.promptUnknown", { words: unknown.join(", ") })}{" "}
          <span className="muted">{t("studio.promptUnknownWhy")}</span>
        </small>
      )}
      {examples.length > 0 && (
        <div className="prompt-box__examples" role="group" aria-label={t("studio.promptExamples")}>
          <span className="muted small">{t("studio.promptTry")}</span>
          {examples.map((ex) => (
            <button key={ex} type="button" className="chip chip--toggle" data-testid="prompt-example" onClick={() => onChange(ex)}>
              {ex}
            </button>
          ))}
        </div>
      )}
      <small className="muted small" id={syntaxId} data-testid="prompt-syntax">
        {t("studio.promptSyntax")}
      </small>
      {error && (
        <small className="field__error" data-testid="field-error" role="alert">
          {error}
        </small>
      )}
    </div>
  );
}
