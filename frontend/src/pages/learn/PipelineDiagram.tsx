/**
 * The house pipeline, tokenizer -> CLIP text encoder -> U-Net denoising loop -> VAE decoder,
 * each stage showing the data of the newest generation: its tokens (and their embedding norms
 * when the job stored them), the latents per step and the decoded image.
 */
import { useEffect, useMemo, useState } from "react";
import { useTranslation } from "react-i18next";
import { Link } from "react-router-dom";
import { api, artifactUrl } from "../../client";
import { eventsOfType, type ArtifactPayload } from "../../client/events";
import type { JobPublic } from "../../client/types";
import { ArtifactView } from "../../components/ArtifactView";
import { StateBadge } from "../../components/StateBadge";
import { Tex } from "../../components/Tex";
import { useJobEvents } from "../../hooks/useJobEvents";
import { useJson } from "../../hooks/useJson";
import { artifactView } from "../../lib/artifacts";
import { formatNumber, formatValue } from "../../lib/format";
import { lastGeneration } from "../../lib/lastGeneration";
import { WeightBadge } from "../studio/WeightBadge";
import { TEX } from "./math";

interface TokensInfo {
  tokens: string[];
  ids?: number[];
  norms?: number[];
  /** per token: its prompt weight, (word:1.3) -> 1.3; 1 = unweighted */
  weights?: number[];
  /** 75-token chunks the prompt was encoded in (BREAK or a long prompt makes more than one) */
  chunks?: number;
}

function Stage({ n, title, what, children }: { n: number; title: string; what: string; children: React.ReactNode }) {
  return (
    <li className="stage">
      <div className="stage__head">
        <span className="stage__n">{n}</span>
        <strong>{title}</strong>
      </div>
      <p className="muted small">{what}</p>
      <div className="stage__data">{children}</div>
    </li>
  );
}

function Tokens({ url }: { url: string }) {
  const { t } = useTranslation();
  const { data } = useJson<TokensInfo>(url);
  if (!data) return null;
  const max = Math.max(...(data.norms ?? [1]), 1e-9);
  return (
    <ol className="token-list">
      {data.chunks != null && data.chunks > 1 && (
        <li className="muted small" data-testid="token-chunks">
          {t("learn.tokenChunks", { count: data.chunks })}
        </li>
      )}
      {data.tokens.map((tok, i) => (
        <li key={i} className="token-list__item">
          <span className="token">
            {tok}
            <WeightBadge weight={data.weights?.[i]} />
          </span>
          {data.ids?.[i] != null && <span className="muted small mono">{data.ids[i]}</span>}
          {data.norms?.[i] != null && (
            <span className="bar" title={`‖e‖ = ${formatNumber(data.norms[i])}`}>
              <span style={{ width: `${(100 * data.norms[i]!) / max}%` }} />
            </span>
          )}
        </li>
      ))}
    </ol>
  );
}

export function PipelineDiagram() {
  const { t } = useTranslation();
  const [job, setJob] = useState<JobPublic | null>(null);
  const [missing, setMissing] = useState(false);

  useEffect(() => {
    const load = async () => {
      let id = lastGeneration();
      if (!id) {
        const { data } = await api.GET("/api/v1/generations", { params: { query: { offset: 0, limit: 1 } } });
        id = data?.data[0]?.job_id ?? null;
      }
      if (!id) return setMissing(true);
      const { data } = await api.GET("/api/v1/jobs/{job_id}", { params: { path: { job_id: id } } });
      if (data) setJob(data);
      else setMissing(true);
    };
    void load();
  }, []);

  const { events } = useJobEvents(job?.id ?? null);
  const frames = useMemo(() => eventsOfType(events, "denoise").map((e) => e.payload), [events]);
  const artifacts = useMemo(() => eventsOfType(events, "artifact").map((e) => e.payload), [events]);
  const [frameIdx, setFrameIdx] = useState<number | null>(null);

  if (missing) {
    return (
      <section className="card">
        <h2>{t("learn.pipelineTitle")}</h2>
        <p className="muted">
          {t("learn.noGeneration")} <Link to="/studio">{t("nav.studio")}</Link>
        </p>
      </section>
    );
  }
  const params = (job?.params ?? {}) as Record<string, unknown>;
  const url = (a: ArtifactPayload) => a.url || artifactUrl(job!.id, a.name);
  const tokensArt = artifacts.find((a) => a.name === "text/tokens.json");
  const attention = artifacts.find((a) => a.name === "attention/index.json");
  const textViews = artifacts.filter((a) => a.name.startsWith("text/") && a.name !== "text/tokens.json");
  const final = artifacts.find((a) => a.name.startsWith("final/"));
  const fi = frameIdx ?? frames.length - 1;
  const frame = frames[fi];

  return (
    <section className="card" id="pipeline">
      <div className="page__head">
        <h2>{t("learn.pipelineTitle")}</h2>
        {job && <StateBadge state={job.state} />}
      </div>
      {job && (
        <p className="small">
          <span className="muted">{t("learn.showing")}</span> <q data-testid="learn-prompt">{String(params.prompt ?? "")}</q>{" "}
          <span className="muted mono">
            {formatValue(params.sampler)} · {formatValue(params.steps)} {t("studio.steps").toLowerCase()} · w = {formatValue(params.guidance_scale)} · seed{" "}
            {formatValue(params.seed)}
          </span>
        </p>
      )}
      <ol className="pipeline" data-testid="pipeline">
        <Stage n={1} title={t("learn.tokenizer")} what={t("learn.tokenizerWhat")}>
          {tokensArt ? (
            <Tokens url={url(tokensArt)} />
          ) : attention ? (
            <Tokens url={url(attention)} />
          ) : (
            <p className="muted small">{t("learn.noData")}</p>
          )}
        </Stage>
        <Stage n={2} title={t("learn.textEncoder")} what={t("learn.textEncoderWhat")}>
          {textViews.map((a) => (
            <ArtifactView key={a.name} view={artifactView(a)} url={url(a)} name={a.name} />
          ))}
          {textViews.length === 0 && <Tex tex={String.raw`\tau(c) \in \mathbb{R}^{L \times d}`} />}
        </Stage>
        <Stage n={3} title={t("learn.unet")} what={t("learn.unetWhat")}>
          {frame ? (
            <>
              <div className="replay__frames">
                <figure>
                  <img className="pixelated" src={frame.xt ?? undefined} alt={`z_t ${frame.step}`} />
                  <figcaption>
                    z<sub>t</sub>, t = {frame.timestep}
                  </figcaption>
                </figure>
                {frame.eps && (
                  <figure>
                    <img className="pixelated" src={frame.eps} alt={`eps ${frame.step}`} />
                    <figcaption>ε̂</figcaption>
                  </figure>
                )}
              </div>
              <input
                type="range"
                min={0}
                max={frames.length - 1}
                value={fi}
                onChange={(e) => setFrameIdx(Number(e.target.value))}
                aria-label={t("learn.latentStep")}
              />
              <p className="muted small">{t("studio.stepOf", { step: frame.step + 1, total: frame.total })}</p>
            </>
          ) : (
            <p className="muted small">{t("learn.noData")}</p>
          )}
          <Tex tex={TEX.cfg} />
        </Stage>
        <Stage n={4} title={t("learn.vae")} what={t("learn.vaeWhat")}>
          {final ? <img className="pixelated stage__image" src={url(final)} alt={String(params.prompt ?? "")} /> : <p className="muted small">{t("learn.noData")}</p>}
        </Stage>
      </ol>
    </section>
  );
}
