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
  body: FormData | null = null;
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
  send(body: FormData) {
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
    this.responseText = JSON.stringify(body);
    this.onload?.();
  }
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
    expect(xhr.body!.get("name")).toBe("my-cats");
    expect(xhr.body!.getAll("files").map((f) => (f as File).name)).toEqual(["My Cats/a.png", "My Cats/a.txt"]);

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
    expect(again.body!.get("name")).toBe("my-cats-2");
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
});
