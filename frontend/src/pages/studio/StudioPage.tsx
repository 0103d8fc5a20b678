import { useQuery } from "@tanstack/react-query";
import { useCallback, useEffect, useState } from "react";
import { useTranslation } from "react-i18next";
import { api, uploadImage } from "../../client";
import { errorMessage, fieldErrors } from "../../client/errors";
import type { GenerationCreate, GenerationPublic, ModelInfo, SamplerInfo, StoredImage } from "../../client/types";
import { useDebounced } from "../../hooks/useDebounced";
import { formatInfotext, parseInfotext } from "../../lib/infotext";
import { modelsQuery, samplersQuery } from "../../lib/queries";
import { rememberGeneration } from "../../lib/lastGeneration";
import { pngParameters } from "../../lib/png";
import { Gallery, GalleryFilterBar } from "./Gallery";
import { galleryQuery, hasFilters, NO_FILTERS, type GalleryFilters } from "./galleryQuery";
import { GenerateForm } from "./GenerateForm";
import { GenerationView } from "./GenerationView";
import { InitImagePanel } from "./InitImagePanel";
import { Lightbox } from "./Lightbox";
import { exportMask, hasPaint, type Stroke } from "./mask";
import { outpaint, renderExtended, sizeAfterExtend, type Side, type Size, type SizeChoice } from "./outpaint";
import { settingsFromInfotext } from "./restore";
import {
  activeLoras,
  fromParams,
  loadSettings,
  saveSettings,
  toRequest,
  type RequestImages,
  type StudioMode,
  type StudioSettings,
} from "./settings";
import { useLoras } from "./useLoras";
import { useStyles } from "./useStyles";
import { axisErrors, loadAxes, saveAxes, xyzJob, type AxisName, type AxisSpec } from "./xyz";
import { XyzPanel } from "./XyzPanel";
import { XyzView } from "./XyzView";

interface Current {
  jobId: string;
  prompt: string;
  negativePrompt: string;
  state?: string;
  fresh: boolean;
  /** images generated together (their step previews are side by side) and one's size */
  batch: number;
  width: number | null;
  height: number | null;
}

/** A dropped PNG with an infotext, or an image whose settings were just used: what to offer next. */
interface Banner {
  /** restored: its settings are in the form now; init: it is the init image, settings on offer */
  kind: "restored" | "init";
  name: string;
  text: string;
  skipped: string[];
  /** the image itself, for "use as init image" */
  source: Blob | string;
}

interface Zoom {
  urls: string[];
  index: number;
  alt: string;
  /** per image: the text made from the gallery record, for a PNG without an infotext */
  fallback: (index: number) => string | undefined;
}

const PAGE = 24;
const NONE: readonly never[] = [];

/** The last outpainting extension: the picture's new size and what became of the generation's. */
interface Extended {
  size: Size;
  choice: SizeChoice;
  model: ModelInfo | undefined;
}

/** An X/Y/Z plot submitted from this page: its job and its axes (the tiles' layout and labels). */
interface Plot {
  jobId: string;
  specs: Partial<Record<AxisName, AxisSpec>>;
  state?: string;
}

/** An infotext from a gallery record (what its PNG would carry). */
function recordInfotext(g: GenerationPublic, index: number): string {
  const p = g.params as Record<string, unknown>;
  const schedule = typeof p.scheduler === "string" && p.scheduler !== "Automatic" ? p.scheduler : null;
  return formatInfotext(g.prompt, typeof p.negative_prompt === "string" ? p.negative_prompt : "", {
    Steps: p.steps,
    Sampler: p.sampler,
    "Schedule type": schedule,
    "CFG scale": p.guidance_scale,
    Seed: g.seed + index,
    ...(typeof p.subseed_strength === "number" && p.subseed_strength > 0
      ? { "Variation seed": typeof p.subseed === "number" ? p.subseed + index : null, "Variation seed strength": p.subseed_strength }
      : {}),
    Size: p.width != null && p.height != null ? `${String(p.width)}x${String(p.height)}` : null,
    Model: g.model,
    "Denoising strength": p.init_image ? p.strength : p.enable_hr ? p.hr_strength : null,
    "Clip skip": typeof p.clip_skip === "number" && p.clip_skip > 1 ? p.clip_skip : null,
    ...(p.enable_hr
      ? {
          "Hires upscale": p.hr_scale,
          "Hires steps": typeof p.hr_second_pass_steps === "number" && p.hr_second_pass_steps > 0 ? p.hr_second_pass_steps : null,
          "Hires upscaler": p.hr_upscaler,
        }
      : {}),
  });
}

