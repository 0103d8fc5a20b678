import { useCallback, useEffect, useState } from "react";
import { useTranslation } from "react-i18next";
import { api } from "../../client";
import { errorMessage, fieldErrors } from "../../client/errors";
import type { GenerationCreate, GenerationPublic, ModelInfo, SamplerInfo } from "../../client/types";
import { randomSeed } from "../../lib/format";
import { rememberGeneration } from "../../lib/lastGeneration";
import { Gallery } from "./Gallery";
import { GenerateForm } from "./GenerateForm";
import { GenerationView } from "./GenerationView";
import { fromParams, loadSettings, saveSettings, toRequest, type StudioSettings } from "./settings";

interface Current {
  jobId: string;
  prompt: string;
  negativePrompt: string;
  state?: string;
  fresh: boolean;
}

const PAGE = 24;

export function StudioPage() {
  const { t } = useTranslation();
  const [settings, setSettings] = useState<StudioSettings>(loadSettings);
  const [models, setModels] = useState<ModelInfo[]>([]);
  const [samplers, setSamplers] = useState<SamplerInfo[]>([]);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [busy, setBusy] = useState(false);
  const [current, setCurrent] = useState<Current | null>(null);
  const [gallery, setGallery] = useState<{ items: GenerationPublic[]; count: number }>({ items: [], count: 0 });
  const [limit, setLimit] = useState(PAGE);

  useEffect(() => saveSettings(settings), [settings]);

  useEffect(() => {
    void api.GET("/api/v1/models").then(({ data }) => {
      if (!data) return;
      const list: ModelInfo[] = data;
      setModels(list);
      const fallback = (list.find((m) => m.default) ?? list[0])?.name ?? "";
      setSettings((s) => (s.model && list.some((m) => m.name === s.model) ? s : { ...s, model: fallback }));
    });
    void api.GET("/api/v1/samplers").then(({ data }) => {
      if (!data) return;
      const list: SamplerInfo[] = data;
      setSamplers(list);
      // "" = the server's default sampler, until the user picks one
      setSettings((s) => (s.sampler && !list.some((x) => x.name === s.sampler) ? { ...s, sampler: "" } : s));
    });
  }, []);

  const loadGallery = useCallback(async () => {
    const { data } = await api.GET("/api/v1/generations", { params: { query: { offset: 0, limit } } });
    if (data) setGallery({ items: data.data, count: data.count });
  }, [limit]);
  useEffect(() => {
    void loadGallery();
  }, [loadGallery]);

  const generate = async () => {
    const next = settings.seedLocked ? settings : { ...settings, seed: randomSeed() };
    setSettings(next);
    setErrors({});
    setBusy(true);
    try {
      // fields left out take the API's defaults (the generated type marks defaulted fields required)
      const body = toRequest(next) as GenerationCreate;
      const { data, error, response } = await api.POST("/api/v1/generations", { body });
      if (!data) {
        const fields = response.status === 422 ? fieldErrors(error, [["body"]]) : {};
        setErrors(Object.keys(fields).length ? fields : { "": errorMessage(error, `${response.status}`) });
        return;
      }
      rememberGeneration(data.job.id);
      setCurrent({ jobId: data.job.id, prompt: next.prompt, negativePrompt: next.negative_prompt, state: data.job.state, fresh: true });
      void loadGallery();
    } catch (e) {
      setErrors({ "": errorMessage(e) });
    } finally {
      setBusy(false);
    }
  };

  const open = (g: GenerationPublic) => {
    const params = g.params as Record<string, unknown>;
    setCurrent({
      jobId: g.job_id,
      prompt: g.prompt,
      negativePrompt: typeof params.negative_prompt === "string" ? params.negative_prompt : "",
      state: g.state,
      fresh: false,
    });
    window.scrollTo?.({ top: 0, behavior: "smooth" });
  };

  return (
    <div className="page studio">
      <div className="studio__main">
        <GenerateForm
          settings={settings}
          onChange={setSettings}
          onSubmit={() => void generate()}
          models={models}
          samplers={samplers}
          busy={busy}
          errors={errors}
        />
        <div className="studio__result">
          {current ? (
            <GenerationView
              key={current.jobId}
              jobId={current.jobId}
              prompt={current.prompt}
              negativePrompt={current.negativePrompt}
              initialState={current.state}
              fresh={current.fresh}
              onEnded={() => void loadGallery()}
            />
          ) : (
            <div className="card empty-state">
              <p>{t("studio.emptyState")}</p>
            </div>
          )}
        </div>
      </div>
      <section className="studio__gallery">
        <h2>{t("studio.gallery")}</h2>
        <Gallery
          items={gallery.items}
          count={gallery.count}
          onUse={(g) => setSettings((s) => fromParams(s, g.params as Record<string, unknown>, g.seed))}
          onOpen={open}
          onMore={() => setLimit((l) => l + PAGE)}
        />
      </section>
    </div>
  );
}
