import { act, fireEvent, render, screen } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import i18n from "../i18n";
import { installFetch } from "../test/fakes";
import { RasterCanvas } from "../test/rasterCanvas";
import { ArtifactView } from "./ArtifactView";
import { latentToRgba, x0ForW, type CfgData, type Latent } from "./cfgMath";
import { CfgView } from "./CfgView";

// ArtifactView's plots load uPlot, which needs a real browser; none is drawn here
vi.mock("uplot", () => ({ default: { paths: { points: () => () => null } } }));
vi.mock("./UPlotChart", () => ({ colorAt: () => "#000", UPlotChart: () => null }));

/** A (4, 2, 2) latent: channel k holds base + k/10 + position/20. */
const latent = (base: number): Latent => [0, 1, 2, 3].map((k) => [0, 1].map((y) => [0, 1].map((x) => base + k / 10 + (2 * y + x) / 20)));

// cfg/steps.json of a two-step run on a 4×2×2 latent (the shape of what the backend writes)
const DATA: CfgData = {
  title: "classifier-free guidance, w adjustable",
  title_zh: "无分类器引导，引导强度 w 可调",
  prediction_type: "epsilon",
  guidance_scale: 7.5,
  w_values: [0, 7.5],
  latent_shape: [4, 2, 2],
  stride: 1,
  shape: [4, 2, 2],
  latent_rgb: {
    weight: [
      [0.3, 0.1, 0, 0],
      [0, 0.3, 0.1, 0],
      [0, 0, 0.3, 0.1],
    ],
    bias: [0.5, 0.5, 0.5],
  },
  steps: [
    { step: 0, t: 901, alpha_bar: 0.3, diff_norm: 0.4, xt: latent(0.2), eps_uncond: latent(0), eps_cond: latent(-0.1) },
    { step: 1, t: 501, alpha_bar: 0.7, diff_norm: 0.8, xt: latent(-0.3), eps_uncond: latent(0.1), eps_cond: latent(0.3) },
  ],
};

/** The canvas the view draws on, rasterized (jsdom has no 2-D context and no ImageData). */
let raster: RasterCanvas;

beforeEach(() => {
  raster = new RasterCanvas();
  vi.stubGlobal(
    "ImageData",
    class {
      constructor(
        public data: Uint8ClampedArray,
        public width: number,
        public height: number,
      ) {}
    },
  );
  vi.spyOn(HTMLCanvasElement.prototype, "getContext").mockImplementation(function (this: HTMLCanvasElement) {
    raster.width = this.width;
    raster.height = this.height;
    return raster.getContext() as unknown as CanvasRenderingContext2D;
  });
});

afterEach(async () => {
  vi.restoreAllMocks();
  vi.unstubAllGlobals();
  await act(() => i18n.changeLanguage("en"));
});

const slide = (testId: string, value: number) => fireEvent.change(screen.getByTestId(testId), { target: { value: String(value) } });

describe("CfgView", () => {
  it("redraws x̂0 as w moves, from the stored numbers", () => {
    render(<CfgView data={DATA} />);
    // starts at the middle step (of 0–1: step 0) and the run's own w
    expect(screen.getByTestId("cfg-step").textContent).toBe("0 (of 0–1), t = 901");
    expect(screen.getByTestId("cfg-w").textContent).toBe("7.5");
    const scale = 96; // a 2×2 latent enlarged to 192 px
    expect([raster.width, raster.height]).toEqual([2 * scale, 2 * scale]);
    const before = new Uint8ClampedArray(raster.pixels);
    expect([...before]).toEqual([...latentToRgba(x0ForW(DATA.steps[0]!, 7.5), DATA.shape, DATA.latent_rgb, scale)]);

    slide("cfg-w-slider", 1.5);
    expect(screen.getByTestId("cfg-w").textContent).toBe("1.5");
    expect([...raster.pixels]).not.toEqual([...before]);
    expect([...raster.pixels]).toEqual([...latentToRgba(x0ForW(DATA.steps[0]!, 1.5), DATA.shape, DATA.latent_rgb, scale)]);
    // nearest neighbour: a latent pixel is one flat block
    expect([raster.at(0, 0), raster.at(scale - 1, scale - 1)]).toEqual([raster.pixels[0], raster.pixels[0]]);
    expect(screen.getByTestId("cfg-formula").textContent).toContain("1.5");
    // ‖x̂0(w) − x̂0(0)‖ = w·√(1−ᾱ)/√ᾱ·‖ε(c) − ε(∅)‖
    expect(Number(screen.getByTestId("cfg-shift").textContent)).toBeCloseTo((1.5 * Math.sqrt(0.7) * 0.4) / Math.sqrt(0.3), 3);
    expect(screen.getByTestId("cfg-diff").textContent).toBe("0.4");

    slide("cfg-step-slider", 1);
    expect(screen.getByTestId("cfg-step").textContent).toBe("1 (of 0–1), t = 501");
    expect(screen.getByTestId("cfg-diff").textContent).toBe("0.8");
    expect([...raster.pixels]).toEqual([...latentToRgba(x0ForW(DATA.steps[1]!, 1.5), DATA.shape, DATA.latent_rgb, scale)]);
    expect(screen.getByTestId("cfg-formula").textContent).toContain("0.7");
  });

  it("speaks Chinese and says when the latent was subsampled", async () => {
    await act(() => i18n.changeLanguage("zh-CN"));
    render(<CfgView data={{ ...DATA, stride: 2, latent_shape: [4, 4, 4] }} />);
    expect(screen.getByText(/引导强度 w/)).toBeTruthy();
    expect(screen.getByTestId("cfg-step").textContent).toBe("第 0 步（共 0–1），t = 901");
    expect(screen.getByTestId("cfg-view").textContent).toContain("4×4 的潜变量网格中每 2×2 个像素取一个");
  });

  it("is what ArtifactView shows for meta.view cfg", async () => {
    const url = "/api/v1/jobs/j/artifacts/cfg/steps.json";
    installFetch([{ path: url, body: DATA }]);
    render(<ArtifactView view="other" url={url} name="cfg/steps.json" meta={{ view: "cfg" }} />);
    expect(await screen.findByTestId("cfg-view")).toBeTruthy();
    expect(screen.getByTestId("cfg-w").textContent).toBe("7.5");
  });
});