export function StudioPage() {
  const { t } = useTranslation();
  const [settings, setSettings] = useState<StudioSettings>(loadSettings);
  const modelList = useQuery(modelsQuery()).data;
  const models: readonly ModelInfo[] = modelList ?? NONE;
  const styles = useStyles();
  const loras = useLoras();
  // what toRequest checks the chosen LoRAs against (null until GET /loras answers)
  const knownLoras = loras.loaded ? loras.list : null;
  const samplerList = useQuery(samplersQuery()).data;
  const samplers: readonly SamplerInfo[] = samplerList ?? NONE;
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [busy, setBusy] = useState(false);
  const [current, setCurrent] = useState<Current | null>(null);
  const [gallery, setGallery] = useState<{ items: GenerationPublic[]; count: number; countCapped?: boolean }>({
    items: [],
    count: 0,
  });
  const [filters, setFilters] = useState<GalleryFilters>(NO_FILTERS);
  const [offset, setOffset] = useState(0);
  const [galleryError, setGalleryError] = useState<string | null>(null);
  const [zoom, setZoom] = useState<Zoom | null>(null);
  const [banner, setBanner] = useState<Banner | null>(null);
  // img2img and inpaint: the uploaded init image and the mask painted over it (kept across modes)
  const [init, setInit] = useState<StoredImage | null>(null);
  const [strokes, setStrokes] = useState<Stroke[]>([]);
  const [uploading, setUploading] = useState(false);
  const [imageError, setImageError] = useState<string | undefined>();
  const [extended, setExtended] = useState<Extended | null>(null);
  // the X/Y/Z plot: its axes (kept like the settings), the plot shown, its 422s per axis
  const [axes, setAxes] = useState(loadAxes);
  const [plot, setPlot] = useState<Plot | null>(null);
  const [plotErrors, setPlotErrors] = useState<Partial<Record<AxisName | "", string>>>({});

  useEffect(() => saveSettings(settings), [settings]);
  useEffect(() => saveAxes(axes), [axes]);

  // the model and sampler kept from last time, while the server still has them
  useEffect(() => {
    if (!modelList) return;
    const fallback = (modelList.find((m) => m.default) ?? modelList[0])?.name ?? "";
    setSettings((s) => (s.model && modelList.some((m) => m.name === s.model) ? s : { ...s, model: fallback }));
  }, [modelList]);
  useEffect(() => {
    if (!samplerList) return;
    // "" = the server's default sampler, until the user picks one
    setSettings((s) => (s.sampler && !samplerList.some((x) => x.name === s.sampler) ? { ...s, sampler: "" } : s));
  }, [samplerList]);

  // typing in the search and size boxes asks the server once per pause; the selects at once
  const q = useDebounced(filters.q, 300);
  const size = useDebounced(filters.size, 400);
  const query = galleryQuery({ ...filters, q, size }, offset, PAGE);
  const queryKey = JSON.stringify(query);
  const loadGallery = useCallback(async () => {
    const { data, error, response } = await api.GET("/api/v1/generations", {
      params: { query: JSON.parse(queryKey) as typeof query },
    });
    if (!data) {
      setGalleryError(errorMessage(error, `${response.status}`));
      return;
    }
    setGalleryError(null);
    setGallery({ items: data.data, count: data.count, countCapped: data.count_capped });
  }, [queryKey]);
  useEffect(() => {
    void loadGallery();
  }, [loadGallery]);
  const changeFilters = (next: GalleryFilters) => {
    setFilters(next);
    setOffset(0);
  };

  /** Settings from an infotext into the form; what this server lacks is named in the banner. */
  const restore = (text: string, name: string, source: Blob | string) => {
    const restored = settingsFromInfotext(settings, parseInfotext(text), {
      samplers,
      models: models.map((m) => m.name),
    });
    setSettings(restored.settings);
    setBanner({ kind: "restored", name, text, source, skipped: restored.skipped.map((x) => `${x.key}: ${x.value}`) });
  };

  /**
   * A dropped file. In txt2img a PNG with an infotext restores its settings (the banner offers
   * it as the init image); anything else, or any file in img2img and inpaint, becomes the init
   * image (the banner offers its settings, if it carries any).
   */
  const dropFile = async (file: File) => {
    setBanner(null);
    let text: string | null = null;
    try {
      text = await pngParameters(new Uint8Array(await file.arrayBuffer()));
    } catch {
      text = null; // unreadable as a PNG: treated as a picture only
    }
    if (text && settings.mode === "txt2img") {
      restore(text, file.name, file);
      return;
    }
    void takeInitImage(file, settings.mode === "txt2img" ? "img2img" : null);
    if (text) setBanner({ kind: "init", name: file.name, text, source: file, skipped: [] });
  };

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
      forgetExtended();
    } catch (e) {
      setImageError(errorMessage(e));
    } finally {
      setUploading(false);
    }
  };

  /** A new or no init image: a size an extension set goes back to auto. */
  const forgetExtended = () => {
    const followed = extended?.choice.followed;
    if (followed)
      setSettings((s) => (s.width === followed.width && s.height === followed.height ? { ...s, width: null, height: null } : s));
    setExtended(null);
  };

  /**
   * Outpaint: the init image extended on one side (its edge pixels stretched over the new
   * border), uploaded as the new init image; the mask's strokes move with the picture and the
   * new border is painted. Masked content becomes "fill" and the strength 1, and the
   * generation's size follows the picture where the model makes that size (sizeAfterExtend).
   */
  const extend = async (side: Side, by: number) => {
    if (!init) return;
    setImageError(undefined);
    setUploading(true);
    try {
      const done = outpaint(init, strokes, side, by);
      const r = await fetch(init.url, { credentials: "include" });
      if (!r.ok) throw new Error(`${r.status} ${r.statusText}`);
      const picture = await createImageBitmap(await r.blob());
      const { data, error, response } = await uploadImage(await renderExtended(picture, done.size, done.plan));
      if (!data) {
        setImageError(errorMessage(error, `${response.status}`));
        return;
      }
      const model = models.find((m) => m.name === settings.model) ?? models.find((m) => m.default);
      const choice = sizeAfterExtend(settings, extended?.choice.followed ?? null, done.size, model?.resolution);
      setInit(data);
      setStrokes(done.strokes);
      setSettings((s) => ({ ...s, width: choice.width, height: choice.height, inpainting_fill: "fill", strength: 1 }));
      setExtended({ size: done.size, choice, model });
    } catch (e) {
      setImageError(errorMessage(e));
    } finally {
      setUploading(false);
    }
  };

  /** What the last extension did to the generation's size, in words. */
  const extendNote = (x: Extended): string => {
    const size = t("studio.imageSize", { width: x.size.width, height: x.size.height });
    const res = x.model?.resolution;
    if (x.choice.outcome === "follows") return t("studio.outpaintFollows", { size });
    if (x.choice.outcome === "kept" || !res) return t("studio.outpaintKept", { size });
    return t(`studio.outpaint_${x.choice.outcome}`, { size, model: x.model?.name, ...res });
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
    // the seed is sent as typed; -1 asks the server for a random one
    const next = settings;
    setErrors({});
    setBusy(true);
    try {
      const images = await requestImages(next);
      if (typeof images === "string") {
        setErrors({ "": images });
        return;
      }
      // fields left out take the API's defaults (the generated type marks defaulted fields required)
      const body = toRequest(next, images, styles.list, knownLoras) as GenerationCreate;
      const { data, error, response } = await api.POST("/api/v1/generations", { body });
      if (!data) {
        const fields = response.status === 422 ? fieldErrors(error, [["body"]]) : {};
        setErrors(Object.keys(fields).length ? fields : { "": errorMessage(error, `${response.status}`) });
        return;
      }
      rememberGeneration(data.job.id);
      setPlot(null);
      const made = data.generation.params as Record<string, unknown>;
      setCurrent({
        jobId: data.job.id,
        prompt: body.prompt, // with the chosen styles merged in
        negativePrompt: body.negative_prompt ?? "",
        state: data.job.state,
        fresh: true,
        batch: next.batch_size,
        width: typeof made.width === "number" ? made.width : next.width,
        height: typeof made.height === "number" ? made.height : next.height,
      });
      void loadGallery();
    } catch (e) {
      setErrors({ "": errorMessage(e) });
    } finally {
      setBusy(false);
    }
  };

  /** Submit an X/Y/Z plot over the form's current settings (the same request a generation sends). */
  const runPlot = async (specs: Partial<Record<AxisName, AxisSpec>>) => {
    setPlotErrors({});
    setBusy(true);
    try {
      const images = await requestImages(settings);
      if (typeof images === "string") {
        setPlotErrors({ "": images });
        return;
      }
      const { data, error, response } = await api.POST("/api/v1/jobs", { body: xyzJob(toRequest(settings, images, styles.list, knownLoras), specs) });
      if (!data) {
        const fields = response.status === 422 ? axisErrors(fieldErrors(error, [["body", "params"]])) : {};
        setPlotErrors(Object.keys(fields).length ? fields : { "": errorMessage(error, `${response.status}`) });
        return;
      }
      setPlot({ jobId: data.id, specs, state: data.state });
      window.scrollTo?.({ top: 0, behavior: "smooth" });
    } catch (e) {
      setPlotErrors({ "": errorMessage(e) });
    } finally {
      setBusy(false);
    }
  };

  const open = (g: GenerationPublic) => {
    setPlot(null);
    const params = g.params as Record<string, unknown>;
    setCurrent({
      jobId: g.job_id,
      prompt: g.prompt,
      negativePrompt: typeof params.negative_prompt === "string" ? params.negative_prompt : "",
      state: g.state,
      fresh: false,
      batch: typeof params.batch_size === "number" ? params.batch_size : 1,
      width: typeof params.width === "number" ? params.width : null,
      height: typeof params.height === "number" ? params.height : null,
    });
    window.scrollTo?.({ top: 0, behavior: "smooth" });
  };

  const zoomGeneration = (g: GenerationPublic, index: number) =>
    setZoom({ urls: g.images, index, alt: g.prompt, fallback: (i) => recordInfotext(g, i) });

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
        void dropFile(file);
      }}
      title={t("studio.dropHelp")}
    >
      {banner && (
        <div className="card drop-banner" data-testid="drop-banner" role="status">
          <div>
            <p>
              {banner.kind === "restored"
                ? t("studio.restoredFrom", { name: banner.name })
                : t("studio.droppedHasSettings", { name: banner.name })}
            </p>
            {banner.skipped.length > 0 && (
              <p className="muted small" data-testid="drop-banner-skipped">
                {t("studio.restoredSkipped", { list: banner.skipped.join("; ") })}
              </p>
            )}
          </div>
          <div className="toolbar">
            {banner.kind === "restored" ? (
              <button
                type="button"
                data-testid="drop-use-init"
                onClick={() => {
                  const source = banner.source;
                  setBanner(null);
                  if (typeof source === "string") send(source, "img2img");
                  else void takeInitImage(source, "img2img");
                }}
              >
                {t("studio.useAsInit")}
              </button>
            ) : (
              <button type="button" data-testid="drop-restore" onClick={() => restore(banner.text, banner.name, banner.source)}>
                {t("studio.restoreSettings")}
              </button>
            )}
            <button type="button" data-testid="drop-dismiss" onClick={() => setBanner(null)}>
              {t("studio.dismiss")}
            </button>
          </div>
        </div>
      )}
      <div className="studio__main">
        <div className="studio__forms">
          <GenerateForm
            settings={settings}
            onChange={setSettings}
            onSubmit={() => void generate()}
            models={models}
            samplers={samplers}
            busy={busy}
            errors={errors}
            styles={styles}
            loras={loras}
          />
          <XyzPanel
            axes={axes}
            onAxes={setAxes}
            onRun={(specs) => void runPlot(specs)}
            samplers={samplers.map((x) => x.name)}
            models={models.map((m) => m.name)}
            loras={loras.list.map((l) => l.name)}
            baseLora={activeLoras(settings, knownLoras)[0]?.name ?? null}
            chosenLoras={settings.loras.length}
            busy={busy}
            errors={plotErrors}
          />
        </div>
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
                forgetExtended();
              }}
              strokes={strokes}
              onStrokes={setStrokes}
              invert={settings.mask_invert}
              onInvert={(mask_invert) => setSettings((s) => ({ ...s, mask_invert }))}
              onExtend={(side, by) => void extend(side, by)}
              extendNote={extended && extendNote(extended)}
            />
          )}
          {plot ? (
            <XyzView
              key={plot.jobId}
              jobId={plot.jobId}
              specs={plot.specs}
              fresh
              initialState={plot.state}
              onEnded={() => void loadGallery()}
              onSend={send}
              onZoom={(urls, index, alt) => setZoom({ urls, index, alt, fallback: () => undefined })}
            />
          ) : current ? (
            <GenerationView
              key={current.jobId}
              jobId={current.jobId}
              prompt={current.prompt}
              negativePrompt={current.negativePrompt}
              initialState={current.state}
              fresh={current.fresh}
              onEnded={() => void loadGallery()}
              onSend={send}
              batch={current.batch}
              itemWidth={current.width}
              itemHeight={current.height}
              onZoom={(urls, index) => setZoom({ urls, index, alt: current.prompt, fallback: () => undefined })}
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
        <GalleryFilterBar
          filters={filters}
          onChange={changeFilters}
          models={models.map((m) => m.name)}
          samplers={samplers.map((x) => x.name)}
        />
        {galleryError && (
          <p className="error" role="alert" data-testid="gallery-error">
            {galleryError}
          </p>
        )}
        <Gallery
          items={gallery.items}
          count={gallery.count}
          countCapped={gallery.countCapped}
          offset={offset}
          pageSize={PAGE}
          onPage={setOffset}
          filtered={hasFilters(filters)}
          onUse={(g) => setSettings((s) => fromParams(s, g.params as Record<string, unknown>, g.seed))}
          onOpen={open}
          onZoom={zoomGeneration}
          onSend={send}
        />
      </section>
      {zoom && (
        <Lightbox
          urls={zoom.urls}
          index={zoom.index}
          onIndex={(index) => setZoom((z) => (z ? { ...z, index } : z))}
          alt={zoom.alt}
          fallback={zoom.fallback(zoom.index)}
          onClose={() => setZoom(null)}
          onUse={(text) => {
            restore(text, zoom.urls[zoom.index]?.split("/").pop() ?? "", zoom.urls[zoom.index] ?? "");
            setZoom(null);
            window.scrollTo?.({ top: 0, behavior: "smooth" });
          }}
        />
      )}
    </div>
  );
}
