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
