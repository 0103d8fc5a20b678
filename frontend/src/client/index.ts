/**
 * The typed API client. `schema.d.ts` is generated from the API's OpenAPI document
 * (`npm run gen:client`); every call made with `api` is checked against it. Requests carry the session
 * cookie; state-changing ones also carry the CSRF token the login and /auth/me responses hold.
 */
import createClient, { type Middleware } from "openapi-fetch";
import type { paths as pendingPaths } from "./pending";
import type { paths as servedPaths } from "./schema";

/**
 * The routes the API serves (schema.d.ts, from its own OpenAPI document) and the contract's
 * routes it does not serve yet (pending.d.ts). Both files are generated: `npm run gen:client`.
 */
export type paths = servedPaths & pendingPaths;

let csrfToken: string | null = null;

/** Remember the CSRF token of the current session (null after sign-out). */
export function setCsrfToken(token: string | null): void {
  csrfToken = token;
}

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/** Fired on window when the API answers 401 to anything but the login call itself. */
export const UNAUTHORIZED_EVENT = "difflab:unauthorized";

const sessionMiddleware: Middleware = {
  onRequest({ request }) {
    if (csrfToken && !SAFE_METHODS.has(request.method.toUpperCase())) {
      request.headers.set("X-CSRF-Token", csrfToken);
    }
    return request;
  },
  onResponse({ request, response }) {
    const path = new URL(request.url).pathname;
    if (response.status === 401 && !path.endsWith("/auth/login") && !path.endsWith("/auth/me")) {
      window.dispatchEvent(new Event(UNAUTHORIZED_EVENT));
    }
    return response;
  },
};

export const api = createClient<paths>({
  // An absolute origin keeps Request() happy outside the browser too (tests under jsdom).
  baseUrl: typeof window !== "undefined" ? window.location.origin : "",
  credentials: "include",
  // looked up per call, so a test can stand in for fetch
  fetch: (request: Request) => globalThis.fetch(request),
});
api.use(sessionMiddleware);

/** URL of one stored artifact of a job; each path segment is encoded on its own. */
export function artifactUrl(jobId: string, name: string): string {
  const segments = name.split("/").map(encodeURIComponent).join("/");
  return `/api/v1/jobs/${encodeURIComponent(jobId)}/artifacts/${segments}`;
}

/**
 * Upload an init image or an inpainting mask (POST /api/v1/images, multipart). The API re-encodes
 * it as a PNG (a mask as grayscale) and answers its id, pixel size and URL.
 */
export function uploadImage(file: Blob, kind: "image" | "mask" = "image") {
  return api.POST("/api/v1/images", {
    // the schema types the file part as a string (format: binary); the serializer sends the Blob
    body: { file: file as unknown as string, kind },
    bodySerializer: (body) => {
      const form = new FormData();
      form.append("file", file, file instanceof File ? file.name : `${kind}.png`);
      form.append("kind", body.kind);
      return form;
    },
  });
}

/** The multipart fields of POST /api/v1/datasets, checked against the generated schema. */
type DatasetUploadForm = paths["/api/v1/datasets"]["post"]["requestBody"]["content"]["multipart/form-data"];
type DatasetUploaded = paths["/api/v1/datasets"]["post"]["responses"][201]["content"]["application/json"];
const UPLOAD_NAME: keyof DatasetUploadForm = "name";
const UPLOAD_FILES: keyof DatasetUploadForm = "files";

/** A file of a dataset upload and its path inside the folder (the multipart part's filename). */
export interface UploadFile {
  file: Blob;
  path: string;
}

export interface UploadOutcome {
  /** 0: no answer (network error or aborted) */
  status: number;
  data?: DatasetUploaded;
  /** the API's error body ({detail}); absent with status 0 */
  error?: unknown;
  aborted?: boolean;
}

/** What an XMLHttpRequest to the API came back with. */
export interface XhrAnswer {
  /** 0: no answer (network error or aborted) */
  status: number;
  /** the parsed JSON body; for a status that is not 2xx, never null (`{detail}` at worst) */
  body?: unknown;
  aborted?: boolean;
}

