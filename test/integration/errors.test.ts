import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { fakeHosts, hang, hostJson, hostStream, refused, sseEvents } from "../helpers/fake-hosts.js";
import { FIXTURES } from "../helpers/fixtures.js";
import { call, captureLogLines, readEvents, uniqueHost, useConfig } from "../helpers/worker.js";

let host: string;
let hosts: ReturnType<typeof fakeHosts> | undefined;
const SECRETS = ["sk-upstream-SECRET-gpu", "test-key-1", "test-key-2"];
const CHAT = { model: "h/tiny", messages: [{ role: "user", content: "hi" }] };

beforeEach(async () => {
  host = uniqueHost("h");
  await useConfig({
    version: 1,
    providers: [{ id: "h", baseUrl: host, auth: { apiKeySecret: "GPU_KEY" }, discover: false, timeouts: { firstByteMs: 300, idleMs: 300 }, models: [{ id: "tiny" }] }],
  });
});
afterEach(() => hosts?.restore());

/** Every error answer: the one OpenAI shape, all four keys, no secret anywhere. */
async function expectError(res: Response, status: number, match: Record<string, unknown>) {
  expect(res.status).toBe(status);
  expect(res.headers.get("content-type")).toBe("application/json");
  const text = await res.text();
  for (const secret of SECRETS) expect(text).not.toContain(secret);
  const body = JSON.parse(text);
  expect(Object.keys(body)).toEqual(["error"]);
  const nullOrString = expect.toSatisfy((v) => v === null || typeof v === "string");
  expect(body.error).toEqual(expect.objectContaining({ message: expect.any(String), type: expect.any(String), param: nullOrString, code: nullOrString }));
  expect(body.error).toMatchObject(match);
  return body.error;
}

describe("bad requests", () => {
  it.each([
    ["truncated JSON", '{"model":', { code: "invalid_json" }],
    ["an empty body", "", { code: "invalid_json", param: null, message: expect.stringMatching(/empty/) }],
    ["a body that is not UTF-8", new Uint8Array([0x7b, 0xff, 0x7d]), { code: "invalid_json", message: expect.stringMatching(/UTF-8/) }],
    ["a JSON array", "[1,2]", { code: "invalid_body" }],
    ["no model", '{"messages":[]}', { code: "invalid_body", param: "model" }],
    ["a numeric model", '{"model":7}', { code: "invalid_body", param: "model" }],
    ["an empty model", '{"model":""}', { code: "invalid_body", param: "model", message: expect.stringMatching(/model: must not be empty;/) }],
    ["a non-boolean stream", '{"model":"h/tiny","stream":"yes"}', { code: "invalid_body", param: "stream" }],
  ])("%s gets 400", async (_name, body, match) => {
    hosts = fakeHosts({});
    await expectError(await call("/v1/chat/completions", { method: "POST", body, headers: { "content-type": "application/json" } }), 400, { type: "invalid_request_error", ...match });
    expect(hosts.calls).toHaveLength(0);
  });

  it("a body over the limit gets 413 without reaching a host", async () => {
    hosts = fakeHosts({});
    const big = JSON.stringify({ ...CHAT, messages: [{ role: "user", content: "x".repeat(1_100_000) }] });
    await expectError(await call("/v1/chat/completions", { method: "POST", body: big }), 413, { code: "request_too_large" });
    expect(hosts.calls).toHaveLength(0);
  });

  it("an unknown route is 404 and a known one with the wrong method 405", async () => {
    await expectError(await call("/v1/nope"), 404, { code: "not_found" });
    await expectError(await call("/props"), 404, { code: "not_found" });
    const res = await call("/v1/chat/completions");
    expect(res.headers.get("allow")).toBe("POST");
    await expectError(res, 405, { code: "method_not_allowed" });
    const detail = await call("/api/models/h/tiny", { method: "POST", json: {} });
    expect(detail.headers.get("allow")).toBe("GET");
    await expectError(detail, 405, { code: "method_not_allowed" });
  });

  it("the 405 and its Allow header come from the route table, admin routes included", async () => {
    const cases: [string, string, string][] = [
      ["GET", "/admin/h/props", "POST"],
      ["PUT", "/admin/h/lora-adapters", "GET, POST"],
      ["GET", "/admin/h/slots/0", "POST"],
      ["POST", "/status.json", "GET"],
      ["DELETE", "/v1/models/h/org/repo:Q4", "GET"],
    ];
    for (const [method, path, allow] of cases) {
      const res = await call(path, { method });
      expect([res.status, res.headers.get("allow")], `${method} ${path}`).toEqual([405, allow]);
      await expectError(res, 405, { code: "method_not_allowed" });
    }
    await expectError(await call("/admin/h/nope"), 404, { code: "not_found" });
  });
});

