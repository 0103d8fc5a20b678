import { useTranslation } from "react-i18next";
import { parseTime } from "../lib/format";

/** A job's state; a running job's dot pulses while its heartbeat is fresh. */
export function StateBadge({
  state,
  heartbeatAt,
  staleAfterS = 60,
  now = Date.now(),
}: {
  state: string;
  heartbeatAt?: string | null;
  staleAfterS?: number;
  now?: number;
}) {
  const { t } = useTranslation();
  const beat = parseTime(heartbeatAt);
  const age = beat == null ? null : Math.max(0, (now - beat) / 1000);
  const alive = state === "running" && age != null && age < staleAfterS;
  const title =
    state === "running"
      ? age == null
        ? t("jobs.noHeartbeat")
        : t("jobs.heartbeatAgo", { seconds: Math.round(age) })
      : undefined;
  return (
    <span className={`badge badge--${state}`} title={title} data-state={state}>
      {state === "running" && <span className={alive ? "pulse" : "pulse pulse--stale"} aria-hidden />}
      {t(`state.${state}`, { defaultValue: state })}
    </span>
  );
}
