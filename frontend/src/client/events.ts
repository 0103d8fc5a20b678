/**
 * A job's event stream. History comes from GET /jobs/{job_id}/events (JSON, ?after=SEQ); live events
 * from the same URL as Server-Sent Events (EventSource, cookie auth, SSE id = seq, event name =
 * type). Events are kept in seq order without duplicates, whichever way they arrived.
 */
import { api } from "./index";
import type { components } from "./schema";
import { isTerminal } from "./types";

type Schemas = components["schemas"];

/** One event of a job: a union discriminated by `type`, generated from the API's OpenAPI
 * document (backend/difflab/event_types.py), never written by hand. */
export type JobEvent =
  | Schemas["StateEvent"]
  | Schemas["ProgressEvent"]
  | Schemas["MetricEvent"]
  | Schemas["ArtifactEvent"]
  | Schemas["LogEvent"]
  | Schemas["DenoiseEvent"]
  | Schemas["CellEvent"];
export type JobEventType = JobEvent["type"];
export type EventOf<T extends JobEventType> = Extract<JobEvent, { type: T }>;
export type StatePayload = Schemas["StatePayload"];
export type ProgressPayload = Schemas["ProgressPayload"];
export type MetricPayload = Schemas["MetricPayload"];
export type ArtifactPayload = Schemas["ArtifactPayload"];
export type ArtifactMeta = ArtifactPayload["meta"];
export type DenoisePayload = Schemas["DenoisePayload"];
export type LogPayload = Schemas["LogPayload"];
export type CellPayload = Schemas["CellPayload"];

/** Event names the server sends; EventSource has no wildcard listener, so each is named. */
export const EVENT_TYPES: readonly JobEventType[] = ["state", "progress", "metric", "artifact", "log", "denoise", "cell"];

export function eventsOfType<T extends JobEventType>(events: readonly JobEvent[], type: T): EventOf<T>[] {
  return events.filter((e): e is EventOf<T> => e.type === type);
}

export function isTerminalEvent(event: JobEvent): boolean {
  return event.type === "state" && isTerminal(event.payload.state);
}

/** Merge new events into a seq-ordered list, dropping any seq already present. */
export function mergeEvents(current: readonly JobEvent[], incoming: readonly JobEvent[]): JobEvent[] {
  if (incoming.length === 0) return current as JobEvent[];
  const last = current.length ? current[current.length - 1]!.seq : -Infinity;
  const fresh = incoming.filter((e) => e.seq > last);
  if (fresh.length === incoming.length && isSorted(fresh)) return [...current, ...fresh];
  const bySeq = new Map<number, JobEvent>();
  for (const e of current) bySeq.set(e.seq, e);
  for (const e of incoming) bySeq.set(e.seq, e);
  return [...bySeq.values()].sort((a, b) => a.seq - b.seq);
}

function isSorted(events: readonly JobEvent[]): boolean {
  for (let i = 1; i < events.length; i++) if (events[i]!.seq <= events[i - 1]!.seq) return false;
  return true;
}

/** All stored events after `after`, page by page. */
export async function fetchEventHistory(jobId: string, after = 0): Promise<JobEvent[]> {
  const all: JobEvent[] = [];
  let cursor = after;
  for (let page = 0; page < 1000; page++) {
    const { data, error } = await api.GET("/api/v1/jobs/{job_id}/events", {
      params: { path: { job_id: jobId }, query: { after: cursor } },
      headers: { Accept: "application/json" },
    });
    if (error || !Array.isArray(data)) throw new Error("could not load the job's events");
    const batch: JobEvent[] = data;
    if (batch.length === 0) break;
    all.push(...batch);
    const next = batch[batch.length - 1]!.seq;
    if (next <= cursor) break;
    cursor = next;
  }
  return all;
}

export interface StreamHandle {
  close(): void;
}

/**
 * The connection of a followed stream: "open" (events arrive as they happen), "retrying"
 * (dropped; EventSource reconnects by itself), "failed" (it could not be opened, e.g. refused
 * with 429 or 401, and the browser gave up: no event will come).
 */
export type StreamStatus = "open" | "retrying" | "failed";

/** EventSource.CLOSED, by value (the constant is not there outside a browser) */
const CLOSED = 2;

/**
 * Follow a job live. Calls `onEvent` for each event with seq > after, and `onEnd` once the job
 * reaches a terminal state or the server says the stream ended (the EventSource is closed then,
 * so it does not reconnect). A dropped connection is retried by EventSource itself with
 * Last-Event-ID, so nothing is lost. `onStatus` hears when the connection opens, drops or fails.
 */
export function followJob(
  jobId: string,
  after: number,
  onEvent: (event: JobEvent) => void,
  onEnd?: () => void,
  onStatus?: (status: StreamStatus) => void,
): StreamHandle {
  const url = `/api/v1/jobs/${encodeURIComponent(jobId)}/events?after=${after}`;
  const source = new EventSource(url, { withCredentials: true });
  let closed = false;
  const handle = (message: MessageEvent<string>) => {
    if (closed) return;
    let event: JobEvent;
    try {
      event = JSON.parse(message.data) as JobEvent;
    } catch {
      return;
    }
    if (typeof event.seq !== "number") event.seq = Number(message.lastEventId);
    if (!event.type) event = { ...(event as object), type: message.type } as JobEvent;
    onEvent(event);
    if (isTerminalEvent(event)) {
      closed = true;
      source.close();
      onEnd?.();
    }
  };
  for (const type of EVENT_TYPES) source.addEventListener(type, handle as EventListener);
  source.onmessage = handle;
  // The server ends the stream of an ended job with an "end" event (no seq); close, or
  // EventSource would reconnect and be told the same again.
  source.addEventListener("end", () => {
    if (closed) return;
    closed = true;
    source.close();
    onEnd?.();
  });
  source.onopen = () => {
    if (!closed) onStatus?.("open");
  };
  source.onerror = () => {
    if (closed) return;
    if (source.readyState === CLOSED) {
      closed = true;
      onStatus?.("failed");
    } else onStatus?.("retrying");
  };
  return {
    close() {
      closed = true;
      source.close();
    },
  };
}
