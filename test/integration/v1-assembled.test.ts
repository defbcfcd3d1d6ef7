// Non-streaming chat and completions are asked of the host as a stream and assembled by the router, so that a
// client that leaves frees the slot; what the client gets must be the whole OpenAI answer, or an error, never a cut one.
import { afterEach, beforeEach, describe, expect, inject, it } from "vitest";
import { fakeHosts, hostStream, sseEvents } from "../helpers/fake-hosts.js";
import { FIXTURES } from "../helpers/fixtures.js";
import { call, uniqueHost, useConfig } from "../helpers/worker.js";

let laptop: string;
let hosts: ReturnType<typeof fakeHosts> | undefined;

beforeEach(async () => {
  laptop = uniqueHost("laptop");
  await useConfig({ version: 1, providers: [{ id: "laptop", baseUrl: `${laptop}/llama`, discover: false, models: [{ id: "tiny" }] }] });
});
afterEach(() => hosts?.restore());

const CHAT = { messages: [{ role: "user", content: "hi" }], max_tokens: 6 };

describe("non-streaming answers assembled from the host's stream", () => {
  it("builds chat.completion from the recorded stream: content, finish reason, usage, composite id", async () => {
    hosts = fakeHosts({ [`${laptop}/llama/v1/chat/completions`]: () => hostStream(sseEvents(FIXTURES.chatStream)) });
    const res = await call("/v1/chat/completions", { json: { model: "laptop/tiny", ...CHAT } });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/json");
    // Never compressed on the way out: a compressor would hold the heartbeat spaces back (cancellation, 100 s limit).
    expect(res.headers.get("content-encoding")).toBe("identity");
    expect(res.headers.get("cache-control")).toContain("no-transform");
    const body = await res.json<any>();
    expect(body).toMatchObject({
      id: "chatcmpl-L760iOcLLBiAQVzHKPqdlfWlJP8w8L7b",
      object: "chat.completion",
      created: 1795606040,
      model: "laptop/tiny",
      choices: [{ index: 0, message: { role: "assistant", content: " isF$M" }, logprobs: null, finish_reason: "length" }],
      usage: { completion_tokens: 4, prompt_tokens: 26, total_tokens: 30 },
    });
  });

  it("merges tool-call deltas by index into whole calls", async () => {
    const chunk = (delta: unknown, finish: string | null = null) => `data: ${JSON.stringify({ choices: [{ index: 0, delta, finish_reason: finish }], id: "c", created: 1, model: "tiny", object: "chat.completion.chunk" })}\n\n`;
    hosts = fakeHosts({
      [`${laptop}/llama/v1/chat/completions`]: () =>
        hostStream([
          chunk({ role: "assistant", content: null }),
          chunk({ tool_calls: [{ index: 0, id: "call_a", type: "function", function: { name: "read", arguments: '{"pa' } }] }),
          chunk({ tool_calls: [{ index: 1, id: "call_b", type: "function", function: { name: "ls", arguments: "{}" } }] }),
          chunk({ tool_calls: [{ index: 0, function: { arguments: 'th":"x"}' } }] }),
          chunk({}, "tool_calls"),
          "data: [DONE]\n\n",
        ]),
    });
    const body = await (await call("/v1/chat/completions", { json: { model: "laptop/tiny", ...CHAT } })).json<any>();
    expect(body.choices[0].finish_reason).toBe("tool_calls");
    expect(body.choices[0].message.content).toBeNull();
    expect(body.choices[0].message.tool_calls).toEqual([
      { id: "call_a", type: "function", function: { name: "read", arguments: '{"path":"x"}' } },
      { id: "call_b", type: "function", function: { name: "ls", arguments: "{}" } },
    ]);
  });

  it("builds text_completion for /v1/completions", async () => {
    hosts = fakeHosts({ [`${laptop}/llama/v1/completions`]: () => hostStream(sseEvents(FIXTURES.completionsStream)) });
    const body = await (await call("/v1/completions", { json: { model: "laptop/tiny", prompt: "x" } })).json<any>();
    expect(body).toMatchObject({ object: "text_completion", model: "laptop/tiny", choices: [{ index: 0, text: "\u0007QP", finish_reason: "length", logprobs: null }], usage: { completion_tokens: 3 } });
  });

  it("a host error after the answer started becomes the JSON body (status 200 was already sent)", async () => {
    const events = sseEvents(FIXTURES.chatStream);
    hosts = fakeHosts({ [`${laptop}/llama/v1/chat/completions`]: () => hostStream(events, { after: 3, kind: "reset" }) });
    const res = await call("/v1/chat/completions", { json: { model: "laptop/tiny", ...CHAT } });
    expect(res.status).toBe(200);
    expect(JSON.parse(await res.text())).toEqual({ error: { message: expect.stringMatching(/broke off/), type: "upstream_error", param: null, code: "upstream_stream_broken" } });
  });

  it("a host that closes cleanly before the end (no [DONE], no finish reason) gives an error body, never a cut answer", async () => {
    const events = sseEvents(FIXTURES.chatStream);
    hosts = fakeHosts({ [`${laptop}/llama/v1/chat/completions`]: () => hostStream(events.slice(0, 3)) });
    const res = await call("/v1/chat/completions", { json: { model: "laptop/tiny", ...CHAT } });
    expect(res.status).toBe(200);
    expect(JSON.parse(await res.text()).error).toMatchObject({ message: expect.stringMatching(/ended before the answer was complete/), code: "upstream_stream_broken" });
  });

  it("an error event inside the host's stream becomes the error body", async () => {
    hosts = fakeHosts({ [`${laptop}/llama/v1/chat/completions`]: () => hostStream([sseEvents(FIXTURES.chatStream)[0]!, 'data: {"error":{"code":500,"message":"slot crashed","type":"server_error"}}\n\n']) });
    const body = await (await call("/v1/chat/completions", { json: { model: "laptop/tiny", ...CHAT } })).json<any>();
    expect(body.error).toMatchObject({ message: "slot crashed", type: "server_error" });
  });

});

