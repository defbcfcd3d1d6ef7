// A client that leaves, or stops reading, in workerd: the host is cancelled and the request still writes exactly one
// log line that says so. The Worker's own fetch is called in this isolate with a request whose signal the test
// aborts, or whose body it cancels or never reads (the pool's SELF hop would not pass a cancel on).
import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Env } from "../../src/env.js";
import worker from "../../src/index.js";
import { fakeHosts, sseEvents } from "../helpers/fake-hosts.js";
import { FIXTURES } from "../helpers/fixtures.js";
import { KEY, uniqueHost, useConfig } from "../helpers/worker.js";

let host: string;
let hosts: ReturnType<typeof fakeHosts> | undefined;
const EVENTS = sseEvents(FIXTURES.chatStream);
const enc = new TextEncoder();

beforeEach(async () => {
  host = uniqueHost("c");
  await useConfig({ version: 1, providers: [{ id: "c", baseUrl: host, discover: false, timeouts: { firstByteMs: 5_000, idleMs: 300 }, models: [{ id: "tiny" }] }] });
});
afterEach(() => hosts?.restore());

/** The router's JSON log lines, captured while the test runs; `next()` resolves when one more has been written. */
function logLines() {
  const lines: Record<string, any>[] = [];
  let waiting: { count: number; resolve: () => void }[] = [];
  const spy = vi.spyOn(console, "log").mockImplementation((line: unknown) => {
    if (String(line).startsWith('{"requestId"')) lines.push(JSON.parse(String(line)));
    waiting = waiting.filter((w) => (lines.length >= w.count ? (w.resolve(), false) : true));
  });
  const atLeast = (count: number) => new Promise<void>((resolve) => (lines.length >= count ? resolve() : waiting.push({ count, resolve })));
  return { lines, next: () => atLeast(lines.length + 1), atLeast, restore: () => spy.mockRestore() };
}

/** A host body that sends `first` events at once, then nothing until cancelled; `cancelled` resolves on its cancel. */
function silentAfter(first: number) {
  let onCancel!: () => void;
  const cancelled = new Promise<void>((r) => (onCancel = r));
  let i = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (i < first) return controller.enqueue(enc.encode(EVENTS[i++]!));
      return new Promise(() => {});
    },
    cancel: () => onCancel(),
  });
  return { cancelled, handler: () => new Response(body, { headers: { "content-type": "text/event-stream" } }) };
}

/** A host that streams forever, one event per read; `cancelled` resolves on its cancel. */
function endless() {
  let onCancel!: () => void;
  const cancelled = new Promise<void>((r) => (onCancel = r));
  const body = new ReadableStream<Uint8Array>({
    pull: (controller) => controller.enqueue(enc.encode(EVENTS[1]!)),
    cancel: () => onCancel(),
  });
  return { cancelled, handler: () => new Response(body, { headers: { "content-type": "text/event-stream" } }) };
}

function chatRequest(body: Record<string, unknown>, signal?: AbortSignal): Request {
  return new Request("https://router.test/v1/chat/completions", {
    method: "POST",
    headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "c/tiny", messages: [{ role: "user", content: "hi" }], ...body }),
    signal,
  });
}

