/**
 * One image's caption, edited in place: a click opens it, Enter or leaving the box saves it
 * (PATCH /api/v1/datasets/{name}/items/{file_name}), Escape puts it back; an error stays beside
 * the box until the caption is saved or the edit is given up.
 */
import { useRef, useState } from "react";
import { useTranslation } from "react-i18next";
import { api } from "../../client";
import { errorMessage, fieldErrors } from "../../client/errors";
import type { DatasetItem } from "../../client/types";

export interface CaptionEditorProps {
  dataset: string;
  item: DatasetItem;
  onSaved: (item: DatasetItem) => void;
}

export function CaptionEditor({ dataset, item, onSaved }: CaptionEditorProps) {
  const { t } = useTranslation();
  const [draft, setDraft] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);
  const [error, setError] = useState<string | null>(null);
  // what the box is doing now, read by handlers that a re-render has not reached yet
  // (Enter then blur, Escape then blur): one save at a time, none after Escape
  const mode = useRef<"closed" | "editing" | "saving">("closed");

  const open = () => {
    mode.current = "editing";
    setDraft(item.text);
    setError(null);
  };
  const close = () => {
    mode.current = "closed";
    setDraft(null);
    setError(null);
  };

  const save = async () => {
    if (mode.current !== "editing" || draft == null) return;
    const text = draft.trim();
    if (text === item.text) {
      close();
      return;
    }
    if (!text) {
      setError(t("datasets.captionEmpty"));
      return;
    }
    mode.current = "saving";
    setSaving(true);
    try {
      const { data, error: err, response } = await api.PATCH("/api/v1/datasets/{name}/items/{file_name}", {
        params: { path: { name: dataset, file_name: item.file_name } },
        body: { text },
      });
      if (data) {
        close();
        onSaved(data);
        return;
      }
      mode.current = "editing";
      setError(fieldErrors(err, [["body"]]).text ?? errorMessage(err, `${response.status}`));
    } catch (e) {
      mode.current = "editing";
      setError(errorMessage(e));
    } finally {
      setSaving(false);
    }
  };

  if (draft == null) {
    return (
      <button
        type="button"
        className="caption"
        data-testid="caption"
        title={t("datasets.captionEdit")}
        onClick={open}
      >
        {item.text || <span className="muted">{t("datasets.captionNone")}</span>}
      </button>
    );
  }
  return (
    <div className="caption-edit">
      <textarea
        data-testid="caption-input"
        aria-label={t("datasets.captionOf", { file: item.file_name })}
        rows={3}
        maxLength={2000}
        value={draft}
        readOnly={saving}
        autoFocus
        aria-invalid={!!error}
        onChange={(e) => {
          setDraft(e.target.value);
          setError(null);
        }}
        onKeyDown={(e) => {
          if (e.key === "Enter" && !e.shiftKey) {
            e.preventDefault();
            void save();
          } else if (e.key === "Escape") {
            e.preventDefault();
            close();
          }
        }}
        onBlur={() => void save()}
      />
      <small className="muted">{saving ? t("datasets.captionSaving") : t("datasets.captionKeys")}</small>
      {error && (
        <small className="field__error" data-testid="caption-error" role="alert">
          {error}
        </small>
      )}
    </div>
  );
}