export interface XhrRequest {
  method: "GET" | "POST" | "PUT" | "DELETE";
  /** an API path, e.g. /api/v1/datasets */
  path: string;
  body?: Blob | FormData | string | null;
  /** the body's content type; a Blob's own type (or none) when left out */
  contentType?: string;
  /** the request body's progress, in bytes */
  onProgress?: (loaded: number, total: number) => void;
  /** aborting it aborts the request, which then answers `aborted` */
  signal?: AbortSignal;
}

/**
 * One API request made with XMLHttpRequest rather than fetch, for its upload progress. It carries
 * the session cookie and, unless it is a GET, the CSRF token, as `api` does; a 401 fires
 * UNAUTHORIZED_EVENT as `api` does. It never rejects: no answer is status 0.
 */
export function xhrRequest(req: XhrRequest): Promise<XhrAnswer> {
  return new Promise<XhrAnswer>((resolve) => {
    if (req.signal?.aborted) {
      resolve({ status: 0, aborted: true });
      return;
    }
    const xhr = new XMLHttpRequest();
    const base = typeof window !== "undefined" ? window.location.origin : "";
    xhr.open(req.method, `${base}${req.path}`);
    xhr.withCredentials = true;
    xhr.setRequestHeader("Accept", "application/json");
    if (req.contentType) xhr.setRequestHeader("Content-Type", req.contentType);
    if (csrfToken && !SAFE_METHODS.has(req.method)) xhr.setRequestHeader("X-CSRF-Token", csrfToken);
    const onProgress = req.onProgress;
    if (onProgress) xhr.upload.onprogress = (e) => onProgress(e.loaded, e.lengthComputable ? e.total : 0);
    const stop = () => xhr.abort();
    req.signal?.addEventListener("abort", stop, { once: true });
    const settle = (answer: XhrAnswer) => {
      req.signal?.removeEventListener("abort", stop);
      resolve(answer);
    };
    xhr.onload = () => {
      let body: unknown = null;
      try {
        body = xhr.responseText ? JSON.parse(xhr.responseText) : null;
      } catch {
        body = { detail: `${xhr.status} ${xhr.statusText}` };
      }
      if (xhr.status === 401) window.dispatchEvent(new Event(UNAUTHORIZED_EVENT));
      const ok = xhr.status >= 200 && xhr.status < 300;
      settle({ status: xhr.status, body: ok ? body : (body ?? { detail: `${xhr.status} ${xhr.statusText}` }) });
    };
    xhr.onerror = () => settle({ status: 0 }); // no answer: the page says so in its language
    xhr.onabort = () => settle({ status: 0, aborted: true });
    xhr.send(req.body ?? null);
  });
}

/**
 * Upload a captioned image dataset (POST /api/v1/datasets, multipart): one .zip, or a folder's
 * files, each part named by its path in the folder. XMLHttpRequest rather than fetch, for the
 * upload's progress (`onProgress(sent, total)`); it carries the session cookie and the CSRF
 * token as `api` does. `abort` stops it (the outcome is then `aborted`). A large .zip goes by
 * the resumable protocol instead (pages/datasets/resumable.ts).
 */
export function uploadDataset(
  name: string,
  files: readonly UploadFile[],
  onProgress?: (sent: number, total: number) => void,
): { done: Promise<UploadOutcome>; abort: () => void } {
  const form = new FormData();
  form.append(UPLOAD_NAME, name);
  for (const f of files) form.append(UPLOAD_FILES, f.file, f.path);
  const controller = new AbortController();
  const done = xhrRequest({ method: "POST", path: "/api/v1/datasets", body: form, onProgress, signal: controller.signal }).then(
    (a): UploadOutcome => {
      if (a.aborted) return { status: 0, aborted: true };
      if (a.status >= 200 && a.status < 300) return { status: a.status, data: a.body as DatasetUploaded };
      return a.status === 0 ? { status: 0 } : { status: a.status, error: a.body };
    },
  );
  return { done, abort: () => controller.abort() };
}
