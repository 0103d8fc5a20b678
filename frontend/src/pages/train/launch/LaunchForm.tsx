/**
 * Launch a job: choose a kind, fill the form generated from its params schema, submit; the API's
 * 422s are shown at the field they name. The runs page gives it to every user (the kinds they may
 * launch), the admin page to admins (every kind, and `overwrite`). A kind's integer `processes`
 * (data-parallel training) is bounded by the largest `devices` among the live workers serving the
 * kind's queue (GET /workers, read by the admin page).
 */
import { useQuery } from "@tanstack/react-query";
import { useEffect, useMemo, useState } from "react";
import type { FormEvent } from "react";
import { useTranslation } from "react-i18next";
import { Link } from "react-router-dom";
import { api } from "../../../client";
import { errorMessage, fieldErrors } from "../../../client/errors";
import type { DatasetInfo, JobKind, JobPublic, WorkerInfo } from "../../../client/types";
import { SchemaFields } from "../../../components/SchemaForm";
import { datasetsQuery } from "../../../lib/queries";
import { defaultValues, parseValues, schemaFields, type FormField, type JsonSchema, type RawValues } from "../../../lib/schemaForm";
import { kindDescription, kindTitle, launchableKinds } from "./kinds";
import "./launch.css";

/**
 * The most `processes` the live workers serving `queue` can run: their largest `devices`, within
 * the schema's own bound. "none": no live worker serves the queue (the schema's bound stands);
 * null: the workers are not known yet, or the field is not there.
 */
export function processesBound(
  field: FormField | undefined,
  queue: string,
  workers: readonly WorkerInfo[] | null | undefined,
): number | "none" | null {
  if (!field || field.kind !== "integer" || !workers) return null;
  const serving = workers.filter((w) => w.queues.includes(queue));
  if (serving.length === 0) return "none";
  const most = Math.max(...serving.map((w) => w.devices));
  const bound = Math.min(field.maximum ?? Infinity, most);
  return bound >= (field.minimum ?? 1) ? bound : null;
}

const imageDatasetNames = (all: readonly DatasetInfo[]) => all.filter((d) => d.kind === "images").map((d) => d.name);

export interface LaunchFormProps {
  /** the job kinds (GET /job-kinds); the form offers those the user may launch */
  kinds: readonly JobKind[];
  /** an admin launches every kind, admin-only ones too, and may replace a model (`overwrite`) */
  admin?: boolean;
  /** the kind chosen at first, and again whenever this changes (the runs page's ?kind=) */
  initialKind?: string;
  /** the live workers (GET /workers); null while not known */
  workers?: readonly WorkerInfo[] | null;
  onLaunched?: (job: JobPublic) => void;
}

