/** Hosts that hold a stream open mid-answer, and the Worker's own fetch to read such a stream chunk by chunk. */
import { createExecutionContext, env } from "cloudflare:test";
import type { Env } from "../../src/env.js";
import worker from "../../src/index.js";
import { sseEvents } from "./fake-hosts.js";
import { FIXTURES } from "./fixtures.js";
import { scanResponse } from "./secret-scan.js";
import { KEY } from "./worker.js";

const enc = new TextEncoder();

/**
 * A host that streams the recorded chat answer's first event, then holds the rest until `release()`. The stream is
 * made inside the host call (a stream made by the test itself would belong to another request's I/O context).
 */
export function heldStream() {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const events = sseEvents(FIXTURES.chatStream);
  const handler = () => {
    let i = 0;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (i === 1) await gate;
        if (i >= events.length) return controller.close();
        controller.enqueue(enc.encode(events[i++]!));
      },
    });
    return new Response(body, { headers: { "content-type": "text/event-stream" } });
  };
  return { handler, release };
}

/**
 * The Worker's own fetch, in this isolate, so a stream held open mid-answer can be read chunk by chunk. Only the
 * whole answers are secret-scanned here: the scan reads a clone of the body, and a cloned stream's first chunk does
 * not come through to this reader while its twin waits for the rest.
 */
export function direct(path: string, body?: unknown, headers: Record<string, string> = {}, signal?: AbortSignal): Promise<Response> {
  const all: Record<string, string> = body === undefined ? { ...headers } : { authorization: `Bearer ${KEY}`, "content-type": "application/json", ...headers };
  const request = new Request(`https://router.test${path}`, { method: body === undefined ? "GET" : "POST", headers: all, body: body === undefined ? undefined : JSON.stringify(body), signal });
  return worker.fetch(request, env as Env, createExecutionContext()).then((response) => {
    if (request.method === "GET") scanResponse(`${request.method} ${path}`, response);
    return response;
  });
}
