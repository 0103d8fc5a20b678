import { useEffect, useRef, useState } from "react";
import {
  fetchEventHistory,
  followJob,
  isTerminalEvent,
  mergeEvents,
  type JobEvent,
  type StreamHandle,
  type StreamStatus,
} from "../client/events";

export interface JobEventsState {
  /** the job these events are of (for a render or two after `jobId` changes, the previous one) */
  jobId: string | null;
  events: JobEvent[];
  /** true once the job ended: a terminal state event, or the server closed the stream */
  ended: boolean;
  error: string | null;
  /** the live stream's connection while it is followed; null before it is opened and after the end */
  stream: StreamStatus | null;
}

export interface JobEventsOptions {
  /** load stored events first (JSON); off for a job created a moment ago */
  history?: boolean;
  /** keep following live events after the history */
  follow?: boolean;
  /** how often buffered live events are handed to React, ms */
  flushMs?: number;
}

/**
 * Every event of a job, kept up to date. Live events are buffered and flushed at most every
 * `flushMs`, so a stream of thousands of metric points re-renders a few times a second.
 */
export function useJobEvents(jobId: string | null, options: JobEventsOptions = {}): JobEventsState {
  const { history = true, follow = true, flushMs = 100 } = options;
  const [state, setState] = useState<JobEventsState>({ jobId, events: [], ended: false, error: null, stream: null });
  const buffer = useRef<JobEvent[]>([]);

  useEffect(() => {
    setState({ jobId, events: [], ended: false, error: null, stream: null });
    buffer.current = [];
    if (!jobId) return;
    let cancelled = false;
    let stream: StreamHandle | null = null;
    let timer: ReturnType<typeof setTimeout> | null = null;

    const flush = () => {
      timer = null;
      if (cancelled || buffer.current.length === 0) return;
      const batch = buffer.current;
      buffer.current = [];
      setState((s) => ({
        ...s,
        events: mergeEvents(s.events, batch),
        ended: s.ended || batch.some(isTerminalEvent),
      }));
    };
    // Throttle with a leading edge: after a quiet spell an event shows at once; during a burst
    // the buffer is handed over every flushMs.
    let lastFlush = 0;
    const push = (event: JobEvent) => {
      buffer.current.push(event);
      if (timer !== null) return;
      const wait = Math.max(0, lastFlush + flushMs - Date.now());
      timer = setTimeout(() => {
        lastFlush = Date.now();
        flush();
      }, wait);
    };

    const start = async () => {
      let after = 0;
      let ended = false;
      if (history) {
        try {
          const past = await fetchEventHistory(jobId);
          if (cancelled) return;
          after = past.length ? past[past.length - 1]!.seq : 0;
          ended = past.some(isTerminalEvent);
          setState({ jobId, events: mergeEvents([], past), ended, error: null, stream: null });
        } catch (e) {
          if (cancelled) return;
          setState((s) => ({ ...s, error: e instanceof Error ? e.message : String(e) }));
        }
      }
      if (follow && !ended && !cancelled) {
        // opening: counted as open until the browser says otherwise
        setState((s) => ({ ...s, stream: "open" }));
        stream = followJob(
          jobId,
          after,
          push,
          () => {
            if (timer !== null) clearTimeout(timer);
            flush();
            if (!cancelled) setState((s) => ({ ...s, ended: true, stream: null }));
          },
          (status) => {
            if (!cancelled) setState((s) => (s.stream === status ? s : { ...s, stream: status }));
          },
        );
      }
    };
    void start();

    return () => {
      cancelled = true;
      stream?.close();
      if (timer !== null) clearTimeout(timer);
    };
  }, [jobId, history, follow, flushMs]);

  return state;
}
