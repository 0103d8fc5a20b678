// @vitest-environment node
/**
 * The committed client must match the OpenAPI documents it is generated from, and openapi.json
 * must match what the API prints now (checked when the backend's environment is at hand).
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { FILES, readJson, renderClient } from "../../scripts/gen-client.mjs";

const repo = resolve(FILES.api, "../..");
const python = resolve(repo, ".venv/bin/python");
const openapiModule = resolve(repo, "backend/difflab/api/openapi.py");
const STALE = "the generated client is stale: run `npm run gen:client` in frontend/ and commit the result";

describe("generated API client", () => {
  it("schema.d.ts and pending.d.ts are what openapi-typescript makes of the documents", async () => {
    const out = await renderClient(readJson(FILES.api), readJson(FILES.contract));
    expect(readFileSync(FILES.schema, "utf8"), STALE).toBe(out.schema);
    expect(readFileSync(FILES.pending, "utf8"), STALE).toBe(out.pending);
  }, 30_000);

  it.skipIf(!existsSync(python) || !existsSync(openapiModule))(
    "openapi.json is the document the API serves now",
    () => {
      const printed = execFileSync(python, ["-m", "difflab.api.openapi"], {
        cwd: repo,
        encoding: "utf8",
        env: { ...process.env, PYTHONPATH: resolve(repo, "backend") },
        maxBuffer: 64 * 1024 * 1024,
      });
      expect(JSON.parse(printed), STALE).toEqual(readJson(FILES.api));
    },
    60_000,
  );
});