describe("host failures before the answer", () => {
  it("passes llama-server's own error through with its status, in the one shape, keeping its facts", async () => {
    hosts = fakeHosts({ [`${host}/v1/chat/completions`]: () => hostJson(FIXTURES.errorContext, 400) });
    const error = await expectError(await call("/v1/chat/completions", { json: { ...CHAT, stream: true } }), 400, {
      type: "exceed_context_size_error",
      message: expect.stringMatching(/exceeds the available context size/),
      param: null,
      code: null,
    });
    expect(error).toMatchObject({ n_prompt_tokens: 12024, n_ctx: 1024 });
  });

  it("passes a 501 (embeddings off) through", async () => {
    hosts = fakeHosts({ [`${host}/v1/embeddings`]: () => hostJson(FIXTURES.errorEmbeddings, 501) });
    await expectError(await call("/v1/embeddings", { json: { model: "h/tiny", input: "x" } }), 501, { type: "not_supported_error" });
  });

  it("a host still loading its model answers 503 with llama-server's message, passed through", async () => {
    hosts = fakeHosts({ [`${host}/v1/chat/completions`]: () => hostJson({ error: { code: 503, message: "Loading model", type: "unavailable_error" } }, 503) });
    await expectError(await call("/v1/chat/completions", { json: CHAT }), 503, { message: "Loading model", type: "unavailable_error" });
  });

  it("a host refusing the router's key is a 502 the client can tell apart from its own 401", async () => {
    hosts = fakeHosts({ [`${host}/v1/chat/completions`]: () => hostJson(FIXTURES.error401, 401) });
    await expectError(await call("/v1/chat/completions", { json: CHAT }), 502, { code: "upstream_unauthorized", type: "upstream_error" });
  });

  it("an unreachable host is 502 host_unreachable (after one retry for a stale connection)", async () => {
    hosts = fakeHosts({ [`${host}/v1/chat/completions`]: refused });
    await expectError(await call("/v1/chat/completions", { json: CHAT }), 502, { code: "host_unreachable" });
    expect(hosts.calls).toHaveLength(2);
  });

  it("a stale pooled connection is retried once and the request succeeds", async () => {
    let n = 0;
    hosts = fakeHosts({ [`${host}/v1/chat/completions`]: () => (n++ === 0 ? refused(new Request("http://x"), "") : hostJson(FIXTURES.chat)) });
    const res = await call("/v1/chat/completions", { json: CHAT });
    expect(res.status).toBe(200);
    expect(hosts.calls).toHaveLength(2);
  });

  it("a tunnel's HTML error page (origin down) is 502 host_unreachable, not passed through", async () => {
    hosts = fakeHosts({ [`${host}/v1/chat/completions`]: () => new Response("<!DOCTYPE html><title>530</title>", { status: 530, headers: { "content-type": "text/html" } }) });
    const error = await expectError(await call("/v1/chat/completions", { json: CHAT }), 502, { code: "host_unreachable" });
    expect(error.message).not.toContain("DOCTYPE");
  });

  it("a host that never answers gives 504 after firstByteMs", async () => {
    hosts = fakeHosts({ [`${host}/v1/chat/completions`]: hang });
    const started = Date.now();
    await expectError(await call("/v1/chat/completions", { json: CHAT }), 504, { code: "upstream_timeout", type: "timeout_error" });
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it("a 200 carrying an error object is reported as an error", async () => {
    hosts = fakeHosts({ [`${host}/v1/chat/completions`]: () => hostJson({ error: { message: "boom", type: "server_error" } }) });
    await expectError(await call("/v1/chat/completions", { json: CHAT }), 502, { message: "boom" });
  });

  it("a 200 whose body is not JSON is 502 bad_upstream_response", async () => {
    hosts = fakeHosts({ [`${host}/v1/chat/completions`]: () => hostJson("{not json") });
    await expectError(await call("/v1/chat/completions", { json: CHAT }), 502, { code: "bad_upstream_response" });
  });

  it("a provider whose named secret is missing fails closed with 502, naming the secret but no value", async () => {
    await useConfig({ version: 1, providers: [{ id: "h", baseUrl: host, auth: { apiKeySecret: "NOT_SET_ANYWHERE" }, discover: false, models: [{ id: "tiny" }] }] });
    hosts = fakeHosts({});
    await expectError(await call("/v1/chat/completions", { json: CHAT }), 502, { code: "missing_secret", message: expect.stringMatching(/NOT_SET_ANYWHERE/) });
    expect(hosts.calls).toHaveLength(0);
  });
});

describe("host failures while streaming", () => {
  const events = sseEvents(FIXTURES.chatStream);

  it("a reset mid-stream ends the client's stream with one error event after the whole events received", async () => {
    hosts = fakeHosts({ [`${host}/v1/chat/completions`]: () => hostStream(events, { after: 3, kind: "reset" }) });
    const res = await call("/v1/chat/completions", { json: { ...CHAT, stream: true } });
    expect(res.status).toBe(200);
    const data = await readEvents(res);
    expect(data).toHaveLength(4);
    data.slice(0, 3).forEach((d) => expect(JSON.parse(d).model).toBe("h/tiny"));
    expect(JSON.parse(data[3]!)).toEqual({ error: { message: expect.stringMatching(/broke off/), type: "upstream_error", param: null, code: "upstream_stream_broken" } });
  });

  it("a stream that runs longer than firstByteMs is not cut: that deadline covers the headers only", async () => {
    // firstByteMs is 300 here; this host answers at once, then sends an event every 100 ms for ~1 s.
    const paced = () => {
      let i = 0;
      const body = new ReadableStream<Uint8Array>({
        async pull(controller) {
          if (i >= events.length) return controller.close();
          if (i > 0) await new Promise((r) => setTimeout(r, 100));
          controller.enqueue(new TextEncoder().encode(events[i++]!));
        },
      });
      return new Response(body, { headers: { "content-type": "text/event-stream" } });
    };
    hosts = fakeHosts({ [`${host}/v1/chat/completions`]: paced });
    const started = Date.now();
    const data = await readEvents(await call("/v1/chat/completions", { json: { ...CHAT, stream: true } }));
    expect(Date.now() - started).toBeGreaterThan(500);
    expect(data.at(-1)).toBe("[DONE]");
    expect(data.some((d) => d.includes('"error"'))).toBe(false);
  });

  it("a host that stalls mid-stream is cut after idleMs with one error event", async () => {
    hosts = fakeHosts({ [`${host}/v1/chat/completions`]: () => hostStream(events, { after: 2, kind: "stall" }) });
    // The error code says the idle watchdog cut it (a stream nobody cut would hang until the test's timeout).
    const data = await readEvents(await call("/v1/chat/completions", { json: { ...CHAT, stream: true } }));
    expect(data).toHaveLength(3);
    expect(JSON.parse(data[2]!).error.code).toBe("upstream_idle_timeout");
  });

  it("malformed SSE from the host is relayed as is up to a half-sent event, then one error event, never a crash or a hang", async () => {
    hosts = fakeHosts({ [`${host}/v1/chat/completions`]: () => hostStream(["data: {not json\n\n", 'data: {"model":"tiny"\n\n', "garbage without newline"]) });
    const res = await call("/v1/chat/completions", { json: { ...CHAT, stream: true } });
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text.startsWith('data: {not json\n\ndata: {"model":"h/tiny"\n\ndata: {"error":')).toBe(true);
    expect(text).not.toContain("garbage");
    expect(JSON.parse(text.split("\n\n")[2]!.slice(6)).error.code).toBe("upstream_stream_broken");
  });
});

describe("a host stream that ends cleanly but early", () => {
  // The recorded streams, cut before each protocol's last event; the connection then closes cleanly.
  const cases = [
    { path: "/v1/chat/completions", recorded: FIXTURES.chatStream, last: "data: [DONE]", body: CHAT },
    { path: "/v1/completions", recorded: FIXTURES.completionsStream, last: "data: [DONE]", body: { model: CHAT.model, prompt: "hi" } },
    // With stop_sequences the router passes /v1/messages to the host's own endpoint (the translated path: anthropic-messages.test.ts).
    { path: "/v1/messages", recorded: FIXTURES.messagesStream, last: "event: message_stop", body: { ...CHAT, stop_sequences: ["END"] } },
    { path: "/v1/responses", recorded: FIXTURES.responsesStream, last: "event: response.completed", body: { model: CHAT.model, input: "hi" } },
  ];

  it.each(cases)("$path: the whole recorded stream passes as complete, with nothing added", async ({ path, recorded, body }) => {
    hosts = fakeHosts({ [`${host}${path}`]: () => hostStream(sseEvents(recorded)) });
    const lines = await captureLogLines(async () => {
      const text = await (await call(path, { json: { ...body, stream: true } })).text();
      expect(text).toBe(recorded.replaceAll('"model":"tiny"', '"model":"h/tiny"'));
    });
    expect(lines.map((l) => l.outcome)).toEqual(["complete"]);
  });

  it.each(cases)("$path: without its last event ($last) it ends with the protocol's error event, logged as an error", async ({ path, recorded, body }) => {
    const events = sseEvents(recorded);
    hosts = fakeHosts({ [`${host}${path}`]: () => hostStream(events.slice(0, -1)) });
    let text = "";
    const lines = await captureLogLines(async () => {
      text = await (await call(path, { json: { ...body, stream: true } })).text();
    });
    const sent = text.split(/(?<=\n\n)/);
    expect(sent).toHaveLength(events.length);
    const error = sent.at(-1)!;
    if (path === "/v1/messages") {
      expect(error.startsWith("event: error\ndata: ")).toBe(true);
      expect(JSON.parse(error.split("\n")[1]!.slice(6))).toEqual({ type: "error", error: { type: "api_error", message: expect.stringMatching(/ended before the answer was complete/) } });
    } else {
      expect(JSON.parse(error.slice(6))).toEqual({ error: { message: expect.stringMatching(/ended before the answer was complete/), type: "upstream_error", param: null, code: "upstream_stream_broken" } });
    }
    expect(lines.map((l) => [l.outcome, l.error])).toEqual([["error", expect.stringMatching(/ended before the answer was complete/)]]);
  });

  it("a stream whose last event is the host's own error event gets no second error event, and is logged as an error", async () => {
    const hostError = 'data: {"error":{"code":500,"message":"boom","type":"server_error"}}\n\n';
    hosts = fakeHosts({ [`${host}/v1/chat/completions`]: () => hostStream([sseEvents(FIXTURES.chatStream)[0]!, hostError]) });
    let text = "";
    const lines = await captureLogLines(async () => {
      text = await (await call("/v1/chat/completions", { json: { ...CHAT, stream: true } })).text();
    });
    expect(text.endsWith(hostError)).toBe(true);
    expect(text.match(/"error"/g)).toHaveLength(1);
    expect(lines.map((l) => l.outcome)).toEqual(["error"]);
  });

  it("a host that breaks between an event's data line and its blank line: the error event is an event of its own", async () => {
    const events = sseEvents(FIXTURES.chatStream);
    hosts = fakeHosts({ [`${host}/v1/chat/completions`]: () => hostStream([events[0]!, events[1]!.slice(0, -1)], { after: 2, kind: "reset" }) });
    const data = await readEvents(await call("/v1/chat/completions", { json: { ...CHAT, stream: true } }));
    expect(data).toHaveLength(2);
    expect(JSON.parse(data[0]!).model).toBe("h/tiny");
    expect(JSON.parse(data[1]!).error.code).toBe("upstream_stream_broken");
  });
});
