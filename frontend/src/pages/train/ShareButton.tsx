/**
 * Share a run read-only by its link (PATCH /jobs/{id} {shared}), stop sharing it, copy the link.
 * Only the run's owner or an admin may change that; anyone else who opens a shared run is told
 * that it is someone else's and read-only (the API refuses them cancel and delete).
 */
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import { useTranslation } from "react-i18next";
import { api } from "../../client";
import { errorMessage } from "../../client/errors";
import type { JobPublic, UserPublic } from "../../client/types";
import { dataOf, queryKeys } from "../../lib/queries";

/** Whether `user` may change `job` (share it, cancel it, delete it): its owner or an admin. */
export function canChangeJob(job: Pick<JobPublic, "owner_id">, user: Pick<UserPublic, "id" | "role"> | null): boolean {
  return !!user && (user.role === "admin" || (job.owner_id != null && job.owner_id === user.id));
}

/** The address of a run's page, to hand to someone. */
export function runLink(jobId: string): string {
  return `${window.location.origin}/train/${encodeURIComponent(jobId)}`;
}

export interface ShareButtonProps {
  job: JobPublic;
  /** the signed-in user (useAuth().user) */
  user: UserPublic | null;
  /** the job as the API answered the change */
  onChange?: (job: JobPublic) => void;
}

export function ShareButton({ job, user, onChange }: ShareButtonProps) {
  const { t } = useTranslation();
  const queryClient = useQueryClient();
  const [shared, setShared] = useState(job.shared);
  // "copied", or the link shown to copy by hand where the clipboard is not available
  const [copy, setCopy] = useState<"copied" | "manual" | null>(null);
  useEffect(() => setShared(job.shared), [job.shared]);
  useEffect(() => setCopy(null), [shared]);

  if (!canChangeJob(job, user)) {
    return (
      <p className="muted small" data-testid="read-only">
        {t("share.readOnly", { owner: job.owner ?? "?" })}
      </p>
    );
  }

  // the answer is the job as it is now: the run page shows it, the lists (their "shared" chips) read theirs again
  const share = useMutation({
    mutationFn: async (next: boolean) => {
      const answer = await api.PATCH("/api/v1/jobs/{job_id}", { params: { path: { job_id: job.id } }, body: { shared: next } });
      return dataOf(answer, `${answer.response.status} ${answer.response.statusText}`);
    },
    onSuccess: (data) => {
      setShared(data.shared);
      queryClient.setQueryData(queryKeys.job(data.id), data);
      void queryClient.invalidateQueries({ queryKey: queryKeys.jobLists });
      onChange?.(data);
    },
  });
  const busy = share.isPending;
  const error = share.error ? errorMessage(share.error) : null;

  const copyLink = async () => {
    try {
      await navigator.clipboard.writeText(runLink(job.id));
      setCopy("copied");
    } catch {
      setCopy("manual"); // no clipboard (an insecure origin, a refusal): the link is shown instead
    }
  };

  return (
    <div className="share" data-testid="share">
      <div className="toolbar">
        {shared && (
          <span className="badge" data-testid="shared-badge" title={t("share.sharedHelp")}>
            {t("share.shared")}
          </span>
        )}
        <button
          type="button"
          className="small"
          aria-pressed={shared}
          disabled={busy}
          onClick={() => share.mutate(!shared)}
          title={shared ? undefined : t("share.shareHelp")}
          data-testid="share-toggle"
        >
          {shared ? t("share.stop") : t("share.share")}
        </button>
        {shared && (
          <button type="button" className="small" onClick={() => void copyLink()} data-testid="share-copy">
            {t("share.copy")}
          </button>
        )}
        {copy === "copied" && (
          <span className="ok small" role="status" data-testid="share-copied">
            {t("share.copied")}
          </span>
        )}
      </div>
      {copy === "manual" && (
        <input
          readOnly
          className="mono small"
          value={runLink(job.id)}
          aria-label={t("share.link")}
          onFocus={(e) => e.target.select()}
          data-testid="share-link"
        />
      )}
      {error && (
        <p className="error small" role="alert">
          {error}
        </p>
      )}
    </div>
  );
}
