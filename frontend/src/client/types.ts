/**
 * Names for the API's shapes, taken from the generated `paths` by route rather than by schema
 * name, so they follow the real OpenAPI document whatever its models are called.
 */
import type { paths } from "./index";

type JsonOf<R> = R extends { content: { "application/json": infer J } } ? J : never;
type Ok<Op> = Op extends { responses: infer R }
  ? R extends { 200: infer A }
    ? JsonOf<A>
    : R extends { 201: infer B }
      ? JsonOf<B>
      : R extends { 202: infer C }
        ? JsonOf<C>
        : never
  : never;
type Body<Op> = Op extends { requestBody?: { content: { "application/json": infer J } } } ? J : never;

export type Session = Ok<paths["/api/v1/auth/me"]["get"]>;
export type UserPublic = Session["user"];
export type JobPublic = Ok<paths["/api/v1/jobs/{job_id}"]["get"]>;
export type JobState = JobPublic["state"];
export type JobKind = Ok<paths["/api/v1/job-kinds"]["get"]>[number];
export type WorkersInfo = Ok<paths["/api/v1/workers"]["get"]>;
export type WorkerInfo = WorkersInfo["workers"][number];
export type GenerationPublic = Ok<paths["/api/v1/generations"]["get"]>["data"][number];
export type GenerationCreate = Body<paths["/api/v1/generations"]["post"]>;
export type DatasetInfo = Ok<paths["/api/v1/datasets"]["get"]>[number];
/** An uploaded dataset's page: its stats and a page of its items (GET /api/v1/datasets/{name}). */
export type DatasetDetail = Ok<paths["/api/v1/datasets/{name}"]["get"]>;
export type DatasetItem = DatasetDetail["items"][number];
/** A LoRA in models/loras/ (GET /api/v1/loras). */
export type LoraInfo = Ok<paths["/api/v1/loras"]["get"]>[number];
/** One LoRA of a generation request and its weight. */
export type LoraWeight = NonNullable<GenerationCreate["loras"]>[number];
/** An uploaded init image or mask (POST /api/v1/images). */
export type StoredImage = Ok<paths["/api/v1/images"]["post"]>;

export type SamplerInfo = Ok<paths["/api/v1/samplers"]["get"]>[number];
export type ModelInfo = Ok<paths["/api/v1/models"]["get"]>[number];
export type Schedule = Ok<paths["/api/v1/models/{name}/schedule"]["get"]>;
/** A saved prompt style (GET /api/v1/styles); its texts may hold {prompt}. */
export type PromptStyle = Ok<paths["/api/v1/styles"]["get"]>[number];

export const TERMINAL_STATES: readonly string[] = ["succeeded", "failed", "cancelled"];
export function isTerminal(state: string | undefined | null): boolean {
  return state != null && TERMINAL_STATES.includes(state);
}