describe("a client that leaves", () => {
  it("before the host answers: one log line, status 499 and outcome cancelled (not a 500), the host call aborted", async () => {
    let hostAborted!: () => void;
    const aborted = new Promise<void>((r) => (hostAborted = r));
    let onCall!: () => void;
    const hostCalled = new Promise<void>((r) => (onCall = r));
    hosts = fakeHosts({
      [`${host}/v1/chat/completions`]: (req) => {
        onCall();
        return new Promise<Response>((_, reject) => req.signal.addEventListener("abort", () => (hostAborted(), reject(req.signal.reason))));
      },
    });
    const log = logLines();
    try {
      const client = new AbortController();
      const ctx = createExecutionContext();
      const answer = worker.fetch(chatRequest({ stream: true }, client.signal), env as Env, ctx);
      await hostCalled;
      client.abort();
      await aborted;
      const res = await answer;
      await waitOnExecutionContext(ctx);
      expect(res.status).toBe(499);
      expect(log.lines.map((l) => [l.status, l.outcome])).toEqual([[499, "cancelled"]]);
    } finally {
      log.restore();
    }
  });

  it("mid-stream while the host is silent: the host is cancelled at once, one line says cancelled", async () => {
    const fake = silentAfter(2);
    hosts = fakeHosts({ [`${host}/v1/chat/completions`]: fake.handler });
    const log = logLines();
    try {
      const client = new AbortController();
      const res = await worker.fetch(chatRequest({ stream: true }, client.signal), env as Env, createExecutionContext());
      const reader = res.body!.getReader();
      await reader.read();
      const logged = log.next();
      client.abort();
      await logged; // at once; without the abort reaching the relay, only the idle watchdog would end it (an error)
      expect(log.lines.map((l) => [l.status, l.outcome])).toEqual([[200, "cancelled"]]);
      await fake.cancelled;
    } finally {
      log.restore();
    }
  });

  it("mid-stream while it still reads: the abort that also errors the host's body is logged as cancelled, not as a host break", async () => {
    const fake = silentAfter(2);
    hosts = fakeHosts({ [`${host}/v1/chat/completions`]: fake.handler });
    const log = logLines();
    try {
      const client = new AbortController();
      const res = await worker.fetch(chatRequest({ stream: true }, client.signal), env as Env, createExecutionContext());
      const reader = res.body!.getReader();
      await reader.read();
      const drained = (async () => {
        for (;;) if ((await reader.read()).done) return;
      })().catch(() => {}); // keeps reading whatever still comes
      const logged = log.next();
      client.abort(); // a real fetch errors the host body on this abort too (the fake host does the same)
      await logged;
      expect(log.lines.map((l) => [l.outcome, l.error])).toEqual([["cancelled", undefined]]);
      await drained;
    } finally {
      log.restore();
    }
  });

  it.each([true, false])("stream %s: cancelling the response body cancels the host; one line says cancelled, not an error", async (stream) => {
    const fake = endless();
    hosts = fakeHosts({ [`${host}/v1/chat/completions`]: fake.handler });
    const log = logLines();
    try {
      const res = await worker.fetch(chatRequest({ stream }), env as Env, createExecutionContext());
      const reader = res.body!.getReader();
      await reader.read();
      const logged = log.next();
      await reader.cancel(new Error("client left"));
      await fake.cancelled;
      await logged;
      expect(log.lines.map((l) => [l.status, l.outcome, l.error])).toEqual([[200, "cancelled", undefined]]);
    } finally {
      log.restore();
    }
  });
});

describe("an Arena whose client leaves", () => {
  it("writes one line per lane and one for the run, each saying cancelled, and cancels every host", async () => {
    const fakes = [endless(), endless()];
    let n = 0;
    hosts = fakeHosts({ [`${host}/v1/chat/completions`]: () => fakes[n++]!.handler() });
    const log = logLines();
    try {
      const client = new AbortController();
      const request = new Request("https://router.test/api/arena", {
        method: "POST",
        headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
        body: JSON.stringify({ models: ["c/tiny", "c/tiny"], messages: [{ role: "user", content: "hi" }] }),
        signal: client.signal,
      });
      const res = await worker.fetch(request, env as Env, createExecutionContext());
      const reader = res.body!.getReader();
      let text = "";
      while (!(text.includes('"index":0,"chunk"') && text.includes('"index":1,"chunk"'))) text += new TextDecoder().decode((await reader.read()).value);
      client.abort();
      await Promise.all(fakes.map((f) => f.cancelled));
      await log.atLeast(3);
      expect(log.lines.map((l) => [l.arenaIndex ?? "run", l.outcome]).sort()).toEqual([[0, "cancelled"], [1, "cancelled"], ["run", "cancelled"]]);
    } finally {
      log.restore();
    }
  });
});

describe("a client that stops reading", () => {
  it("is cut after idleMs of reading nothing: the host is cancelled and the line says stalled", async () => {
    const fake = endless();
    hosts = fakeHosts({ [`${host}/v1/chat/completions`]: fake.handler });
    const log = logLines();
    try {
      const logged = log.next();
      const res = await worker.fetch(chatRequest({ stream: true }), env as Env, createExecutionContext());
      expect(res.status).toBe(200); // and its body is never read
      await fake.cancelled;
      await logged;
      expect(log.lines.map((l) => [l.status, l.outcome, l.error])).toEqual([[200, "stalled", "the client read nothing for 300 ms; the stream was cut"]]);
    } finally {
      log.restore();
    }
  });
});
