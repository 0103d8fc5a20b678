import { act, fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { MemoryRouter, Route, Routes, useParams } from "react-router-dom";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { setCsrfToken } from "../../client";
import type { DatasetDetail } from "../../client/types";
import { installFetch, type Route as FakeRoute } from "../../test/fakes";
import { withQueryClient } from "../../test/query";
import { DatasetPage } from "./DatasetPage";

const item = (file_name: string, text: string) => ({
  file_name,
  text,
  width: 64,
  height: 64,
  url: `/api/v1/datasets/cats/files/${file_name}`,
});

const DETAIL: DatasetDetail = {
  name: "cats",
  kind: "images",
  description: "2 captioned images uploaded by ada",
  sample_url: "/api/v1/datasets/cats/sample.png",
  uploaded: true,
  owner: "ada",
  images: 2,
  bytes: 2048,
  created_at: "2025-01-02T03:04:05Z",
  stats: {
    images: 2,
    caption_words: { min: 2, mean: 2.5, max: 3 },
    distinct_words: 4,
    unknown_words: [
      { word: "tabby", count: 2 },
      { word: "zorp", count: 1 },
    ],
    sizes: { "64x64": 2 },
    model: "house",
  },
  items: [item("a.png", "a cat"), item("sub/b.png", "a tabby cat")],
  total: 2,
  offset: 0,
};

const MODELS = [{ name: "house", default: true, default_guidance: 5, resolution: { min: 32, max: 128, multiple: 8, native: 64 } }];

function RunPage() {
  return <p data-testid="run-page">{useParams().id}</p>;
}

function renderAt(path: string) {
  return render(
    <MemoryRouter initialEntries={[path]}>
      <Routes>
        <Route path="/datasets" element={<p data-testid="list-page" />} />
        <Route path="/datasets/:name" element={<DatasetPage />} />
        <Route path="/train/:id" element={<RunPage />} />
      </Routes>
    </MemoryRouter>,
    { wrapper: withQueryClient() },
  );
}

function setup(extra: FakeRoute[] = []) {
  const routes: FakeRoute[] = [
    { path: "/api/v1/models", body: MODELS },
    { path: "/api/v1/datasets/cats", body: DETAIL },
    ...extra,
  ];
  return { routes, calls: installFetch(routes) };
}

const caption = (file: string) =>
  within(document.querySelector(`[data-file="${file}"]`) as HTMLElement);

describe("dataset page", () => {
  beforeEach(() => setCsrfToken("tok-9"));
  afterEach(() => vi.restoreAllMocks());

  it("shows the sample grid, the stats with the unknown words, and the captioned images", async () => {
    const { calls } = setup();
    renderAt("/datasets/cats");
    await screen.findAllByTestId("dataset-item");
    expect(screen.getByTestId("dataset-sample").getAttribute("src")).toBe("/api/v1/datasets/cats/sample.png?n=16&seed=0");
    expect(screen.getByTestId("stat-images").textContent).toBe("2");
    expect(screen.getByTestId("stat-words").textContent).toBe("min 2 · mean 2.5 · max 3");
    expect(screen.getByTestId("stat-distinct").textContent).toBe("4");
    expect(screen.getAllByTestId("unknown-word").map((c) => c.textContent)).toEqual(["tabby ×2", "zorp ×1"]);
    expect(screen.getByTestId("stat-sizes").textContent).toBe("64×64 ×2");
    expect(screen.getAllByTestId("caption").map((c) => c.textContent)).toEqual(["a cat", "a tabby cat"]);
    expect(caption("sub/b.png").getByRole("img").getAttribute("src")).toBe("/api/v1/datasets/cats/files/sub/b.png");
    expect(screen.getByTestId("page-range").textContent).toBe("1–2 of 2");
    // the unknown words are counted with the base model the LoRA form has chosen
    await waitFor(() => expect(calls.some((c) => c.path === "/api/v1/datasets/cats?offset=0&limit=60&model=house")).toBe(true));
  });

  it("edits a caption in place: Escape cancels, Enter saves, an error stays at the caption", async () => {
    const patch: FakeRoute = {
      method: "PATCH",
      path: "/api/v1/datasets/cats/items/a.png",
      status: 422,
      body: { detail: [{ loc: ["body", "text"], msg: "a caption has at most 77 tokens", type: "value_error" }] },
    };
    const { calls } = setup([patch]);
    renderAt("/datasets/cats");
    await screen.findAllByTestId("dataset-item");
    const a = caption("a.png");

    // Escape: nothing sent, the caption as it was
    fireEvent.click(a.getByTestId("caption"));
    const box = a.getByTestId("caption-input") as HTMLTextAreaElement;
    expect(box.value).toBe("a cat");
    fireEvent.change(box, { target: { value: "a black cat" } });
    fireEvent.keyDown(box, { key: "Escape" });
    expect(a.getByTestId("caption").textContent).toBe("a cat");

    // an empty caption is not sent
    fireEvent.click(a.getByTestId("caption"));
    fireEvent.change(a.getByTestId("caption-input"), { target: { value: "   " } });
    fireEvent.keyDown(a.getByTestId("caption-input"), { key: "Enter" });
    expect(a.getByTestId("caption-error").textContent).toBe("A caption cannot be empty.");
    expect(calls.some((c) => c.method === "PATCH")).toBe(false);

    // the API refuses: its message at the caption, the box still open with the text typed
    fireEvent.change(a.getByTestId("caption-input"), { target: { value: "a black cat" } });
    await act(async () => fireEvent.keyDown(a.getByTestId("caption-input"), { key: "Enter" }));
    expect((await a.findByTestId("caption-error")).textContent).toBe("a caption has at most 77 tokens");
    expect((a.getByTestId("caption-input") as HTMLTextAreaElement).value).toBe("a black cat");

    // saved: the new caption shown, the PATCH with the CSRF token
    patch.status = 200;
    patch.body = item("a.png", "a black cat");
    await act(async () => fireEvent.keyDown(a.getByTestId("caption-input"), { key: "Enter" }));
    await waitFor(() => expect(a.getByTestId("caption").textContent).toBe("a black cat"));
    const patches = calls.filter((c) => c.method === "PATCH");
    expect(patches).toHaveLength(2);
    expect(patches[1]!.body).toEqual({ text: "a black cat" });
    expect(patches[1]!.headers.get("X-CSRF-Token")).toBe("tok-9");
    expect(a.queryByTestId("caption-error")).toBeNull();
  });

  it("saves a caption when the box loses focus, once, and a file in a subfolder by its path", async () => {
    const { calls } = setup([
      { method: "PATCH", path: "/api/v1/datasets/cats/items/sub%2Fb.png", body: item("sub/b.png", "a tabby") },
    ]);
    renderAt("/datasets/cats");
    await screen.findAllByTestId("dataset-item");
    const b = caption("sub/b.png");
    fireEvent.click(b.getByTestId("caption"));
    fireEvent.change(b.getByTestId("caption-input"), { target: { value: "a tabby " } });
    await act(async () => {
      fireEvent.keyDown(b.getByTestId("caption-input"), { key: "Enter" });
      fireEvent.blur(b.getByTestId("caption-input"));
    });
    await waitFor(() => expect(b.getByTestId("caption").textContent).toBe("a tabby"));
    expect(calls.filter((c) => c.method === "PATCH").map((c) => c.body)).toEqual([{ text: "a tabby" }]);

    // unchanged: closed without a request
    fireEvent.click(b.getByTestId("caption"));
    await act(async () => fireEvent.blur(b.getByTestId("caption-input")));
    expect(b.queryByTestId("caption-input")).toBeNull();
    expect(calls.filter((c) => c.method === "PATCH")).toHaveLength(1);
  });

  it("removes an image and deletes the dataset only when confirmed, then goes back to the list", async () => {
    const remove: FakeRoute = {
      method: "DELETE",
      path: "/api/v1/datasets/cats/items/a.png",
      status: 409,
      body: { detail: "job 1234 is training on it" },
    };
    const { calls } = setup([remove, { method: "DELETE", path: "/api/v1/datasets/cats", body: null }]);
    renderAt("/datasets/cats");
    await screen.findAllByTestId("dataset-item");
    const confirm = vi.spyOn(window, "confirm").mockReturnValue(false);
    await act(async () => caption("a.png").getByTestId("item-remove").click());
    expect(confirm.mock.calls[0]![0]).toContain("a.png");
    expect(calls.some((c) => c.method === "DELETE")).toBe(false);

    confirm.mockReturnValue(true);
    await act(async () => caption("a.png").getByTestId("item-remove").click());
    expect((await screen.findByTestId("dataset-error")).textContent).toBe("job 1234 is training on it");
    remove.status = 200;
    remove.body = null;
    await act(async () => caption("a.png").getByTestId("item-remove").click());
    expect(calls.filter((c) => c.method === "DELETE" && c.path.endsWith("/items/a.png"))).toHaveLength(2);

    await act(async () => screen.getByTestId("dataset-delete").click());
    expect(confirm.mock.calls.at(-1)![0]).toContain("cats");
    await screen.findByTestId("list-page");
    expect(calls.filter((c) => c.method === "DELETE" && c.path === "/api/v1/datasets/cats")).toHaveLength(1);
  });

  it("trains a LoRA on it: the lora job with the form's values, 422s at the field, then its run page", async () => {
    const post: FakeRoute = {
      method: "POST",
      path: "/api/v1/jobs",
      status: 422,
      body: { detail: [{ loc: ["body", "params", "rank"], msg: "Input should be less than or equal to 128", type: "le" }] },
    };
    const { calls } = setup([post]);
    renderAt("/datasets/cats");
    await screen.findAllByTestId("dataset-item");
    await waitFor(() => expect((screen.getByTestId("lora-model") as HTMLSelectElement).value).toBe("house"));
    expect((screen.getByTestId("lora-rank") as HTMLInputElement).value).toBe("4");
    expect((screen.getByTestId("lora-steps") as HTMLInputElement).value).toBe("300");
    expect((screen.getByTestId("lora-lr") as HTMLInputElement).value).toBe("0.0005");
    expect((screen.getByTestId("lora-text-encoder") as HTMLInputElement).checked).toBe(false);

    fireEvent.change(screen.getByTestId("lora-rank"), { target: { value: "500" } });
    fireEvent.click(screen.getByTestId("lora-text-encoder"));
    fireEvent.change(screen.getByTestId("lora-prompts"), { target: { value: "a cat\n\n  a tabby cat  \n" } });
    await act(async () => fireEvent.click(screen.getByTestId("lora-submit")));
    const rankField = document.querySelector('[data-field="rank"]') as HTMLElement;
    expect((await within(rankField).findByTestId("field-error")).textContent).toBe("Input should be less than or equal to 128");

    post.status = 202;
    post.body = { id: "job-42", kind: "lora", state: "queued" };
    fireEvent.change(screen.getByTestId("lora-rank"), { target: { value: "8" } });
    await act(async () => fireEvent.click(screen.getByTestId("lora-submit")));
    expect((await screen.findByTestId("run-page")).textContent).toBe("job-42");
    const sent = calls.filter((c) => c.method === "POST");
    expect(sent[1]!.body).toEqual({
      kind: "lora",
      params: {
        dataset: "cats",
        model: "house",
        rank: 8,
        steps: 300,
        lr: 0.0005,
        train_text_encoder: true,
        validation_prompts: ["a cat", "a tabby cat"],
      },
    });
    expect(sent[1]!.headers.get("X-CSRF-Token")).toBe("tok-9");
  });

  it("refuses more than 8 validation prompts before sending", async () => {
    const { calls } = setup();
    renderAt("/datasets/cats");
    await screen.findAllByTestId("dataset-item");
    fireEvent.change(screen.getByTestId("lora-prompts"), { target: { value: Array.from({ length: 9 }, (_, i) => `p${i}`).join("\n") } });
    await act(async () => fireEvent.click(screen.getByTestId("lora-submit")));
    const field = document.querySelector('[data-field="validation_prompts"]') as HTMLElement;
    expect(within(field).getByTestId("field-error").textContent).toBe("At most 8 validation prompts.");
    expect(calls.some((c) => c.method === "POST")).toBe(false);
  });

  it("shows a built-in dataset's sample grid and the LoRA form, with nothing to edit", async () => {
    installFetch([
      { path: "/api/v1/models", body: MODELS },
      { path: "/api/v1/datasets/shapes", status: 404, body: { detail: "no dataset 'shapes'" } },
      {
        path: "/api/v1/datasets",
        body: [
          { name: "shapes", kind: "images", description: "coloured shapes", sample_url: "/api/v1/datasets/shapes/sample.png", uploaded: false },
          { name: "moons", kind: "classification", description: "lab", sample_url: null },
        ],
      },
    ]);
    renderAt("/datasets/shapes");
    expect((await screen.findByTestId("dataset-sample")).getAttribute("src")).toBe("/api/v1/datasets/shapes/sample.png?n=16&seed=0");
    expect(screen.getByTestId("dataset-meta").textContent).toContain("built in");
    expect(screen.queryByTestId("dataset-items")).toBeNull();
    expect(screen.queryByTestId("dataset-delete")).toBeNull();
    expect(screen.getByTestId("train-lora")).toBeTruthy();
  });
});
