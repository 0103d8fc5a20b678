/**
 * The server's data as the pages share it: one TanStack Query cache for the app, a key per list
 * (two pages that ask for the same list share one request and one cached answer), and how long an
 * answer stays fresh, by how often that data changes. Live state (a job's progress and state)
 * comes from the job's event stream, not from a timer; see RunPage.
 */
import { QueryClient, queryOptions } from "@tanstack/react-query";
import { api, type paths } from "../client";
import { errorMessage } from "../client/errors";
import { isTerminal, type JobPublic } from "../client/types";

const SECOND = 1000;
const MINUTE = 60 * SECOND;

/** An answer of the API that was not 2xx: its message for people, and its status. */
export class ApiError extends Error {
  readonly status: number;
  constructor(message: string, status: number) {
    super(message);
    this.name = "ApiError";
    this.status = status;
  }
}

/** The data of an answer from `api`, or an ApiError carrying the API's message (else `fallback`). */
export function dataOf<T>(answer: { data?: T; error?: unknown; response: Response }, fallback?: string): T {
  if (answer.data !== undefined) return answer.data;
  throw new ApiError(errorMessage(answer.error, fallback), answer.response.status);
}

/** Network errors and 5xx are tried once more; a 4xx would only be refused again. */
function retryOnce(failures: number, error: unknown): boolean {
  if (error instanceof ApiError && error.status >= 400 && error.status < 500) return false;
  return failures < 1;
}

/**
 * The app's cache. A query's own options (below) say how long its data stays fresh; a stale query
 * is read again when a page that shows it mounts or the window regains focus.
 */
export function createQueryClient(): QueryClient {
  return new QueryClient({
    defaultOptions: {
      queries: { staleTime: 10 * SECOND, retry: retryOnce, refetchOnWindowFocus: true },
      mutations: { retry: false },
    },
  });
}

export type JobListQuery = NonNullable<paths["/api/v1/jobs"]["get"]["parameters"]["query"]>;

/** Every query key, in one place; a key's prefix names what a change invalidates. */
export const queryKeys = {
  jobKinds: ["job-kinds"] as const,
  samplers: ["samplers"] as const,
  models: ["models"] as const,
  schedule: (model: string) => ["models", model, "schedule"] as const,
  loras: ["loras"] as const,
  styles: ["styles"] as const,
  /** the list of datasets, and (below it) each dataset's pages */
  datasets: ["datasets"] as const,
  dataset: (name: string, offset: number, model: string) => ["datasets", name, { offset, model }] as const,
  datasetPages: (name: string) => ["datasets", name] as const,
  /** every job query: lists and single jobs */
  jobs: ["jobs"] as const,
  jobLists: ["jobs", "list"] as const,
  jobList: (query: JobListQuery) => ["jobs", "list", query] as const,
  job: (id: string) => ["jobs", "one", id] as const,
  workers: ["workers"] as const,
  users: ["users"] as const,
};

// Job kinds and samplers come from the code the server runs: they change with a deploy, not
// during a visit, so one answer serves the whole session.
export const jobKindsQuery = () =>
  queryOptions({
    queryKey: queryKeys.jobKinds,
    queryFn: async () => dataOf(await api.GET("/api/v1/job-kinds")),
    staleTime: Infinity,
    gcTime: Infinity,
  });

export const samplersQuery = () =>
  queryOptions({
    queryKey: queryKeys.samplers,
    queryFn: async () => dataOf(await api.GET("/api/v1/samplers")),
    staleTime: Infinity,
    gcTime: Infinity,
  });

// Models, LoRAs and datasets appear when a run ends, which may be while another page is open:
// a page that shows them reads them again when it opens (the cached list is shown meanwhile;
// the model list answers 304 while unchanged), and a run page that sees its job end marks
// them stale (RunPage). No timer reads them.
const REVALIDATE_ON_OPEN = 0;

export const modelsQuery = () =>
  queryOptions({
    queryKey: queryKeys.models,
    queryFn: async () => dataOf(await api.GET("/api/v1/models")),
    staleTime: REVALIDATE_ON_OPEN,
  });

