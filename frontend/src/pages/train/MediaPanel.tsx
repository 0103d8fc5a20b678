/** A run's artifacts, one panel per series, with a step slider over the series' items. */
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { artifactUrl } from "../../client";
import { ArtifactView } from "../../components/ArtifactView";
import type { ArtifactGroup } from "../../lib/artifacts";

function GroupPanel({ group, jobId }: { group: ArtifactGroup; jobId: string }) {
  const { t } = useTranslation();
  const [index, setIndex] = useState<number | null>(null);
  const last = group.items.length - 1;
  const i = index == null ? last : Math.min(index, last); // follow the newest until moved
  const item = group.items[i]!;
  return (
    <figure className="card media" data-testid="media-group" data-group={group.key}>
      <figcaption className="media__head">
        <strong>{group.key}</strong>
        {item.step != null && <span className="muted small">{t("train.atStep", { step: item.step })}</span>}
      </figcaption>
      {group.items.length > 1 && (
        <input
          type="range"
          min={0}
          max={last}
          value={i}
          aria-label={t("train.mediaStep")}
          data-testid="media-step"
          onChange={(e) => {
            const v = Number(e.target.value);
            setIndex(v === last ? null : v);
          }}
        />
      )}
      <ArtifactView view={item.view} url={item.url || artifactUrl(jobId, item.name)} name={item.name} />
    </figure>
  );
}

export function MediaPanel({ groups, jobId }: { groups: readonly ArtifactGroup[]; jobId: string }) {
  const { t } = useTranslation();
  const shown = groups.filter((g) => g.view !== "other");
  if (shown.length === 0) return <p className="muted">{t("train.noMedia")}</p>;
  return (
    <div className="media-grid">
      {shown.map((g) => (
        <GroupPanel key={g.key} group={g} jobId={jobId} />
      ))}
    </div>
  );
}
