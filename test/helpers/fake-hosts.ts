/**
 * A scripted stand-in for llama-server hosts inside workerd: replaces `fetch` so the Worker's calls land on
 * handlers keyed by `origin + path`. Any call nobody scripted throws, so no test passes by reaching something real.
 * One exception: the fleet router reads each host's `GET /slots` in the background to learn its slot count; unless a
 * test scripts it, a fake host answers it as llama-server started with `--no-slots` does (501), and the call is kept
 * apart in `reports`, so `calls` holds what the request under test did.
 * Used only for what the suite must control exactly (errors, faults); the e2e tier runs the real llama-server.
 */
import { vi } from "vitest";

export type HostHandler = (request: Request, body: string) => Response | Promise<Response>;

export interface HostCall {
  url: string;
  method: string;
  headers: Headers;
  body: string;
  json: () => any;
}

export function fakeHosts(handlers: Record<string, HostHandler>) {
  const calls: HostCall[] = [];
  const reports: HostCall[] = [];
  const spy = vi.spyOn(globalThis, "fetch").mockImplementation(async (input: RequestInfo | URL, init?: RequestInit) => {
    const request = new Request(input, init);
    const url = new URL(request.url);
    const body = request.body ? await request.text() : "";
    const call = { url: request.url, method: request.method, headers: request.headers, body, json: () => JSON.parse(body) };
    const handler = handlers[`${request.method} ${url.origin}${url.pathname}`] ?? handlers[`${url.origin}${url.pathname}`];
    if (!handler && request.method === "GET" && url.pathname.endsWith("/slots")) {
      reports.push(call);
      return hostJson(NO_SLOTS, 501);
    }
    calls.push(call);
    if (!handler) throw new Error(`No fake host for ${request.method} ${request.url}`);
    const signal = init?.signal ?? undefined;
    if (signal?.aborted) throw signal.reason;
    const response = await new Promise<Response>((resolve, reject) => {
      signal?.addEventListener("abort", () => reject(signal.reason), { once: true });
      Promise.resolve(handler(request, body)).then(resolve, reject);
    });
    return signal && response.body ? bodyTiedTo(response, signal) : response;
  });
  return { calls, reports, restore: () => spy.mockRestore() };
}

/** llama-server's answer to `GET /slots` when started with `--no-slots`. */
const NO_SLOTS = { error: { code: 501, message: "This server does not support slots endpoint.", type: "not_supported_error" } };

/** As a real fetch does: a signal that fires after the headers errors the body that is still arriving. */
function bodyTiedTo(response: Response, signal: AbortSignal): Response {
  const reader = response.body!.getReader();
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      signal.addEventListener("abort", () => {
        try {
          controller.error(signal.reason);
        } catch {}
        reader.cancel(signal.reason).catch(() => {});
      }, { once: true });
    },
    async pull(controller) {
      const { done, value } = await reader.read();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
  return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
}

const enc = new TextEncoder();

/** A JSON answer with llama-server's headers. */
export function hostJson(body: unknown, status = 200): Response {
  return new Response(typeof body === "string" ? body : JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json; charset=utf-8", server: "llama.cpp", "access-control-allow-origin": "", "set-cookie": "host=secret" },
  });
}

/** An SSE answer delivered one event per chunk, optionally failing or stalling after some events. */
export function hostStream(events: string[], fault?: { after: number; kind: "reset" | "stall" }): Response {
  let i = 0;
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (fault && i === fault.after) {
        if (fault.kind === "reset") controller.error(new Error("connection reset by peer"));
        else await new Promise(() => {}); // never another byte
        return;
      }
      if (i >= events.length) return controller.close();
      controller.enqueue(enc.encode(events[i++]!));
    },
  });
  return new Response(body, { headers: { "content-type": "text/event-stream", server: "llama.cpp", "x-accel-buffering": "no" } });
}

/** Splits a recorded SSE body into its events (each with its blank line), as the host sends them. */
export function sseEvents(recorded: string): string[] {
  return recorded.split(/(?<=\n\n)/).filter((e) => e.length > 0);
}

/** A handler that never answers (until the router's deadline aborts it). */
export const hang: HostHandler = () => new Promise<Response>(() => {});

/** A handler for a host whose connection is refused. */
export const refused: HostHandler = () => Promise.reject(new TypeError("Network connection lost."));