export const scheduleQuery = (model: string) =>
  queryOptions({
    queryKey: queryKeys.schedule(model),
    queryFn: async () => dataOf(await api.GET("/api/v1/models/{name}/schedule", { params: { path: { name: model } } })),
    staleTime: 5 * MINUTE,
  });

export const lorasQuery = () =>
  queryOptions({
    queryKey: queryKeys.loras,
    queryFn: async () => {
      const answer = await api.GET("/api/v1/loras");
      return dataOf(answer, `${answer.response.status}`);
    },
    staleTime: REVALIDATE_ON_OPEN,
  });

/** The signed-in user's prompt styles; saving or deleting one writes the cache (useStyles). */
export const stylesQuery = () =>
  queryOptions({
    queryKey: queryKeys.styles,
    queryFn: async () => {
      const answer = await api.GET("/api/v1/styles");
      return dataOf(answer, `${answer.response.status}`);
    },
    staleTime: 5 * MINUTE,
  });

/** Every dataset (image sets and the lab's tabular ones); pages pick the kind they show. */
export const datasetsQuery = () =>
  queryOptions({
    queryKey: queryKeys.datasets,
    queryFn: async () => {
      const answer = await api.GET("/api/v1/datasets");
      return dataOf(answer, `${answer.response.status}`);
    },
    staleTime: REVALIDATE_ON_OPEN,
  });

/** A page of an uploaded dataset's items and its stats; null: no uploaded dataset by that name. */
export const datasetQuery = (name: string, offset: number, limit: number, model: string) =>
  queryOptions({
    queryKey: queryKeys.dataset(name, offset, model),
    queryFn: async () => {
      const query: { offset: number; limit: number; model?: string } = { offset, limit };
      if (model) query.model = model;
      const answer = await api.GET("/api/v1/datasets/{name}", { params: { path: { name }, query } });
      if (answer.response.status === 404) return null;
      return dataOf(answer, `${answer.response.status}`);
    },
    staleTime: 30 * SECOND,
  });

/** A list of jobs (GET /jobs with `query`). Pages that list jobs choose their own refetchInterval. */
export const jobListQuery = (query: JobListQuery) =>
  queryOptions({
    queryKey: queryKeys.jobList(query),
    queryFn: async () => dataOf(await api.GET("/api/v1/jobs", { params: { query } })).data,
    staleTime: 2 * SECOND,
  });

/** One job. An ended job changes only when someone acts on it (share, retry), which updates the cache. */
export const jobQuery = (id: string) =>
  queryOptions({
    queryKey: queryKeys.job(id),
    queryFn: async () => dataOf(await api.GET("/api/v1/jobs/{job_id}", { params: { path: { job_id: id } } })),
    staleTime: (query) => (isTerminal(query.state.data?.state) ? MINUTE : 5 * SECOND),
  });

export const workersQuery = () =>
  queryOptions({
    queryKey: queryKeys.workers,
    queryFn: async () => dataOf(await api.GET("/api/v1/workers")),
    staleTime: 0,
  });

export const usersQuery = () =>
  queryOptions({
    queryKey: queryKeys.users,
    queryFn: async () => dataOf(await api.GET("/api/v1/users", { params: { query: { offset: 0, limit: 500 } } })).data,
    staleTime: 30 * SECOND,
  });

/** How often a list of jobs is read while one of them is queued or running: its state and progress move. */
export const LIVE_JOBS_MS = 4 * SECOND;
/** ... and while none is: a job launched elsewhere (another tab, another user) shows within this. */
export const IDLE_JOBS_MS = 30 * SECOND;

/**
 * The refetchInterval of a list of jobs: LIVE_JOBS_MS while one of `jobs` is queued or running,
 * else IDLE_JOBS_MS; `idle` false: not read again by a timer once nothing in it moves.
 */
export function jobsInterval(jobs: readonly JobPublic[] | undefined, idle: number | false = IDLE_JOBS_MS): number | false {
  return jobs?.some((j) => !isTerminal(j.state)) ? LIVE_JOBS_MS : idle;
}

/** How often RunPage reads its job while the job's event stream is down (it cannot open, or dropped). */
export const STREAM_DOWN_MS = 12 * SECOND;
