// /v1/messages streams asked of the host's chat endpoint and written as Anthropic events (src/anthropic/), in
// workerd against a scripted host that answers with recorded llama-server chat streams. What stays on the host's own
// Anthropic endpoint, and the error paths. (Continuation of these streams: continuation.test.ts.)
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { anthropicEvents } from "../helpers/anthropic-events.js";
import { fakeHosts, hostJson, hostStream, refused, sseEvents } from "../helpers/fake-hosts.js";
import { FIXTURES } from "../helpers/fixtures.js";
import { call, captureLogLines, uniqueHost, useConfig } from "../helpers/worker.js";

let host: string;
let hosts: ReturnType<typeof fakeHosts> | undefined;
afterEach(() => hosts?.restore());
beforeEach(async () => {
  host = uniqueHost("h");
  await useConfig({ version: 1, providers: [{ id: "h", baseUrl: host, discover: false, timeouts: { firstByteMs: 2_000, idleMs: 600 }, models: [{ id: "tiny" }] }] });
});

const MESSAGES = [{ role: "user", content: "hi" }];
const CHAT_EVENTS = sseEvents(FIXTURES.chatStreamIds);
const callsTo = (path: string) => hosts!.calls.filter((c) => new URL(c.url).pathname === path);

describe("a streamed /v1/messages request", () => {
  it("is asked of the chat endpoint as llama-server converts it, and the client reads a whole Anthropic stream with the composite id", async () => {
    hosts = fakeHosts({ [`${host}/v1/chat/completions`]: () => hostStream(CHAT_EVENTS) });
    const tools = [{ name: "ls", description: "list files", input_schema: { type: "object", properties: {} } }];
    let res!: Response;
    let text = "";
    const lines = await captureLogLines(async () => {
      res = await call("/v1/messages", {
        json: { model: "h/tiny", system: [{ type: "text", text: "be brief" }], messages: MESSAGES, tools, stream: true, max_tokens: 6, metadata: { user_id: "u" }, anthropic_beta: ["x"] },
        headers: { "anthropic-version": "2023-06-01" },
      });
      text = await res.text();
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
    expect(res.headers.get("x-boocode-route")).toBe("h/tiny");
    const events = anthropicEvents(text);
    expect(events.map((e) => e.type)).toEqual(["message_start", "content_block_start", ...Array(6).fill("content_block_delta"), "content_block_stop", "message_delta", "message_stop"]);
    expect(events[0].message).toMatchObject({ model: "h/tiny", usage: { cache_read_input_tokens: 25, input_tokens: 1, output_tokens: 0 } });
    expect(text).not.toContain('"model":"tiny"');
    expect(text).not.toMatch(/logprobs|timings|chat\.completion/);
    const recordedText = CHAT_EVENTS.map((e) => (e.startsWith("data: {") ? JSON.parse(e.slice(6)).choices?.[0]?.delta?.content ?? "" : "")).join("");
    expect(events.filter((e) => e.delta?.type === "text_delta").map((e) => e.delta.text).join("")).toBe(recordedText);
    expect(events.at(-2)).toEqual({ type: "message_delta", delta: { stop_reason: "max_tokens", stop_sequence: null }, usage: { output_tokens: 6 } });

    const [chat] = callsTo("/v1/chat/completions");
    expect(chat!.json()).toEqual({
      model: "tiny",
      n_probs: 1,
      messages: [{ role: "system", content: "be brief" }, ...MESSAGES],
      tools: [{ type: "function", function: { name: "ls", description: "list files", parameters: tools[0]!.input_schema } }],
      max_tokens: 6,
      stream: true,
      __metadata_user_id: "u",
      stream_options: { include_usage: true },
      timings_per_token: true,
    });
    expect(callsTo("/v1/messages")).toHaveLength(0);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ path: "/v1/messages", status: 200, outcome: "complete", tokens: { prompt: 26, completion: 6 } });
  });

  it("a host that closes before [DONE] (and does not come back): the whole events, then one Anthropic error event, no message_stop", async () => {
    hosts = fakeHosts({ [`${host}/v1/chat/completions`]: () => hostStream(CHAT_EVENTS.slice(0, 4)), [`${host}/apply-template`]: refused });
    let text = "";
    const lines = await captureLogLines(async () => {
      text = await (await call("/v1/messages", { json: { model: "h/tiny", messages: MESSAGES, stream: true, max_tokens: 6 } })).text();
    });
    const events = anthropicEvents(text);
    expect(events.map((e) => e.type)).toEqual(["message_start", "content_block_start", "content_block_delta", "content_block_delta", "content_block_delta", "error"]);
    expect(events.at(-1).error).toEqual({ type: "api_error", message: expect.stringMatching(/ended before the answer was complete/) });
    expect(lines[0]).toMatchObject({ outcome: "error", notContinued: expect.stringMatching(/no host could continue/) });
  });

  it("the host's own error before the stream is an Anthropic error with the host's status", async () => {
    hosts = fakeHosts({ [`${host}/v1/chat/completions`]: () => hostJson(JSON.parse(FIXTURES.errorContext), 400) });
    const res = await call("/v1/messages", { json: { model: "h/tiny", messages: MESSAGES, stream: true, max_tokens: 6 } });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ type: "error", error: { type: "invalid_request_error", message: expect.stringMatching(/context/) } });
  });

  it("the host's own error event mid-stream becomes Anthropic's error event, once", async () => {
    const hostError = 'data: {"error":{"code":500,"message":"boom","type":"server_error"}}\n\n';
    hosts = fakeHosts({ [`${host}/v1/chat/completions`]: () => hostStream([...CHAT_EVENTS.slice(0, 3), hostError]) });
    let text = "";
    const lines = await captureLogLines(async () => {
      text = await (await call("/v1/messages", { json: { model: "h/tiny", messages: MESSAGES, stream: true, max_tokens: 6 } })).text();
    });
    const events = anthropicEvents(text);
    expect(events.filter((e) => e.type === "error")).toEqual([{ type: "error", error: { type: "api_error", message: "boom" } }]);
    expect(events.at(-1).type).toBe("error");
    expect(lines[0]).toMatchObject({ outcome: "error" });
  });
});

