/**
 * Upload a captioned image dataset: a name, and a folder (dropped, or chosen with a directory
 * picker) or one .zip. The files go as multipart parts named by their path in the folder, with
 * the upload's progress; the API's 422s are shown at the name or at the files. A .zip over
 * 32 MiB goes by the resumable protocol instead (resumable.ts): in chunks, retried from where the
 * server is when one fails, and after a refused name only finished again.
 */
import { useEffect, useRef, useState, type DragEvent, type FormEvent } from "react";
import { useTranslation } from "react-i18next";
import { uploadDataset, type UploadOutcome } from "../../client";
import { errorMessage, fieldErrors } from "../../client/errors";
import type { DatasetInfo } from "../../client/types";
import { ProgressBar } from "../../components/ProgressBar";
import {
  DATASET_NAME,
  filesFromDrop,
  filesFromList,
  formatBytes,
  MAX_UPLOAD_BYTES,
  MAX_UPLOAD_FILES,
  planUpload,
  suggestName,
  type PickedFile,
  type UploadPlan,
} from "./files";
import { RESUMABLE_OVER_BYTES, ResumableUpload, type Retry } from "./resumable";

type Errors = Partial<Record<"name" | "files" | "", string>>;

interface Sending {
  sent: number;
  total: number;
  /** a chunk of a resumable upload failed and is being retried */
  retry?: Retry | null;
  abort: () => void;
}

/** The one .zip of a plan that goes by the resumable protocol, if it does. */
function resumableFile(plan: UploadPlan | null): Blob | null {
  const only = plan?.zip ? plan.files[0] : undefined;
  return only && plan!.bytes > RESUMABLE_OVER_BYTES ? only.file : null;
}

