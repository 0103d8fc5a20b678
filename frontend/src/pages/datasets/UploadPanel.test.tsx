import { act, fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { setCsrfToken } from "../../client";
import { UploadPanel } from "./UploadPanel";

/** An XMLHttpRequest whose server is the test: progress and an answer are sent by hand. */
class FakeXHR {
  static sent: FakeXHR[] = [];
  method = "";
  url = "";
  headers: Record<string, string> = {};
  withCredentials = false;
  body: FormData | Blob | string | null = null;
  status = 0;
  statusText = "";
  responseText = "";
  upload: { onprogress: ((e: { loaded: number; total: number; lengthComputable: boolean }) => void) | null } = {
    onprogress: null,
  };
  onload: (() => void) | null = null;
  onerror: (() => void) | null = null;
  onabort: (() => void) | null = null;
  open(method: string, url: string) {
    this.method = method;
    this.url = url;
  }
  setRequestHeader(key: string, value: string) {
    this.headers[key] = value;
  }
  send(body: FormData | Blob | string | null) {
    this.body = body;
    FakeXHR.sent.push(this);
  }
  abort() {
    this.onabort?.();
  }
  progress(loaded: number, total: number) {
    this.upload.onprogress?.({ loaded, total, lengthComputable: true });
  }
  respond(status: number, body: unknown) {
    this.status = status;
    this.responseText = body === undefined ? "" : JSON.stringify(body);
    this.onload?.();
  }
  fail() {
    this.onerror?.();
  }
  get form(): FormData {
    return this.body as FormData;
  }
}

const MiB = 2 ** 20;
const ID = "0123456789abcdef0123456789abcdef";
const state = (received: number) => ({ id: ID, received, max_bytes: 2 * 2 ** 30, chunk_bytes: 64 * MiB });

/** A .zip of `size` bytes as far as anyone asks (the content is one byte). */
function bigZip(name: string, size: number): File {
  const file = new File(["z"], name);
  Object.defineProperty(file, "size", { value: size });
  return file;
}

/** Let the promise chains run until `n` requests have been made. */
async function requests(n: number): Promise<FakeXHR> {
  await act(async () => {
    for (let i = 0; i < 50 && FakeXHR.sent.length < n; i += 1) await Promise.resolve();
  });
  expect(FakeXHR.sent).toHaveLength(n);
  return FakeXHR.sent[n - 1]!;
}

function inFolder(path: string, content = "x"): File {
  const file = new File([content], path.split("/").pop()!);
  Object.defineProperty(file, "webkitRelativePath", { value: path });
  return file;
}

const field = (name: string) => within(document.querySelector(`[data-field="${name}"]`) as HTMLElement);

describe("dataset upload panel", () => {
  beforeEach(() => {
    FakeXHR.sent = [];
    vi.stubGlobal("XMLHttpRequest", FakeXHR);
    setCsrfToken("tok-7");
  });
  afterEach(() => vi.unstubAllGlobals());

  it("uploads a chosen folder with paths, CSRF and progress; 422s at the name and at the files", async () => {
    const onUploaded = vi.fn();
    render(<UploadPanel onUploaded={onUploaded} />);
    const input = screen.getByTestId("dataset-folder-input");
    expect(input.hasAttribute("webkitdirectory")).toBe(true);
    fireEvent.change(input, {
      target: { files: [inFolder("My Cats/a.png", "png!"), inFolder("My Cats/a.txt", "a cat"), inFolder("My Cats/.DS_Store")] },
    });
    expect((screen.getByTestId("dataset-name") as HTMLInputElement).value).toBe("my-cats");
    expect(screen.getByTestId("dataset-picked").textContent).toBe("files: 2, 9 B · left out (hidden or system files): 1");

    fireEvent.click(screen.getByTestId("dataset-upload"));
    const xhr = FakeXHR.sent[0]!;
    expect(xhr.method).toBe("POST");
    expect(xhr.url).toMatch(/\/api\/v1\/datasets$/);
    expect(xhr.withCredentials).toBe(true);
    expect(xhr.headers["X-CSRF-Token"]).toBe("tok-7");
    expect(xhr.form.get("name")).toBe("my-cats");
    expect(xhr.form.getAll("files").map((f) => (f as File).name)).toEqual(["My Cats/a.png", "My Cats/a.txt"]);

    act(() => xhr.progress(50, 200));
    const bar = screen.getByTestId("upload-progress");
    expect(bar.getAttribute("aria-valuenow")).toBe("25");
    expect(bar.textContent).toBe("Uploading… 25% (50 B of 200 B)");
    act(() => xhr.progress(200, 200));
    expect(bar.textContent).toBe("Uploaded; the server is checking the files…");
    expect((screen.getByTestId("dataset-upload") as HTMLButtonElement).disabled).toBe(true);

    await act(async () =>
      xhr.respond(422, {
        detail: [
          { loc: ["body", "name"], msg: "a dataset named 'my-cats' exists", type: "value_error" },
          { loc: ["body", "files"], msg: "My Cats/a.txt: not UTF-8 text", type: "value_error" },
        ],
      }),
    );
    expect(field("name").getByTestId("field-error").textContent).toBe("a dataset named 'my-cats' exists");
    expect(field("files").getByTestId("field-error").textContent).toBe("My Cats/a.txt: not UTF-8 text");
    expect(screen.queryByTestId("upload-progress")).toBeNull();

    fireEvent.change(screen.getByTestId("dataset-name"), { target: { value: "my-cats-2" } });
    expect(field("name").queryByTestId("field-error")).toBeNull();
    fireEvent.click(screen.getByTestId("dataset-upload"));
    const again = FakeXHR.sent[1]!;
    expect(again.form.get("name")).toBe("my-cats-2");
    const made = { name: "my-cats-2", kind: "images", description: "", sample_url: null, uploaded: true };
    await act(async () => again.respond(201, made));
    expect(onUploaded).toHaveBeenCalledWith(made);
  });

  it("walks a dropped folder, and refuses to send what the server cannot take", async () => {
    render(<UploadPanel onUploaded={() => undefined} />);
    const png = { isFile: true, isDirectory: false, name: "a.png", fullPath: "/shapes2/a.png", file: (ok: (f: File) => void) => ok(new File(["p"], "a.png")) };
    let read = false;
    const dir = {
      isFile: false,
      isDirectory: true,
      name: "shapes2",
      fullPath: "/shapes2",
      createReader: () => ({
        readEntries: (ok: (e: unknown[]) => void) => {
          ok(read ? [] : [png]);
          read = true;
        },
      }),
    };
    await act(async () =>
      fireEvent.drop(screen.getByTestId("dataset-drop"), {
        dataTransfer: { items: [{ kind: "file", webkitGetAsEntry: () => dir }], files: [] },
      }),
    );
    await waitFor(() => expect(screen.getByTestId("dataset-picked").textContent).toBe("files: 1, 1 B"));
    expect((screen.getByTestId("dataset-name") as HTMLInputElement).value).toBe("shapes2");

    // a zip with other files: said at the files, nothing sent
    fireEvent.change(screen.getByTestId("dataset-zip-input"), { target: { files: [new File(["z"], "a.zip"), new File(["p"], "b.png")] } });
    expect(field("files").getByTestId("field-error").textContent).toBe("Upload a .zip on its own, or a folder without a .zip in it.");
    fireEvent.change(screen.getByTestId("dataset-name"), { target: { value: "Bad Name" } });
    fireEvent.click(screen.getByTestId("dataset-upload"));
    expect(field("name").getByTestId("field-error").textContent).toContain("lowercase letters");
    expect(FakeXHR.sent).toHaveLength(0);
  });

  it("cancels an upload in flight", async () => {
    render(<UploadPanel onUploaded={() => undefined} />);
    fireEvent.change(screen.getByTestId("dataset-zip-input"), { target: { files: [new File(["z"], "set.zip")] } });
    expect((screen.getByTestId("dataset-name") as HTMLInputElement).value).toBe("set");
    fireEvent.click(screen.getByTestId("dataset-upload"));
    await act(async () => screen.getByTestId("upload-cancel").click());
    expect(screen.getByTestId("upload-error").textContent).toBe("The upload was cancelled.");
    expect(screen.queryByTestId("upload-progress")).toBeNull();
  });

  it("sends a large .zip in chunks, retries a failed one from the server's offset, and only finishes again after a refused name", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    try {
      const onUploaded = vi.fn();
      render(<UploadPanel onUploaded={onUploaded} />);
      fireEvent.change(screen.getByTestId("dataset-zip-input"), { target: { files: [bigZip("big.zip", 40 * MiB)] } });
      fireEvent.click(screen.getByTestId("dataset-upload"));

      const start = await requests(1);
      expect([start.method, start.url]).toEqual(["POST", `${location.origin}/api/v1/datasets/uploads`]);
      expect(start.headers["X-CSRF-Token"]).toBe("tok-7");
      await act(async () => start.respond(201, state(0)));

      const first = await requests(2);
      expect([first.method, first.url]).toEqual(["PUT", `${location.origin}/api/v1/datasets/uploads/${ID}?offset=0`]);
      expect(first.headers["Content-Type"]).toBe("application/octet-stream");
      expect(first.headers["X-CSRF-Token"]).toBe("tok-7");
      expect(first.withCredentials).toBe(true);
      act(() => first.progress(8 * MiB, 16 * MiB));
      const bar = screen.getByTestId("upload-progress");
      expect(bar.textContent).toBe("Uploading… 20% (8 MB of 40 MB)");
      await act(async () => first.respond(200, state(16 * MiB)));

      const second = await requests(3);
      expect(second.url).toMatch(/\?offset=16777216$/);
      act(() => second.progress(4 * MiB, 16 * MiB));
      expect(bar.textContent).toBe("Uploading… 50% (20 MB of 40 MB)");
      await act(async () => second.fail());
      expect(bar.textContent).toBe("Connection lost; resuming at 16 MB (retry 1 of 5)…");
      expect(bar.getAttribute("aria-valuenow")).toBe("40");

      // after a second, where the server is; then on from there
      await act(async () => vi.advanceTimersByTimeAsync(999));
      expect(FakeXHR.sent).toHaveLength(3);
      await act(async () => vi.advanceTimersByTimeAsync(1));
      const asked = await requests(4);
      expect([asked.method, asked.url]).toEqual(["GET", `${location.origin}/api/v1/datasets/uploads/${ID}`]);
      expect(asked.headers["X-CSRF-Token"]).toBeUndefined();
      await act(async () => asked.respond(200, state(16 * MiB)));
      const again = await requests(5);
      expect([again.method, again.url]).toEqual(["PUT", `${location.origin}/api/v1/datasets/uploads/${ID}?offset=16777216`]);
      await act(async () => again.respond(200, state(32 * MiB)));
      expect(bar.textContent).toBe("Uploading… 80% (32 MB of 40 MB)");
      const last = await requests(6);
      expect(last.url).toMatch(/\?offset=33554432$/);
      await act(async () => last.respond(200, state(40 * MiB)));

      const finish = await requests(7);
      expect([finish.method, finish.url]).toEqual(["POST", `${location.origin}/api/v1/datasets/uploads/${ID}/finish`]);
      expect(finish.headers["Content-Type"]).toBe("application/json");
      expect(finish.headers["X-CSRF-Token"]).toBe("tok-7");
      expect(JSON.parse(finish.body as string)).toEqual({ name: "big" });
      expect(bar.textContent).toBe("Uploaded; the server is checking the files…");
      await act(async () =>
        finish.respond(422, { detail: [{ loc: ["body", "name"], msg: "a dataset named 'big' exists", type: "value_error" }] }),
      );
      expect(field("name").getByTestId("field-error").textContent).toBe("a dataset named 'big' exists");
      expect(screen.queryByTestId("upload-progress")).toBeNull();

      // a new name: only the finish again, with the same upload
      fireEvent.change(screen.getByTestId("dataset-name"), { target: { value: "big-2" } });
      fireEvent.click(screen.getByTestId("dataset-upload"));
      const refinish = await requests(8);
      expect([refinish.method, refinish.url]).toEqual(["POST", `${location.origin}/api/v1/datasets/uploads/${ID}/finish`]);
      expect(JSON.parse(refinish.body as string)).toEqual({ name: "big-2" });
      const made = { name: "big-2", kind: "images", description: "", sample_url: null, uploaded: true };
      await act(async () => refinish.respond(201, made));
      expect(onUploaded).toHaveBeenCalledWith(made);
    } finally {
      vi.useRealTimers();
    }
  });

  it("shows a refused file of a large .zip at the files", async () => {
    render(<UploadPanel onUploaded={() => undefined} />);
    fireEvent.change(screen.getByTestId("dataset-zip-input"), { target: { files: [bigZip("big.zip", 33 * MiB)] } });
    fireEvent.click(screen.getByTestId("dataset-upload"));
    await act(async () => (await requests(1)).respond(201, state(0)));
    await act(async () => (await requests(2)).respond(200, state(16 * MiB)));
    await act(async () => (await requests(3)).respond(200, state(32 * MiB)));
    await act(async () => (await requests(4)).respond(200, state(33 * MiB)));
    await act(async () =>
      (await requests(5)).respond(422, { detail: [{ loc: ["body", "files"], msg: "big/a.txt: not UTF-8 text", type: "value_error" }] }),
    );
    expect(field("files").getByTestId("field-error").textContent).toBe("big/a.txt: not UTF-8 text");
    expect(field("name").queryByTestId("field-error")).toBeNull();
  });

  it("cancelling a large .zip aborts the chunk in flight and deletes the upload; a small .zip stays multipart", async () => {
    render(<UploadPanel onUploaded={() => undefined} />);
    fireEvent.change(screen.getByTestId("dataset-zip-input"), { target: { files: [bigZip("big.zip", 33 * MiB)] } });
    fireEvent.click(screen.getByTestId("dataset-upload"));
    await act(async () => (await requests(1)).respond(201, state(0)));
    const chunk = await requests(2);
    const aborted = vi.spyOn(chunk, "abort");
    await act(async () => screen.getByTestId("upload-cancel").click());
    expect(aborted).toHaveBeenCalled();
    const gone = await requests(3);
    expect([gone.method, gone.url]).toEqual(["DELETE", `${location.origin}/api/v1/datasets/uploads/${ID}`]);
    expect(gone.headers["X-CSRF-Token"]).toBe("tok-7");
    await act(async () => gone.respond(204, undefined));
    expect(screen.getByTestId("upload-error").textContent).toBe("The upload was cancelled.");
    expect(screen.queryByTestId("upload-progress")).toBeNull();

    // exactly 32 MiB is not over the line: one multipart POST
    fireEvent.change(screen.getByTestId("dataset-zip-input"), { target: { files: [bigZip("small.zip", 32 * MiB)] } });
    fireEvent.click(screen.getByTestId("dataset-upload"));
    const multipart = await requests(4);
    expect([multipart.method, multipart.url]).toEqual(["POST", `${location.origin}/api/v1/datasets`]);
    expect(multipart.body).toBeInstanceOf(FormData);
  });
});
