/**
 * The resumable upload of a large dataset .zip (/api/v1/datasets/uploads): start one, PUT the
 * file in chunks each appended at the offset the server has, then finish it with the dataset's
 * name. A chunk that gets no answer or a 5xx is retried after a growing delay, from where the
 * server says it is (GET `received`); a 409 says where the server is, and sending resumes there.
 * The HTTP layer and the waiting are injectable, so the protocol is tested without a server.
 */
import { xhrRequest, type paths, type UploadOutcome, type XhrAnswer, type XhrRequest } from "../../client";

/** A single .zip larger than this goes by the resumable protocol. */
export const RESUMABLE_OVER_BYTES = 32 * 2 ** 20;
/** The size of one PUT (the server takes up to its `chunk_bytes`, 64 MiB). */
export const CHUNK_BYTES = 16 * 2 ** 20;
/** The waits before the retries of a chunk that failed: five retries, then it gives up. */
export const RETRY_DELAYS_MS: readonly number[] = [1000, 2000, 4000, 8000, 16000];
/** 409s in a row (each resuming where the server says) before it gives up. */
const MAX_CONFLICTS = 5;

const START: keyof paths = "/api/v1/datasets/uploads";
const ONE: keyof paths = "/api/v1/datasets/uploads/{upload_id}";
const FINISH: keyof paths = "/api/v1/datasets/uploads/{upload_id}/finish";
type UploadState = paths[typeof START]["post"]["responses"][201]["content"]["application/json"];
type FinishBody = paths[typeof FINISH]["post"]["requestBody"]["content"]["application/json"];

/** One request of the protocol; the default sends it with XMLHttpRequest (cookie, CSRF token). */
export type Http = (req: XhrRequest) => Promise<XhrAnswer>;
/** Wait `ms`, or less when `signal` aborts. */
export type Sleep = (ms: number, signal: AbortSignal) => Promise<void>;

export const sleep: Sleep = (ms, signal) =>
  new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });

/** A chunk failed and is being retried. */
export interface Retry {
  /** 1..of */
  attempt: number;
  of: number;
  /** the offset sending resumes at (the server's `received` once asked) */
  at: number;
}

export interface Progress {
  sent: number;
  total: number;
  /** set from a chunk's failure until a chunk gets through again */
  retry: Retry | null;
}

/** A slice of a file: what a chunk is cut from. */
export type Source = Pick<Blob, "size" | "slice">;

export interface ResumableOptions {
  http?: Http;
  sleep?: Sleep;
  chunkBytes?: number;
  delaysMs?: readonly number[];
}

const ok = (status: number) => status >= 200 && status < 300;
const failed = (a: XhrAnswer): UploadOutcome => (a.aborted ? { status: 0, aborted: true } : a.status === 0 ? { status: 0 } : { status: a.status, error: a.body });
const transient = (a: XhrAnswer) => a.status === 0 || a.status >= 500;

/** `received` of an upload's state, or of a 409's detail; null when there is none. */
function receivedOf(body: unknown): number | null {
  if (typeof body !== "object" || body === null) return null;
  const b = body as { received?: unknown; detail?: unknown };
  const r = typeof b.detail === "object" && b.detail !== null ? (b.detail as { received?: unknown }).received : b.received;
  return typeof r === "number" && Number.isInteger(r) && r >= 0 ? r : null;
}

/** Whether a finish's 422 is about the files (the server then removed the upload). */
function refusedFiles(body: unknown): boolean {
  if (typeof body !== "object" || body === null) return false;
  const detail = (body as { detail?: unknown }).detail;
  return Array.isArray(detail) && detail.some((d) => Array.isArray((d as { loc?: unknown })?.loc) && (d as { loc: unknown[] }).loc[1] === "files");
}

/**
 * One file's resumable upload. `send(name)` starts it (or picks it up again), sends what the
 * server lacks and finishes it; after a 422 on the name only the finish is made again. `abandon()`
 * stops the request in flight and deletes the upload on the server.
 */
export class ResumableUpload {
  /** the server's id of the upload, while there is one to go on with */
  id: string | null = null;
  /** the bytes the server has (as far as it said) */
  received = 0;
  private readonly http: Http;
  private readonly wait: Sleep;
  private chunkBytes: number;
  private readonly delays: readonly number[];
  private controller = new AbortController();

  constructor(
    readonly file: Source,
    options: ResumableOptions = {},
  ) {
    this.http = options.http ?? xhrRequest;
    this.wait = options.sleep ?? sleep;
    this.chunkBytes = options.chunkBytes ?? CHUNK_BYTES;
    this.delays = options.delaysMs ?? RETRY_DELAYS_MS;
  }

  private url(path: string, id: string): string {
    return path.replace("{upload_id}", encodeURIComponent(id));
  }