export function UploadPanel({ onUploaded }: { onUploaded: (dataset: DatasetInfo) => void }) {
  const { t } = useTranslation();
  const [name, setName] = useState("");
  const [plan, setPlan] = useState<UploadPlan | null>(null);
  const [reading, setReading] = useState(false);
  const [over, setOver] = useState(false);
  const [sending, setSending] = useState<Sending | null>(null);
  const [errors, setErrors] = useState<Errors>({});
  const folderInput = useRef<HTMLInputElement>(null);
  const zipInput = useRef<HTMLInputElement>(null);
  // a resumable upload the server holds (after a refused name, or a chunk given up on)
  const resumable = useRef<ResumableUpload | null>(null);

  const dropResumable = (keep: Blob | null = null) => {
    const held = resumable.current;
    if (held && held.file !== keep) {
      resumable.current = null;
      void held.abandon();
    }
  };
  // leaving the page abandons an unfinished upload
  useEffect(() => () => dropResumable(), []);

  const take = (picked: PickedFile[]) => {
    const next = planUpload(picked);
    dropResumable(resumableFile(next));
    setPlan(next);
    setErrors((e) => ({ ...e, files: undefined, "": undefined }));
    const first = next.files[0];
    // a name typed already (even while a drop was being read) is kept
    if (first) setName((typed) => typed || suggestName(first.path));
  };

  const drop = (e: DragEvent) => {
    e.preventDefault();
    setOver(false);
    if (sending) return;
    // the entries are read from the DataTransfer before this handler returns
    const walking = filesFromDrop(e.dataTransfer);
    setReading(true);
    walking
      .then(take)
      .catch((err: unknown) => setErrors({ files: t("datasets.readFailed", { error: errorMessage(err) }) }))
      .finally(() => setReading(false));
  };

  const problemText = (p: UploadPlan): string | null => {
    switch (p.problem) {
      case "empty":
        return t("datasets.problemEmpty");
      case "zipMixed":
        return t("datasets.problemZipMixed");
      case "noImages":
        return t("datasets.problemNoImages");
      case "tooMany":
        return t("datasets.problemTooMany", { count: p.files.length, max: MAX_UPLOAD_FILES });
      case "tooLarge":
        return t("datasets.problemTooLarge", { size: formatBytes(p.bytes), max: formatBytes(MAX_UPLOAD_BYTES) });
      default:
        return null;
    }
  };

  const outcome = (o: UploadOutcome) => {
    if (o.data) {
      resumable.current = null;
      setPlan(null);
      setName("");
      onUploaded(o.data);
      return;
    }
    if (o.aborted) {
      setErrors({ "": t("datasets.uploadCancelled") });
      return;
    }
    const held = resumable.current;
    if (held?.id != null && held.received < held.file.size && (o.status === 0 || o.status >= 500)) {
      const error = o.status ? errorMessage(o.error, `${o.status}`) : t("datasets.noAnswerShort");
      setErrors({ "": t("datasets.resumeLater", { at: formatBytes(held.received), error }) });
      return;
    }
    if (o.status === 0) {
      setErrors({ "": t("datasets.noAnswer") });
      return;
    }
    if (o.status === 404 && held) {
      setErrors({ "": t("datasets.uploadGone") });
      return;
    }
    if (o.status === 422) {
      const fe = fieldErrors(o.error, [["body"]]);
      const next: Errors = {};
      for (const [key, msg] of Object.entries(fe)) {
        const at = key === "name" || key.startsWith("name.") ? "name" : key === "files" || key.startsWith("files.") ? "files" : "";
        next[at] = next[at] ? `${next[at]}; ${msg}` : msg;
      }
      setErrors(Object.keys(next).length ? next : { "": errorMessage(o.error) });
      return;
    }
    const msg = errorMessage(o.error, `${o.status}`);
    setErrors(o.status === 413 ? { files: t("datasets.tooLargeServer", { error: msg }) } : { "": msg });
  };

  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (sending || reading) return;
    const next: Errors = {};
    if (!DATASET_NAME.test(name)) next.name = name ? t("datasets.nameRule") : t("datasets.nameEmpty");
    if (!plan) next.files = t("datasets.problemEmpty");
    else if (plan.problem) next.files = problemText(plan) ?? undefined;
    setErrors(next);
    if (Object.keys(next).length || !plan) return;
    const big = resumableFile(plan);
    if (big) {
      dropResumable(big);
      const upload = resumable.current ?? new ResumableUpload(big);
      resumable.current = upload;
      setSending({ sent: upload.received, total: plan.bytes, retry: null, abort: () => void upload.abandon() });
      void upload
        .send(name, (p) => setSending((s) => (s ? { ...s, sent: p.sent, total: p.total, retry: p.retry } : s)))
        .then((o) => {
          setSending(null);
          outcome(o);
        });
      return;
    }
    dropResumable();
    const started = uploadDataset(name, plan.files, (sent, total) =>
      setSending((s) => (s ? { ...s, sent, total: total || s.total } : s)),
    );
    setSending({ sent: 0, total: plan.bytes, abort: started.abort });
    void started.done.then((o) => {
      setSending(null);
      outcome(o);
    });
  };

  const filesProblem = plan ? problemText(plan) : null;
  const fraction = sending && sending.total > 0 ? sending.sent / sending.total : 0;
  const sent = sending != null && sending.total > 0 && sending.sent >= sending.total;

  return (
    <form className="card upload" data-testid="dataset-upload-panel" onSubmit={submit} noValidate>
      <h2>{t("datasets.uploadTitle")}</h2>
      <p className="muted small">{t("datasets.uploadHelp")}</p>
      <label className={errors.name ? "field field--error" : "field"} data-field="name">
        <span>{t("datasets.name")}</span>
        <input
          data-testid="dataset-name"
          value={name}
          maxLength={64}
          placeholder="my-cats"
          disabled={!!sending}
          aria-invalid={!!errors.name}
          onChange={(e) => {
            setName(e.target.value);
            setErrors((x) => ({ ...x, name: undefined }));
          }}
        />
        <small className="field__help">{t("datasets.nameHelp")}</small>
        {errors.name && (
          <small className="field__error" data-testid="field-error" role="alert">
            {errors.name}
          </small>
        )}
      </label>
      <div className={errors.files ? "field field--error" : "field"} data-field="files">
        <div
          className={over ? "dropzone dropzone--over" : "dropzone"}
          data-testid="dataset-drop"
          onDragEnter={(e) => {
            e.preventDefault();
            setOver(true);
          }}
          onDragOver={(e) => {
            e.preventDefault();
            e.dataTransfer.dropEffect = "copy";
          }}
          onDragLeave={() => setOver(false)}
          onDrop={drop}
        >
          <p>{reading ? t("datasets.reading") : t("datasets.dropHere")}</p>
          <div className="toolbar">
            <button type="button" data-testid="dataset-choose-folder" disabled={!!sending} onClick={() => folderInput.current?.click()}>
              {t("datasets.chooseFolder")}
            </button>
            <button type="button" data-testid="dataset-choose-zip" disabled={!!sending} onClick={() => zipInput.current?.click()}>
              {t("datasets.chooseZip")}
            </button>
          </div>
          <input
            ref={folderInput}
            type="file"
            hidden
            multiple
            webkitdirectory=""
            data-testid="dataset-folder-input"
            onChange={(e) => {
              take(filesFromList(e.target.files));
              e.target.value = "";
            }}
          />
          <input
            ref={zipInput}
            type="file"
            hidden
            accept=".zip,application/zip"
            data-testid="dataset-zip-input"
            onChange={(e) => {
              take(filesFromList(e.target.files));
              e.target.value = "";
            }}
          />
        </div>
        {plan && plan.files.length > 0 && (
          <small className="muted" data-testid="dataset-picked">
            {plan.zip
              ? t("datasets.pickedZip", { name: plan.files[0]!.path, size: formatBytes(plan.bytes) })
              : t("datasets.pickedFiles", { count: plan.files.length, size: formatBytes(plan.bytes) })}
            {plan.skipped > 0 && ` · ${t("datasets.skipped", { count: plan.skipped })}`}
          </small>
        )}
        {(errors.files ?? filesProblem) && (
          <small className="field__error" data-testid="field-error" role="alert">
            {errors.files ?? filesProblem}
          </small>
        )}
      </div>
      {sending && (
        <div className="toolbar upload__progress">
          <ProgressBar
            value={fraction}
            testId="upload-progress"
            label={
              sent
                ? t("datasets.checking")
                : sending.retry
                  ? t("datasets.resuming", {
                      at: formatBytes(sending.retry.at),
                      attempt: sending.retry.attempt,
                      of: sending.retry.of,
                    })
                  : t("datasets.uploading", {
                      percent: Math.round(fraction * 100),
                      sent: formatBytes(sending.sent),
                      total: formatBytes(sending.total),
                    })
            }
          />
          <button type="button" data-testid="upload-cancel" onClick={sending.abort}>
            {t("common.cancel")}
          </button>
        </div>
      )}
      {errors[""] && (
        <p className="error" role="alert" data-testid="upload-error">
          {errors[""]}
        </p>
      )}
      <div className="toolbar">
        <button type="submit" className="primary" data-testid="dataset-upload" disabled={!!sending || reading}>
          {sending ? t("datasets.uploadingShort") : t("datasets.upload")}
        </button>
      </div>
    </form>
  );
}
