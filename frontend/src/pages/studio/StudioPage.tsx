import { useCallback, useEffect, useState } from "react";
import { useTranslation } from "react-i18next";
import { api, uploadImage } from "../../client";
import { errorMessage, fieldErrors } from "../../client/errors";
import type { GenerationCreate, GenerationPublic, ModelInfo, SamplerInfo, StoredImage } from "../../client/types";
import { randomSeed } from "../../lib/format";
import { rememberGeneration } from "../../lib/lastGeneration";
import { Gallery } from "./Gallery";
import { GenerateForm } from "./GenerateForm";
import { GenerationView } from "./GenerationView";
import { InitImagePanel } from "./InitImagePanel";
import { exportMask, hasPaint, type Stroke } from "./mask";
import {
  fromParams,
  loadSettings,
  saveSettings,
  toRequest,
  type RequestImages,
  type StudioMode,
  type StudioSettings,
} from "./settings";

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
  // img2img and inpaint: the uploaded init image and the mask painted over it (kept across modes)
  const [init, setInit] = useState<StoredImage | null>(null);
  const [strokes, setStrokes] = useState<Stroke[]>([]);
  const [uploading, setUploading] = useState(false);
  const [imageError, setImageError] = useState<string | undefined>();

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

  /** Upload an image (a file, a drop, a result) as the init image; a new image starts a new mask. */
  const takeInitImage = async (blob: Blob | Promise<Blob>, mode: StudioMode | null) => {
    setImageError(undefined);
    setUploading(true);
    if (mode) setSettings((s) => ({ ...s, mode }));
    try {
      const { data, error, response } = await uploadImage(await blob);
      if (!data) {
        setImageError(errorMessage(error, `${response.status}`));
        return;
      }
      setInit(data);
      setStrokes([]);
    } catch (e) {
      setImageError(errorMessage(e));
    } finally {
      setUploading(false);
    }
  };

  /** "Send to img2img / inpaint": the result's image becomes the init image. */
  const send = (url: string, mode: StudioMode) => {
    window.scrollTo?.({ top: 0, behavior: "smooth" });
    const blob = fetch(url, { credentials: "include" }).then((r) => {
      if (!r.ok) throw new Error(`${r.status} ${r.statusText}`);
      return r.blob();
    });
    void takeInitImage(blob, mode);
  };

  /** The uploaded images the request names: the init image, and in inpaint mode the mask, uploaded now. */
  const requestImages = async (s: StudioSettings): Promise<RequestImages | string> => {
    if (s.mode === "txt2img") return {};
    if (!init) return t("studio.needInit");
    if (s.mode === "img2img") return { init_image: init.id };
    if (!hasPaint(strokes) && !s.mask_invert) return t("studio.needMask");
    const { data, error, response } = await uploadImage(await exportMask(strokes, init.width, init.height), "mask");
    if (!data) return errorMessage(error, `${response.status}`);
    return { init_image: init.id, mask: data.id };
  };

  const generate = async () => {
    const next = settings.seedLocked ? settings : { ...settings, seed: randomSeed() };
    setSettings(next);
    setErrors({});
    setBusy(true);
    try {
      const images = await requestImages(next);
      if (typeof images === "string") {
        setErrors({ "": images });
        return;
      }
      // fields left out take the API's defaults (the generated type marks defaulted fields required)
      const body = toRequest(next, images) as GenerationCreate;
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
    <div
      className="page studio"
      onDragOver={(e) => {
        if (e.dataTransfer.types.includes("Files")) e.preventDefault();
      }}
      onDrop={(e) => {
        const file = e.dataTransfer.files[0];
        if (!file) return;
        e.preventDefault(); // not: the browser opens the file instead
        void takeInitImage(file, settings.mode === "txt2img" ? "img2img" : null);
      }}
    >
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
          {settings.mode !== "txt2img" && (
            <InitImagePanel
              image={init}
              inpaint={settings.mode === "inpaint"}
              uploading={uploading}
              error={imageError ?? errors.init_image ?? errors.mask}
              onFile={(file) => void takeInitImage(file, null)}
              onRemove={() => {
                setInit(null);
                setStrokes([]);
              }}
              strokes={strokes}
              onStrokes={setStrokes}
              invert={settings.mask_invert}
              onInvert={(mask_invert) => setSettings((s) => ({ ...s, mask_invert }))}
            />
          )}
          {current ? (
            <GenerationView
              key={current.jobId}
              jobId={current.jobId}
              prompt={current.prompt}
              negativePrompt={current.negativePrompt}
              initialState={current.state}
              fresh={current.fresh}
              onEnded={() => void loadGallery()}
              onSend={send}
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
          onSend={send}
          onMore={() => setLimit((l) => l + PAGE)}
        />
      </section>
    </div>
  );
}