describe("assembled from a real socket (workerd's own fetch body)", () => {
  // The loopback host streams its chunks as fast as it can, so the relay reads them in batches (stream/relay.ts,
  // hostReader): every piece must still arrive, in order, the last batch with the body's end.
  const chunks = inject("liveStreamChunks");
  const pieces = Array.from({ length: chunks }, (_, i) => `t${i} `).join("");

  beforeEach(async () => {
    await useConfig({ version: 1, providers: [{ id: "live", baseUrl: `http://127.0.0.1:${inject("loopback").live}`, discover: false, models: [{ id: "m" }] }] });
  });

  it("non-streaming: one chat.completion with every piece in order and the usage", async () => {
    const res = await call("/v1/chat/completions", { json: { model: "live/m", ...CHAT, max_tokens: chunks } });
    expect(res.status).toBe(200);
    const body = await res.json<any>();
    expect(body).toMatchObject({ id: "chatcmpl-live", object: "chat.completion", model: "live/m", choices: [{ index: 0, message: { role: "assistant", content: pieces }, finish_reason: "length" }], usage: { completion_tokens: chunks } });
  });

  it("streaming: every event relayed in order, model rewritten, [DONE] last", async () => {
    const res = await call("/v1/chat/completions", { json: { model: "live/m", ...CHAT, max_tokens: chunks, stream: true } });
    const events = (await res.text()).split("\n\n").filter(Boolean).map((e) => e.slice("data: ".length));
    expect(events.at(-1)).toBe("[DONE]");
    const parsed = events.slice(0, -1).map((e) => JSON.parse(e));
    expect(parsed.every((e) => e.model === "live/m")).toBe(true);
    expect(parsed.map((e) => e.choices[0]?.delta?.content ?? "").join("")).toBe(pieces);
  });
});