export function LaunchForm({ kinds: allKinds, admin = false, initialKind = "", workers = null, onLaunched }: LaunchFormProps) {
  const { t, i18n } = useTranslation();
  const kinds = useMemo(() => launchableKinds(allKinds, admin), [allKinds, admin]);
  const [kindName, setKindName] = useState(initialKind);
  useEffect(() => {
    if (initialKind) setKindName(initialKind);
  }, [initialKind]);
  const kind = kinds.find((k) => k.name === kindName) ?? kinds[0];
  // only admins replace a model: a learner's form leaves `overwrite` out (the model's false)
  const fields = useMemo(
    () => (kind ? schemaFields(kind.params_schema as JsonSchema).filter((f) => admin || f.name !== "overwrite") : []),
    [kind, admin],
  );
  const [values, setValues] = useState<RawValues>({});
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [busy, setBusy] = useState(false);
  const [launched, setLaunched] = useState<JobPublic | null>(null);

  // a training kind's `dataset` text field takes an image dataset's name (built in or uploaded)
  // or "imagefolder": those are offered (GET /datasets, the cached list, when such a field is shown)
  const datasetField = kind?.category === "training" && fields.some((f) => f.name === "dataset" && f.kind === "string");
  const datasets = useQuery({ ...datasetsQuery(), enabled: datasetField, select: imageDatasetNames }).data;
  const suggestions = useMemo(() => {
    const offered: Record<string, string[]> = {};
    if (datasetField) offered.dataset = [...(datasets ?? []).filter((d) => d !== "imagefolder"), "imagefolder"];
    return offered;
  }, [datasetField, datasets]);

  useEffect(() => {
    setValues(defaultValues(fields));
    setErrors({});
  }, [fields]);

  // `processes`: no more than the workers serving the kind's queue have devices (GPUs or cores);
  // the fields shown carry that bound, while `fields` (whose change resets the form) stay as they are
  const bound = kind ? processesBound(fields.find((f) => f.name === "processes"), kind.queue, workers) : null;
  const shown = useMemo(
    () => (typeof bound === "number" ? fields.map((f) => (f.name === "processes" ? { ...f, maximum: bound } : f)) : fields),
    [fields, bound],
  );
  const hints: Record<string, string> = {};
  if (kind && typeof bound === "number") hints.processes = t("admin.processesBound", { max: bound, queue: kind.queue });
  else if (kind && bound === "none") hints.processes = t("admin.processesNoWorker", { queue: kind.queue });

  if (!kind) return <p className="muted">{t("admin.noKinds")}</p>;

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const parsed = parseValues(fields, values);
    setLaunched(null);
    if (typeof bound === "number" && typeof parsed.params.processes === "number" && parsed.params.processes > bound) {
      parsed.errors.processes = t("admin.processesTooMany", { max: bound, queue: kind.queue });
    }
    if (Object.keys(parsed.errors).length) {
      setErrors(parsed.errors);
      return;
    }
    // replacing a model is never a default: the form asks before it sends overwrite: true
    if (parsed.params.overwrite === true && !window.confirm(t("admin.confirmOverwrite", { name: String(parsed.params.output || "") }))) {
      return;
    }
    setErrors({});
    setBusy(true);
    try {
      const { data, error, response } = await api.POST("/api/v1/jobs", { body: { kind: kind.name, params: parsed.params } });
      if (data) {
        setLaunched(data);
        onLaunched?.(data);
      } else if (response.status === 422) {
        const fe = fieldErrors(error, [["body", "params"], ["params"]]);
        setErrors(Object.keys(fe).length ? fe : { "": errorMessage(error) });
      } else setErrors({ "": errorMessage(error, `${response.status} ${response.statusText}`) });
    } catch (err) {
      setErrors({ "": errorMessage(err) });
    } finally {
      setBusy(false);
    }
  };

  const grouped = new Map<string, JobKind[]>();
  for (const k of kinds) grouped.set(k.category, [...(grouped.get(k.category) ?? []), k]);

  return (
    <form className="card launch" data-testid="launch-form" onSubmit={submit} noValidate>
      <label className="field">
        <span>{t("admin.kind")}</span>
        <select data-testid="launch-kind" value={kind.name} onChange={(e) => setKindName(e.target.value)}>
          {[...grouped.entries()].map(([category, ks]) => (
            <optgroup key={category} label={t(`category.${category}`, { defaultValue: category })}>
              {ks.map((k) => (
                <option key={k.name} value={k.name}>
                  {kindTitle(k, i18n.language)}
                </option>
              ))}
            </optgroup>
          ))}
        </select>
      </label>
      <p className="muted small" data-testid="launch-description">
        <code>{kind.name}</code> · {t("admin.queue")}: {kind.queue} · {kindDescription(kind, i18n.language)}
      </p>
      <SchemaFields
        fields={shown}
        values={values}
        errors={errors}
        onChange={(name, v) => setValues((cur) => ({ ...cur, [name]: v }))}
        suggestions={suggestions}
        hints={hints}
      />
      {errors[""] && (
        <p className="error" role="alert" data-testid="field-error">
          {errors[""]}
        </p>
      )}
      <div className="toolbar">
        <button type="submit" className="primary" data-testid="launch-submit" disabled={busy}>
          {busy ? t("admin.launching") : t("admin.launch")}
        </button>
        <button type="button" onClick={() => setValues(defaultValues(fields))}>
          {t("admin.resetDefaults")}
        </button>
        {launched && (
          <span className="ok" data-testid="launched">
            {t("admin.launched")} <Link to={`/train/${launched.id}`}>{launched.id.slice(0, 8)}</Link>
          </span>
        )}
      </div>
    </form>
  );
}
