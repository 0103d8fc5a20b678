import { act, render, screen } from "@testing-library/react";
import type uPlot from "uplot";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import i18n from "../i18n";
import { IRIS_TREE } from "../test/decisionTree";
import { installFetch } from "../test/fakes";
import { ArtifactView } from "./ArtifactView";

// uPlot needs a real canvas; the tests look at the options the plots hand it instead
const charts: { options: Omit<uPlot.Options, "width" | "height">; data: uPlot.AlignedData }[] = [];
vi.mock("uplot", () => ({ default: { paths: { points: () => () => null } } }));
vi.mock("./UPlotChart", () => ({
  colorAt: () => "#000",
  UPlotChart: (props: (typeof charts)[number]) => {
    charts.push(props);
    return <div data-testid="uplot" />;
  },
}));

const url = (name: string) => `/api/v1/jobs/j/artifacts/${name}`;

// confusion.json as lab.common.confusion_artifact writes it
const CONFUSION = {
  matrix: [
    [5, 1],
    [0, 7],
  ],
  x_labels: ["no", "yes"],
  y_labels: ["no", "yes"],
  title: "confusion matrix",
  x_title: "predicted",
  y_title: "true",
};
// sweep/accuracy.json of lab.svm (its meta: log_x, x_title "C")
const SWEEP = {
  series: [
    { name: "train/accuracy", x: [0.01, 1, 100], y: [0.8, 0.95, 1] },
    { name: "val/accuracy", x: [0.01, 1, 100], y: [0.78, 0.94, 0.9] },
  ],
  title: "accuracy vs C (log-spaced)",
};

describe("ArtifactView", () => {
  beforeEach(() => {
    charts.length = 0;
    installFetch([
      { path: url("confusion.json"), body: CONFUSION },
      { path: url("sweep/accuracy.json"), body: SWEEP },
      { path: url("tree.json"), body: IRIS_TREE },
    ]);
  });
  afterEach(async () => {
    vi.unstubAllGlobals();
    await act(() => i18n.changeLanguage("en"));
  });

  it("names the axes of a confusion matrix: rows true, columns predicted", async () => {
    render(<ArtifactView view="confusion" url={url("confusion.json")} name="confusion.json" />);
    expect((await screen.findByTestId("heatmap-x-title")).textContent).toBe("predicted →");
    expect(screen.getByTestId("heatmap-y-title").textContent).toBe("true →");
    expect(screen.getByText("confusion matrix")).toBeTruthy();
    const cells = document.querySelectorAll(".heatmap__cell");
    expect([...cells].map((c) => c.textContent)).toEqual(["5", "1", "0", "7"]);
    expect(cells[1]!.getAttribute("title")).toBe("true no × predicted yes: 1");
    await act(() => i18n.changeLanguage("zh-CN"));
    expect(screen.getByTestId("heatmap-x-title").textContent).toBe("预测类别 →");
  });

  it("draws a sweep over C on a log x axis named by the meta", async () => {
    render(<ArtifactView view="line" url={url("sweep/accuracy.json")} name="sweep/accuracy.json" meta={{ view: "line", log_x: true, x_title: "C" }} />);
    await screen.findByTestId("uplot");
    const { options, data } = charts[charts.length - 1]!;
    expect(options.scales!.x!.distr).toBe(3);
    expect(options.scales!.y!.distr).toBe(1);
    expect(options.axes![0]!.label).toBe("C");
    expect(options.title).toBe("accuracy vs C (log-spaced)");
    expect(data[0]).toEqual([0.01, 1, 100]);
  });

  it("keeps a linear axis without the hint or where a value is not positive", async () => {
    const { unmount } = render(<ArtifactView view="line" url={url("sweep/accuracy.json")} name="a" />);
    await screen.findByTestId("uplot");
    expect(charts[charts.length - 1]!.options.scales!.x!.distr).toBe(1);
    unmount();
    installFetch([{ path: url("zero.json"), body: { series: [{ name: "y", x: [0, 1], y: [1, 2] }] } }]);
    render(<ArtifactView view="line" url={url("zero.json")} name="zero.json" meta={{ log_x: true }} />);
    await screen.findByTestId("uplot");
    expect(charts[charts.length - 1]!.options.scales!.x!.distr).toBe(1);
  });

  it("draws tree.json as a tree", async () => {
    render(<ArtifactView view="tree" url={url("tree.json")} name="tree.json" />);
    expect(await screen.findByTestId("tree-view")).toBeTruthy();
    expect(screen.getAllByTestId("tree-node")).toHaveLength(9);
  });

  it("shows a text artifact as it was written", async () => {
    const text = "|--- petal width (cm) <= 0.80\n|   |--- class: 0\n";
    vi.stubGlobal("fetch", async () => new Response(text, { headers: { "Content-Type": "text/plain; charset=utf-8" } }));
    render(<ArtifactView view="text" url={url("tree.txt")} name="tree.txt" />);
    expect((await screen.findByTestId("artifact-text")).textContent).toBe(text);
  });

  it("gives an image its title as alt text", () => {
    render(<ArtifactView view="image" url={url("probe.png")} name="probe.png" meta={{ title: "probe image (class 2)" }} />);
    expect(screen.getByRole("img").getAttribute("alt")).toBe("probe image (class 2)");
  });

  it("shows the titles the kind wrote in Chinese when the UI speaks Chinese", async () => {
    installFetch([
      { path: url("sweep/accuracy.json"), body: { ...SWEEP, title_zh: "准确率随 C 的变化（C 按对数等距取值）", x_title_zh: "C", y_title_zh: "准确率" } },
      { path: url("confusion.json"), body: { ...CONFUSION, title: "validation confusion matrix", title_zh: "验证集混淆矩阵", x_title_zh: "预测类别", y_title_zh: "真实类别" } },
    ]);
    await act(() => i18n.changeLanguage("zh-CN"));
    const meta = { view: "line", log_x: true, x_title: "C", y_title: "accuracy" };
    render(<ArtifactView view="line" url={url("sweep/accuracy.json")} name="sweep/accuracy.json" meta={meta} />);
    await screen.findByTestId("uplot");
    const { options } = charts[charts.length - 1]!;
    expect(options.title).toBe("准确率随 C 的变化（C 按对数等距取值）");
    expect(options.axes!.map((a) => a.label)).toEqual(["C", "准确率"]);

    render(<ArtifactView view="confusion" url={url("confusion.json")} name="confusion.json" />);
    expect(await screen.findByText("验证集混淆矩阵")).toBeTruthy();
    expect(screen.getByTestId("heatmap-y-title").textContent).toBe("真实类别 →");

    render(<ArtifactView view="image" url={url("probe.png")} name="probe.png" meta={{ title: "probe image (class 2)", title_zh: "探针图像（类别 2）" }} />);
    expect(screen.getByRole("img").getAttribute("alt")).toBe("探针图像（类别 2）");
  });

  it("keeps the English where an artifact has no Chinese", async () => {
    await act(() => i18n.changeLanguage("zh-CN"));
    render(<ArtifactView view="line" url={url("sweep/accuracy.json")} name="sweep/accuracy.json" meta={{ x_title: "C", y_title: "accuracy" }} />);
    await screen.findByTestId("uplot");
    const { options } = charts[charts.length - 1]!;
    expect(options.title).toBe("accuracy vs C (log-spaced)");
    expect(options.axes!.map((a) => a.label)).toEqual(["C", "accuracy"]);
  });
});
