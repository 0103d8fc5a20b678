/** Test doubles for the two browser APIs the app talks to the server with. */
import { vi } from "vitest";

/** An EventSource whose server is the test: `emit` delivers one named SSE message. */
export class FakeEventSource {
  static instances: FakeEventSource[] = [];
  url: string;
  withCredentials: boolean;
  readyState = 1;
  onmessage: ((e: MessageEvent) => void) | null = null;
  onopen: ((e: Event) => void) | null = null;
  onerror: ((e: Event) => void) | null = null;
  private listeners = new Map<string, Set<(e: MessageEvent) => void>>();

  constructor(url: string, init?: { withCredentials?: boolean }) {
    this.url = url;
    this.withCredentials = !!init?.withCredentials;
    FakeEventSource.instances.push(this);
  }
  addEventListener(type: string, fn: (e: MessageEvent) => void) {
    if (!this.listeners.has(type)) this.listeners.set(type, new Set());
    this.listeners.get(type)!.add(fn);
  }
  removeEventListener(type: string, fn: (e: MessageEvent) => void) {
    this.listeners.get(type)?.delete(fn);
  }
  close() {
    this.readyState = 2;
  }
  emit(type: string, data: unknown, id?: number) {
    if (this.readyState === 2) return;
    const event = new MessageEvent(type, { data: JSON.stringify(data), lastEventId: id == null ? "" : String(id) });
    for (const fn of this.listeners.get(type) ?? []) fn(event);
  }
  /** the connection (re)opened */
  open() {
    this.readyState = 1;
    this.onopen?.(new Event("open"));
  }
  /** the connection dropped; the browser will reconnect */
  drop() {
    this.readyState = 0;
    this.onerror?.(new Event("error"));
  }
  /** the connection could not be opened (e.g. a 429), and the browser gave up on it */
  fail() {
    this.readyState = 2;
    this.onerror?.(new Event("error"));
  }
  static latest(): FakeEventSource {
    const last = FakeEventSource.instances[FakeEventSource.instances.length - 1];
    if (!last) throw new Error("no EventSource was opened");
    return last;
  }
}

export function installFakeEventSource(): void {
  FakeEventSource.instances = [];
  vi.stubGlobal("EventSource", FakeEventSource);
}

export interface Route {
  method?: string;
  path: string | RegExp;
  status?: number;
  body: unknown;
}

export interface FetchCall {
  method: string;
  path: string;
  headers: Headers;
  body: unknown;
}

/** A fetch that answers from a route table and records every request. */
export function installFetch(routes: Route[]): FetchCall[] {
  const calls: FetchCall[] = [];
  vi.stubGlobal("fetch", async (input: Request | string, init?: RequestInit) => {
    const request = typeof input === "string" ? new Request(new URL(input, "http://localhost"), init) : input;
    const url = new URL(request.url);
    const text = request.method === "GET" || request.method === "HEAD" ? "" : await request.text();
    calls.push({
      method: request.method,
      path: url.pathname + url.search,
      headers: request.headers,
      body: text ? JSON.parse(text) : undefined,
    });
    const route = routes.find(
      (r) =>
        (r.method ?? "GET") === request.method &&
        (typeof r.path === "string" ? r.path === url.pathname : r.path.test(url.pathname + url.search)),
    );
    if (!route) return new Response(JSON.stringify({ detail: "Not Found" }), { status: 404 });
    return new Response(JSON.stringify(route.body), {
      status: route.status ?? 200,
      headers: { "Content-Type": "application/json" },
    });
  });
  return calls;
}
