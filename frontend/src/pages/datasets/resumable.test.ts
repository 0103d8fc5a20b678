import { describe, expect, it, vi } from "vitest";
import type { XhrAnswer, XhrRequest } from "../../client";
import { CHUNK_BYTES, ResumableUpload, RETRY_DELAYS_MS, sleep, type Progress, type Source } from "./resumable";

const ID = "5f0c8e2a9b7d4c1e8f6a3b2c1d0e9f8a";
const BASE = "/api/v1/datasets/uploads";
const DATASET = { name: "big", kind: "images", description: "", sample_url: null, uploaded: true };

type Override = (req: XhrRequest, server: FakeServer) => XhrAnswer | Promise<XhrAnswer | undefined> | undefined;

/** The upload routes as the server answers them, in memory; `override` stands in for any answer. */
class FakeServer {
  calls: XhrRequest[] = [];
  have: Uint8Array[] = [];
  exists = false;
  maxBytes = 2 * 2 ** 30;
  override: Override | null = null;

  get received(): number {
    return this.have.reduce((n, c) => n + c.length, 0);
  }

  /** What the requests were, e.g. "PUT ?offset=30" or "POST /finish". */
  get log(): string[] {
    return this.calls.map((c) => `${c.method} ${c.path.replace(`${BASE}/${ID}`, "").replace(BASE, "") || "/"}`);
  }

  http = async (req: XhrRequest): Promise<XhrAnswer> => {
    this.calls.push(req);
    const over = await this.override?.(req, this);
    if (over) return over;
    const state = () => ({ id: ID, received: this.received, max_bytes: this.maxBytes, chunk_bytes: 64 * 2 ** 20 });
    if (req.method === "POST" && req.path === BASE) {
      this.exists = true;
      return { status: 201, body: state() };
    }
    if (!this.exists) return { status: 404, body: { detail: "no such upload" } };
    if (req.method === "GET") return { status: 200, body: state() };
    if (req.method === "DELETE") {
      this.exists = false;
      return { status: 204, body: null };
    }
    if (req.method === "PUT") {
      const offset = Number(new URL(req.path, "http://x").searchParams.get("offset"));
      if (offset !== this.received) {
        return { status: 409, body: { detail: { message: `the server has ${this.received} bytes`, received: this.received } } };
      }
      const blob = req.body as Blob;
      req.onProgress?.(blob.size, blob.size);
      this.have.push(new Uint8Array(await blob.arrayBuffer()));
      return { status: 200, body: state() };
    }
    if (req.method === "POST" && req.path.endsWith("/finish")) {
      this.exists = false;
      return { status: 201, body: { ...DATASET, name: (JSON.parse(req.body as string) as { name: string }).name } };
    }
    return { status: 500, body: { detail: "unexpected" } };
  };

  text(): string {
    return new TextDecoder().decode(Uint8Array.from(this.have.flatMap((c) => Array.from(c))));
  }
}

const content = (n: number) => Array.from({ length: n }, (_, i) => String.fromCharCode(97 + (i % 26))).join("");

function setup(size = 100, chunkBytes = 30) {
  const server = new FakeServer();
  const waits: number[] = [];
  const text = content(size);
  const upload = new ResumableUpload(new Blob([text]), {
    http: server.http,
    chunkBytes,
    sleep: async (ms) => {
      waits.push(ms);
    },
  });
  const progress: Progress[] = [];
  const send = (name = "big") => upload.send(name, (p) => progress.push(p));
  return { server, waits, text, upload, progress, send };
}

/** A request that hangs until its signal aborts (a chunk in flight). */
const hang = (req: XhrRequest) =>
  new Promise<XhrAnswer>((resolve) => req.signal?.addEventListener("abort", () => resolve({ status: 0, aborted: true })));