  /** Upload what the server lacks, then finish with `name`. */
  async send(name: string, onProgress?: (p: Progress) => void): Promise<UploadOutcome> {
    if (this.controller.signal.aborted) this.controller = new AbortController();
    const signal = this.controller.signal;
    const total = this.file.size;
    const report = (sent: number, retry: Retry | null = null) => onProgress?.({ sent: Math.min(sent, total), total, retry });

    if (this.id == null) {
      const a = await this.http({ method: "POST", path: START, signal });
      if (!ok(a.status)) return failed(a);
      const state = a.body as UploadState;
      this.id = state.id;
      this.received = state.received;
      this.chunkBytes = Math.min(this.chunkBytes, state.chunk_bytes || this.chunkBytes);
      if (signal.aborted) {
        await this.abandon(); // cancelled while it was being started
        return { status: 0, aborted: true };
      }
      if (total > state.max_bytes) {
        await this.abandon();
        return { status: 413, error: { detail: `the upload would be over ${state.max_bytes} bytes` } };
      }
    } else if (this.received < total) {
      // picked up again (after giving up on a chunk): from where the server is
      const a = await this.http({ method: "GET", path: this.url(ONE, this.id), signal });
      if (a.status === 404) this.id = null;
      if (!ok(a.status)) return failed(a);
      this.received = receivedOf(a.body) ?? 0;
    }
    report(this.received);

    const sent = await this.chunks(signal, report);
    if (sent) return sent;
    return this.finish(name, signal);
  }

  /** PUT the chunks from `received` to the end; an outcome when it stops short. */
  private async chunks(signal: AbortSignal, report: (sent: number, retry?: Retry | null) => void): Promise<UploadOutcome | null> {
    const total = this.file.size;
    const id = this.id!;
    let failures = 0;
    let conflicts = 0;
    let retry: Retry | null = null;
    while (this.received < total) {
      const at = this.received;
      const end = Math.min(at + this.chunkBytes, total);
      const a = await this.http({
        method: "PUT",
        path: `${this.url(ONE, id)}?offset=${at}`,
        body: this.file.slice(at, end),
        contentType: "application/octet-stream",
        onProgress: (loaded) => report(at + Math.min(loaded, end - at), retry),
        signal,
      });
      if (a.aborted || signal.aborted) return { status: 0, aborted: true };
      if (ok(a.status)) {
        this.received = receivedOf(a.body) ?? end;
        failures = 0;
        conflicts = 0;
        retry = null;
        report(this.received);
        continue;
      }
      if (a.status === 409) {
        const r = receivedOf(a.body);
        conflicts += 1;
        if (r == null || r > total || conflicts > MAX_CONFLICTS) return failed(a);
        this.received = r;
        report(r, retry);
        continue;
      }
      if (a.status === 404) {
        this.id = null; // gone on the server: a new try starts again
        return failed(a);
      }
      if (a.status === 413) {
        await this.abandon();
        return failed(a);
      }
      if (!transient(a)) return failed(a);
      // no answer or a 5xx: wait, ask the server where it is, resume there
      let last: XhrAnswer = a;
      for (;;) {
        if (failures >= this.delays.length) return failed(last);
        const delay = this.delays[failures]!;
        failures += 1;
        retry = { attempt: failures, of: this.delays.length, at: this.received };
        report(this.received, retry);
        await this.wait(delay, signal);
        if (signal.aborted) return { status: 0, aborted: true };
        const g = await this.http({ method: "GET", path: this.url(ONE, id), signal });
        if (g.aborted || signal.aborted) return { status: 0, aborted: true };
        if (ok(g.status)) {
          const r = receivedOf(g.body);
          if (r == null || r > total) return failed({ status: g.status, body: { detail: "the server's offset is not in the file" } });
          this.received = r;
          retry = { ...retry, at: r };
          report(r, retry);
          break;
        }
        if (g.status === 404) {
          this.id = null;
          return failed(g);
        }
        if (!transient(g)) return failed(g);
        last = g;
      }
    }
    return null;
  }

  /** POST …/finish {name}: the dataset, or why not (a 422 on the name keeps the upload). */
  private async finish(name: string, signal: AbortSignal): Promise<UploadOutcome> {
    const body: FinishBody = { name };
    const a = await this.http({ method: "POST", path: this.url(FINISH, this.id!), body: JSON.stringify(body), contentType: "application/json", signal });
    if (ok(a.status)) {
      this.id = null;
      return { status: a.status, data: a.body as UploadOutcome["data"] };
    }
    if (a.status === 404 || (a.status === 422 && refusedFiles(a.body))) this.id = null; // the server removed it
    return failed(a);
  }

  /** Stop the request in flight, and delete the upload on the server (if there is one). */
  async abandon(): Promise<void> {
    this.controller.abort();
    const id = this.id;
    this.id = null;
    this.received = 0;
    if (id != null) await this.http({ method: "DELETE", path: this.url(ONE, id) });
  }
}