describe("a non-streaming /v1/messages request", () => {
  it("is asked of the chat endpoint as a stream and assembled into the Anthropic message llama-server would answer", async () => {
    const tool = 'data: {"choices":[{"finish_reason":null,"index":0,"delta":{"tool_calls":[{"index":0,"id":"c1","type":"function","function":{"name":"ls","arguments":"{\\"path\\":\\".\\"}"}}]}}],"created":1,"id":"chatcmpl-t","model":"tiny","object":"chat.completion.chunk"}\n\n';
    const events = [CHAT_EVENTS[0]!, CHAT_EVENTS[1]!, CHAT_EVENTS[2]!, tool, 'data: {"choices":[{"finish_reason":"tool_calls","index":0,"delta":{}}],"created":1,"id":"chatcmpl-t","model":"tiny","object":"chat.completion.chunk"}\n\n', CHAT_EVENTS.at(-2)!, "data: [DONE]\n\n"];
    hosts = fakeHosts({ [`${host}/v1/chat/completions`]: () => hostStream(events) });
    const res = await call("/v1/messages", { json: { model: "h/tiny", messages: MESSAGES, max_tokens: 6, tools: [{ name: "ls", input_schema: { type: "object" } }] } });
    expect(res.status).toBe(200);
    const text = await res.text();
    const sent = [1, 2].map((i) => JSON.parse(CHAT_EVENTS[i]!.slice(6)).choices[0].delta.content).join("");
    expect(JSON.parse(text)).toEqual({
      id: JSON.parse(CHAT_EVENTS[0]!.slice(6)).id,
      type: "message",
      role: "assistant",
      content: [{ type: "text", text: sent }, { type: "tool_use", id: "c1", name: "ls", input: { path: "." } }],
      model: "h/tiny",
      stop_reason: "tool_use",
      stop_sequence: null,
      usage: { cache_read_input_tokens: 25, input_tokens: 1, output_tokens: 6 },
    });
    expect(callsTo("/v1/chat/completions")[0]!.json()).toMatchObject({ model: "tiny", stream: true, stream_options: { include_usage: true }, n_probs: 1, timings_per_token: true });
  });

  it("without max_tokens the chat request gets llama-server's default, 4096 (the router does not refuse it)", async () => {
    hosts = fakeHosts({ [`${host}/v1/chat/completions`]: () => hostStream(CHAT_EVENTS) });
    const res = await call("/v1/messages", { json: { model: "h/tiny", messages: MESSAGES } });
    expect(res.status).toBe(200);
    expect(callsTo("/v1/chat/completions")[0]!.json().max_tokens).toBe(4096);
  });

  it("a host that closes early: the error in Anthropic's shape, after the heartbeat spaces", async () => {
    hosts = fakeHosts({ [`${host}/v1/chat/completions`]: () => hostStream(CHAT_EVENTS.slice(0, 4)), [`${host}/apply-template`]: refused });
    const res = await call("/v1/messages", { json: { model: "h/tiny", messages: MESSAGES, max_tokens: 6 } });
    expect(res.status).toBe(200);
    expect(JSON.parse(await res.text())).toEqual({ type: "error", error: { type: "api_error", message: expect.stringMatching(/ended before the answer was complete/) } });
  });
});

describe("what stays on the host's own /v1/messages", () => {
  it.each([
    ["stop_sequences (a chat stream does not say which one stopped it)", { stream: true, stop_sequences: ["END"] }],
    ["an image (a continuation cannot be given it as token ids)", { stream: true, messages: [{ role: "user", content: [{ type: "image", source: { type: "base64", media_type: "image/png", data: "AAAA" } }] }] }],
  ])("%s", async (_name, fields) => {
    hosts = fakeHosts({
      [`${host}/v1/messages`]: (_req, body) => (JSON.parse(body).stream ? hostStream(sseEvents(FIXTURES.messagesStream)) : hostJson(FIXTURES.messages)),
    });
    const res = await call("/v1/messages", { json: { model: "h/tiny", messages: MESSAGES, max_tokens: 3, ...fields } });
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('"model":"h/tiny"');
    expect(callsTo("/v1/messages")).toHaveLength(1);
    expect(callsTo("/v1/messages")[0]!.json()).not.toHaveProperty("n_probs");
    expect(callsTo("/v1/chat/completions")).toHaveLength(0);
  });
});