describe("resumable dataset upload", () => {
  it("starts, sends the file in chunks at the server's offsets and finishes with the name", async () => {
    const { server, text, progress, send, upload } = setup(100, 30);
    const out = await send("big");
    expect(out).toEqual({ status: 201, data: DATASET });
    expect(server.log).toEqual(["POST /", "PUT ?offset=0", "PUT ?offset=30", "PUT ?offset=60", "PUT ?offset=90", "POST /finish"]);
    expect(server.text()).toBe(text);
    const puts = server.calls.filter((c) => c.method === "PUT");
    expect(puts.map((c) => (c.body as Blob).size)).toEqual([30, 30, 30, 10]);
    expect(puts.every((c) => c.contentType === "application/octet-stream")).toBe(true);
    const finish = server.calls.at(-1)!;
    expect(finish.contentType).toBe("application/json");
    expect(JSON.parse(finish.body as string)).toEqual({ name: "big" });
    // the overall progress: each chunk's bytes added to what is done
    expect(progress.map((p) => p.sent)).toEqual([0, 30, 30, 60, 60, 90, 90, 100, 100]);
    expect(progress.every((p) => p.total === 100 && p.retry === null)).toBe(true);
    expect(upload.id).toBeNull();
  });

  it("cuts 16 MiB chunks by default", async () => {
    const server = new FakeServer();
    const size = 40 * 2 ** 20 + 5;
    const cuts: [number, number][] = [];
    const file: Source = {
      size,
      slice: (start?: number, end?: number) => {
        cuts.push([start!, end!]);
        return new Blob([new Uint8Array(end! - start!)]);
      },
    };
    const out = await new ResumableUpload(file, { http: server.http }).send("big");
    expect(out.status).toBe(201);
    expect(CHUNK_BYTES).toBe(16 * 2 ** 20);
    expect(cuts).toEqual([
      [0, CHUNK_BYTES],
      [CHUNK_BYTES, 2 * CHUNK_BYTES],
      [2 * CHUNK_BYTES, size],
    ]);
    expect(server.received).toBe(size);
  });

  it("after a failed chunk waits, asks the server what it has and resumes there", async () => {
    const { server, waits, text, progress, send } = setup(100, 30);
    let puts = 0;
    server.override = (req) => {
      if (req.method !== "PUT") return undefined;
      puts += 1;
      if (puts === 2) {
        req.onProgress?.(12, 30); // half sent, then the connection drops; the server keeps none of it
        return { status: 0 };
      }
      if (puts === 3) return { status: 502, body: { detail: "bad gateway" } };
      return undefined;
    };
    const out = await send();
    expect(out.status).toBe(201);
    expect(server.text()).toBe(text);
    expect(server.log).toEqual([
      "POST /",
      "PUT ?offset=0",
      "PUT ?offset=30",
      "GET /",
      "PUT ?offset=30",
      "GET /",
      "PUT ?offset=30",
      "PUT ?offset=60",
      "PUT ?offset=90",
      "POST /finish",
    ]);
    expect(waits).toEqual([1000, 2000]);
    // "resuming at 30" while it retries, with the attempt; cleared once a chunk gets through
    const retries = progress.filter((p) => p.retry).map((p) => `${p.sent} ${p.retry!.attempt}/${p.retry!.of}@${p.retry!.at}`);
    expect(retries).toEqual(["30 1/5@30", "30 1/5@30", "30 2/5@30", "30 2/5@30", "60 2/5@30"]);
    expect(progress.at(-1)).toEqual({ sent: 100, total: 100, retry: null });
  });

  it("resumes from the GET's received when the server kept more than the client knew", async () => {
    const { server, waits, send } = setup(100, 30);
    let puts = 0;
    server.override = async (req, s) => {
      if (req.method !== "PUT" || ++puts !== 2) return undefined;
      // the chunk arrived, the answer did not
      s.have.push(new Uint8Array(await (req.body as Blob).arrayBuffer()));
      return { status: 0 };
    };
    expect((await send()).status).toBe(201);
    expect(server.log.slice(1, 6)).toEqual(["PUT ?offset=0", "PUT ?offset=30", "GET /", "PUT ?offset=60", "PUT ?offset=90"]);
    expect(waits).toEqual([1000]);
  });

  it("retries five times with growing waits, then gives up keeping the upload to resume later", async () => {
    const { server, waits, text, upload, send } = setup(100, 30);
    let down = true;
    server.override = (req) => (down && req.method !== "POST" ? { status: 503, body: { detail: "down" } } : undefined);
    const out = await send();
    expect(out).toEqual({ status: 503, error: { detail: "down" } });
    expect(waits).toEqual([...RETRY_DELAYS_MS]);
    expect(RETRY_DELAYS_MS).toEqual([1000, 2000, 4000, 8000, 16000]);
    // the first PUT, then a GET after each wait (each failing too): no chunk re-sent blind
    expect(server.log).toEqual(["POST /", "PUT ?offset=0", "GET /", "GET /", "GET /", "GET /", "GET /"]);
    expect(upload.id).toBe(ID);

    // Upload again: where the server is, then on
    down = false;
    expect((await send()).status).toBe(201);
    expect(server.log.slice(7, 9)).toEqual(["GET /", "PUT ?offset=0"]);
    expect(server.text()).toBe(text);
  });

  it("on a 409 resumes from the detail's received", async () => {
    const { server, waits, text, send } = setup(100, 30);
    let puts = 0;
    // the second PUT is told the server has 0 (say, the first chunk was lost): it sends it again
    server.override = (req, s) => {
      if (req.method !== "PUT" || ++puts !== 2) return undefined;
      s.have = [];
      return { status: 409, body: { detail: { message: "the server has 0 bytes: send from there", received: 0 } } };
    };
    expect((await send()).status).toBe(201);
    expect(server.log).toEqual([
      "POST /",
      "PUT ?offset=0",
      "PUT ?offset=30",
      "PUT ?offset=0",
      "PUT ?offset=30",
      "PUT ?offset=60",
      "PUT ?offset=90",
      "POST /finish",
    ]);
    expect(waits).toEqual([]);
    expect(server.text()).toBe(text);
  });

  it("cancel aborts the chunk in flight and deletes the upload", async () => {
    const { server, upload, send } = setup(100, 30);
    let puts = 0;
    server.override = (req) => (req.method === "PUT" && ++puts === 2 ? hang(req) : undefined);
    const running = send();
    await vi.waitFor(() => expect(puts).toBe(2));
    const inFlight = server.calls.at(-1)!;
    await upload.abandon();
    expect(inFlight.signal?.aborted).toBe(true);
    expect(await running).toEqual({ status: 0, aborted: true });
    expect(server.log.slice(-2)).toEqual(["PUT ?offset=30", "DELETE /"]);
    expect(server.calls.at(-1)!.path).toBe(`${BASE}/${ID}`);
    expect(server.exists).toBe(false);
    expect(upload.id).toBeNull();
  });

  it("cancel during a retry's wait stops it and deletes the upload", async () => {
    const server = new FakeServer();
    let waiting: (() => void) | null = null;
    const upload = new ResumableUpload(new Blob([content(100)]), {
      http: server.http,
      chunkBytes: 30,
      sleep: (_ms, signal) => new Promise<void>((resolve) => {
        waiting = resolve;
        signal.addEventListener("abort", () => resolve());
      }),
    });
    server.override = (req) => (req.method === "PUT" ? { status: 0 } : undefined);
    const running = upload.send("big");
    await vi.waitFor(() => expect(waiting).not.toBeNull());
    await upload.abandon();
    expect(await running).toEqual({ status: 0, aborted: true });
    expect(server.log).toEqual(["POST /", "PUT ?offset=0", "DELETE /"]);
  });

  it("a 422 on the name keeps the upload: sending again only finishes", async () => {
    const { server, upload, send } = setup(100, 30);
    server.override = (req) =>
      req.path.endsWith("/finish") && (JSON.parse(req.body as string) as { name: string }).name === "taken"
        ? { status: 422, body: { detail: [{ loc: ["body", "name"], msg: "a dataset named 'taken' exists", type: "value_error" }] } }
        : undefined;
    const first = await send("taken");
    expect(first.status).toBe(422);
    expect(first.error).toEqual({ detail: [{ loc: ["body", "name"], msg: "a dataset named 'taken' exists", type: "value_error" }] });
    expect(upload.id).toBe(ID);
    const before = server.calls.length;
    const second = await send("fresh");
    expect(second).toEqual({ status: 201, data: { ...DATASET, name: "fresh" } });
    expect(server.log.slice(before)).toEqual(["POST /finish"]);
    expect(server.calls.at(-1)!.path).toBe(`${BASE}/${ID}/finish`);
  });

  it("a 422 on the files ends the upload: sending again starts a new one", async () => {
    const { server, upload, send } = setup(100, 30);
    let finishes = 0;
    server.override = (req, s) => {
      if (!req.path.endsWith("/finish") || ++finishes > 1) return undefined;
      s.exists = false; // the server removes it
      return { status: 422, body: { detail: [{ loc: ["body", "files"], msg: "a/1.txt: not UTF-8 text", type: "value_error" }] } };
    };
    const out = await send();
    expect(out.status).toBe(422);
    expect(upload.id).toBeNull();
    const before = server.calls.length;
    server.have = [];
    expect((await send()).status).toBe(201);
    expect(server.log.slice(before, before + 2)).toEqual(["POST /", "PUT ?offset=0"]);
  });

  it("refuses a file over the server's max_bytes and deletes the upload it started", async () => {
    const { server, upload, send } = setup(100, 30);
    server.maxBytes = 50;
    const out = await send();
    expect(out.status).toBe(413);
    expect(server.log).toEqual(["POST /", "DELETE /"]);
    expect(upload.id).toBeNull();
  });

  it("waits the retry delay, or less when cancelled", async () => {
    vi.useFakeTimers();
    try {
      let woke = false;
      void sleep(1000, new AbortController().signal).then(() => (woke = true));
      await vi.advanceTimersByTimeAsync(999);
      expect(woke).toBe(false);
      await vi.advanceTimersByTimeAsync(1);
      expect(woke).toBe(true);

      const stop = new AbortController();
      let cut = false;
      void sleep(16000, stop.signal).then(() => (cut = true));
      stop.abort();
      await vi.advanceTimersByTimeAsync(0);
      expect(cut).toBe(true);
    } finally {
      vi.useRealTimers();
    }
  });
});
