// Mid-stream continuation in workerd, against scripted hosts built from recorded llama-server answers: a chat stream
// that breaks after its first byte goes on from the same token state on another pool member (or the same host when
// it answers again), and the client reads ONE answer; where that is unsafe, one error event as before.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { anthropicEvents } from "../helpers/anthropic-events.js";
import { fakeHosts, hostJson, hostStream, refused, sseEvents, type HostCall, type HostHandler } from "../helpers/fake-hosts.js";
import { FIXTURES } from "../helpers/fixtures.js";
import { direct } from "../helpers/held-stream.js";
import { call, captureLogLines, uniqueHost, useConfig } from "../helpers/worker.js";

let a: string;
let b: string;
let hosts: ReturnType<typeof fakeHosts> | undefined;
afterEach(() => hosts?.restore());

const MESSAGES = [{ role: "user", content: "hello" }];
const PROMPT = "<|user|>hello\n<|assistant|>";
/** The recorded template's ids with BOS: what /tokenize of PROMPT with add_special answers (26, as the usage counts). */
const PROMPT_IDS = [1, 259, 63, 127, 280, 278, 358, 127, 65, 356, 271, 271, 274, 13, 63, 127, 260, 278, 278, 268, 278, 279, 359, 279, 127, 65];
const IDS_EVENTS = sseEvents(FIXTURES.chatStreamIds);
/** The first host's token events: role chunk first, then one per token (6), finish, usage, [DONE]. */
const TOKENS = IDS_EVENTS.filter((e) => e.includes('"logprobs"')).map((e) => JSON.parse(e.slice(6)));
const COMPLETION_EVENTS = sseEvents(FIXTURES.completionStreamIds);
const CONTINUED_TEXT = COMPLETION_EVENTS.map((e) => JSON.parse(e.slice(6)).content ?? "").join("");

async function usePool(aliases: Record<string, unknown> = {}, timeouts = { firstByteMs: 2_000, idleMs: 2_000 }) {
  a = uniqueHost("a");
  b = uniqueHost("b");
  await useConfig({
    version: 1,
    providers: [
      { id: "a", baseUrl: a, discover: false, timeouts, models: [{ id: "tiny" }] },
      { id: "b", baseUrl: b, discover: false, timeouts, models: [{ id: "tiny" }] },
    ],
    aliases: { pool: { members: ["a/tiny", "b/tiny"], policy: "replicas" }, ...aliases } as never,
  });
}

/** What a continuation host answers: the template, its ids, the tokenizer behind a newline, and a /completion stream. */
function continuationHandlers(origin: string, completion: () => Response = () => hostStream(COMPLETION_EVENTS)): Record<string, HostHandler> {
  return {
    [`${origin}/apply-template`]: () => hostJson({ prompt: PROMPT }),
    [`${origin}/tokenize`]: (_req, body) => {
      const { content, add_special } = JSON.parse(body);
      if (content === PROMPT && add_special === true) return hostJson({ tokens: PROMPT_IDS });
      if (content === "\n") return hostJson({ tokens: [13] });
      if (content === "\né") return hostJson({ tokens: [13, 198, 172] });
      return hostJson({ error: { code: 400, message: `unexpected tokenize ${JSON.stringify(content)}`, type: "invalid_request_error" } }, 400);
    },
    [`${origin}/completion`]: completion,
  };
}

/** Both pool members break their chat stream the same way (the fleet router picks either); each can continue the other. */
function breakingPool(chat: () => Response, completion?: () => Response) {
  return fakeHosts({
    [`${a}/v1/chat/completions`]: chat,
    [`${b}/v1/chat/completions`]: chat,
    ...continuationHandlers(a, completion),
    ...continuationHandlers(b, completion),
  });
}

const originOf = (c: HostCall) => new URL(c.url).origin;
const callsTo = (path: string) => hosts!.calls.filter((c) => new URL(c.url).pathname === path);
const dataOf = (text: string) => text.split("\n\n").filter((e) => e.startsWith("data: ")).map((e) => e.slice(6));
const parsed = (text: string) => dataOf(text).filter((d) => d !== "[DONE]").map((d) => JSON.parse(d));
const contentOf = (text: string) => parsed(text).map((e) => e.choices?.[0]?.delta?.content ?? "").join("");

/** Break after the role chunk and `tokens` token events, as a reset. */
const brokenAfter = (tokens: number) => () => hostStream(IDS_EVENTS, { after: 1 + tokens, kind: "reset" });

describe("a chat stream that breaks mid-answer is continued on another pool member", () => {
  beforeEach(() => usePool());

  it("the client reads one answer: one id and created, no character twice or missing at the join, one finish, [DONE]", async () => {
    hosts = breakingPool(brokenAfter(3));
    const res = await call("/v1/chat/completions", { json: { model: "pool", messages: MESSAGES, stream: true, max_tokens: 7, temperature: 0, seed: 1, stop: ["STOP"] } });
    expect(res.status).toBe(200);
    const text = await res.text();
    const events = parsed(text);
    expect(new Set(events.map((e) => e.id))).toEqual(new Set([TOKENS[0].id]));
    expect(new Set(events.map((e) => e.created))).toEqual(new Set([TOKENS[0].created]));
    expect(events[0].model).toMatch(/^(a|b)\/tiny$/);
    expect(events.every((e) => e.model === events[0].model)).toBe(true);
    const sent = TOKENS.slice(0, 3).map((t) => t.choices[0].delta.content).join("");
    expect(contentOf(text)).toBe(sent + CONTINUED_TEXT);
    expect(events.filter((e) => e.choices?.[0]?.finish_reason)).toEqual([expect.objectContaining({ choices: [{ finish_reason: "length", index: 0, delta: {} }] })]);
    expect(dataOf(text).at(-1)).toBe("[DONE]");
    expect(text).not.toMatch(/"logprobs"|"error"/);
    // Token events carry no timings (the router asked for them); only the finish chunk has the answer's, as llama-server sends them.
    expect(events.filter((e) => e.timings).map((e) => e.choices[0].finish_reason)).toEqual(["length"]);

    const [chat] = callsTo("/v1/chat/completions");
    expect(chat!.json()).toMatchObject({ model: "tiny", n_probs: 1, timings_per_token: true, stream: true });
    const [completion] = callsTo("/completion");
    expect(originOf(completion!)).not.toBe(originOf(chat!));
    const ids = TOKENS.slice(0, 3).map((t) => t.choices[0].logprobs.content[0].id);
    expect(completion!.json()).toEqual({
      model: "tiny",
      temperature: 0,
      seed: 1,
      stop: ["STOP"],
      prompt: [...PROMPT_IDS, ...ids],
      n_predict: 4,
      stream: true,
      response_fields: expect.arrayContaining(["content", "tokens", "stop", "stop_type", "tokens_predicted", "timings"]),
    });
    // The template comes from the continuation host's own /apply-template, given the client's body.
    expect(callsTo("/apply-template")[0]!.json()).toMatchObject({ model: "tiny", messages: MESSAGES, max_tokens: 7 });
  });

  it("usage adds up: prompt tokens as the first host counted them, completion tokens of both hosts", async () => {
    hosts = breakingPool(brokenAfter(3));
    const res = await call("/v1/chat/completions", { json: { model: "pool", messages: MESSAGES, stream: true, max_tokens: 7, stream_options: { include_usage: true } } });
    const events = parsed(await res.text());
    const usage = events.find((e) => e.usage);
    expect(usage).toMatchObject({ choices: [], usage: { prompt_tokens: 26, completion_tokens: 7, total_tokens: 33, prompt_tokens_details: { cached_tokens: 25 } } });
    // The answer's timings: the first host's prompt side, both hosts' generation.
    const completionTimings = JSON.parse(COMPLETION_EVENTS.at(-1)!.slice(6)).timings;
    expect(usage.timings).toMatchObject({ cache_n: 25, prompt_n: 1, predicted_n: 3 + completionTimings.predicted_n });
    expect(events.filter((e) => e.choices?.[0]?.finish_reason)).toHaveLength(1);
    expect(events.filter((e) => e.usage)).toHaveLength(1);
  });

  it("max_tokens counts what was already sent, from the host's token count (a two-token character counts two)", async () => {
    const utf8 = sseEvents(FIXTURES.chatStreamIdsUtf8);
    // Role, "z", "8", "é" (one id reported, predicted_n 4), then the reset.
    hosts = breakingPool(() => hostStream(utf8, { after: 4, kind: "reset" }));
    const res = await call("/v1/chat/completions", { json: { model: "pool", messages: MESSAGES, stream: true, max_tokens: 8 } });
    expect(contentOf(await res.text())).toBe("z8é" + CONTINUED_TEXT);
    const body = callsTo("/completion")[0]!.json();
    expect(body.n_predict).toBe(8 - 4);
    // The repaired ids: the lead byte of "é" (198) that the stream never reported, before the 172 it did.
    expect(body.prompt).toEqual([...PROMPT_IDS, 285, 294, 198, 172]);
    expect(callsTo("/tokenize").map((c) => c.json().content).sort()).toEqual(["\n", "\né", PROMPT].sort());
  });

  it("a non-streaming request, assembled from a stream, is continued invisibly", async () => {
    hosts = breakingPool(brokenAfter(2));
    const res = await call("/v1/chat/completions", { json: { model: "pool", messages: MESSAGES, max_tokens: 6 } });
    expect(res.status).toBe(200);
    const body = await res.json<any>();
    const sent = TOKENS.slice(0, 2).map((t) => t.choices[0].delta.content).join("");
    expect(body).toMatchObject({ id: TOKENS[0].id, object: "chat.completion", choices: [{ index: 0, message: { role: "assistant", content: sent + CONTINUED_TEXT }, finish_reason: "length", logprobs: null }] });
    expect(body.usage).toMatchObject({ prompt_tokens: 26, completion_tokens: 6, total_tokens: 32 });
    expect(callsTo("/completion")[0]!.json().n_predict).toBe(4);
  });

  it("the log line records continued: from, to, atToken, stallMs", async () => {
    hosts = breakingPool(brokenAfter(3));
    const lines = await captureLogLines(async () => {
      await (await call("/v1/chat/completions", { json: { model: "pool", messages: MESSAGES, stream: true, max_tokens: 7, stream_options: { include_usage: true } } })).text();
    });
    expect(lines).toHaveLength(1);
    const [line] = lines;
    expect(line).toMatchObject({ outcome: "complete", status: 200, continued: { from: expect.stringMatching(/^(a|b)\/tiny$/), to: expect.stringMatching(/^(a|b)\/tiny$/), atToken: 3, stallMs: expect.any(Number) }, tokens: { prompt: 26, completion: 7 } });
    expect(line!.continued.to).not.toBe(line!.continued.from);
  });

  it("an idle host (no byte for idleMs) is a break like a reset: the answer is continued", async () => {
    await usePool({}, { firstByteMs: 2_000, idleMs: 300 });
    hosts = breakingPool(() => hostStream(IDS_EVENTS, { after: 3, kind: "stall" }));
    const text = await (await call("/v1/chat/completions", { json: { model: "pool", messages: MESSAGES, stream: true, max_tokens: 6 } })).text();
    expect(contentOf(text)).toBe(TOKENS.slice(0, 2).map((t) => t.choices[0].delta.content).join("") + CONTINUED_TEXT);
    expect(dataOf(text).at(-1)).toBe("[DONE]");
  });

  it("a body that closes cleanly before [DONE] is a break like a reset", async () => {
    hosts = breakingPool(() => hostStream(IDS_EVENTS.slice(0, 4)));
    const text = await (await call("/v1/chat/completions", { json: { model: "pool", messages: MESSAGES, stream: true, max_tokens: 7 } })).text();
    expect(dataOf(text).at(-1)).toBe("[DONE]");
    expect(text).not.toContain('"error"');
  });

  it("the client's own logprobs stay in its stream, before and after the join", async () => {
    const withProbs = COMPLETION_EVENTS.map((e) => {
      const event = JSON.parse(e.slice(6));
      if (event.stop) return e;
      return `data: ${JSON.stringify({ ...event, completion_probabilities: [{ id: event.tokens[0], token: event.content, bytes: [], logprob: -1, top_logprobs: [] }] })}\n\n`;
    });
    hosts = breakingPool(brokenAfter(3), () => hostStream(withProbs));
    const text = await (await call("/v1/chat/completions", { json: { model: "pool", messages: MESSAGES, stream: true, max_tokens: 7, logprobs: true, top_logprobs: 1 } })).text();
    const tokenEvents = parsed(text).filter((e) => e.choices?.[0]?.delta?.content);
    expect(tokenEvents).toHaveLength(7);
    expect(tokenEvents.every((e) => e.choices[0].logprobs.content.length === 1)).toBe(true);
    expect(callsTo("/v1/chat/completions")[0]!.json()).not.toHaveProperty("n_probs");
    expect(callsTo("/completion")[0]!.json()).toMatchObject({ n_probs: 1 });
  });

  it("a first host that sent every token but broke before [DONE]: only the missing end follows, no host is asked", async () => {
    // Role, 6 tokens, finish; then the reset (usage and [DONE] never came).
    hosts = breakingPool(() => hostStream(IDS_EVENTS, { after: 8, kind: "reset" }));
    const text = await (await call("/v1/chat/completions", { json: { model: "pool", messages: MESSAGES, stream: true, max_tokens: 6, stream_options: { include_usage: true } } })).text();
    const events = parsed(text);
    expect(events.filter((e) => e.choices?.[0]?.finish_reason)).toHaveLength(1);
    expect(events.find((e) => e.usage).usage).toMatchObject({ prompt_tokens: 26, completion_tokens: 6 });
    expect(dataOf(text).at(-1)).toBe("[DONE]");
    expect(callsTo("/completion")).toHaveLength(0);
  });
});

describe("where a continuation would not be exact or safe, the stream ends as before: one error event", () => {
  beforeEach(() => usePool({ pinned: { members: ["a/tiny", "b/tiny"], policy: "replicas", continuation: false } }));

  /** The stream ends with exactly one error event, after whole events, with no finish and no [DONE]. */
  function expectOneErrorEvent(text: string) {
    const data = dataOf(text);
    expect(data.filter((d) => d.includes('"error"'))).toHaveLength(1);
    expect(JSON.parse(data.at(-1)!).error).toMatchObject({ type: "upstream_error" });
    expect(data).not.toContain("[DONE]");
    expect(parsed(text).some((e) => e.choices?.[0]?.finish_reason)).toBe(false);
  }

  it("continuation: false on the alias: the host is asked nothing extra, and a break ends with one error event", async () => {
    hosts = breakingPool(brokenAfter(3));
    const text = await (await call("/v1/chat/completions", { json: { model: "pinned", messages: MESSAGES, stream: true, max_tokens: 7 } })).text();
    expectOneErrorEvent(text);
    const chat = callsTo("/v1/chat/completions")[0]!.json();
    expect(chat).not.toHaveProperty("n_probs");
    expect(chat).not.toHaveProperty("timings_per_token");
    expect(callsTo("/completion")).toHaveLength(0);
  });

  it("a break inside a tool call's arguments is not continued (never a malformed tool call): one error event", async () => {
    const toolEvent = 'data: {"choices":[{"finish_reason":null,"index":0,"delta":{"tool_calls":[{"index":0,"id":"c1","type":"function","function":{"name":"get_weather","arguments":"{\\"city\\": \\"Par"}}]},"logprobs":{"content":[{"id":5,"token":"Par","bytes":[80,97,114],"logprob":-1,"top_logprobs":[]}]}}],"created":1,"id":"chatcmpl-1","model":"tiny","object":"chat.completion.chunk","timings":{"cache_n":0,"prompt_n":26,"predicted_n":9}}\n\n';
    hosts = breakingPool(() => hostStream([IDS_EVENTS[0]!, toolEvent], { after: 2, kind: "reset" }));
    const tools = [{ type: "function", function: { name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" } } } } }];
    const text = await (await call("/v1/chat/completions", { json: { model: "pool", messages: MESSAGES, stream: true, tools } })).text();
    expectOneErrorEvent(text);
    // The arguments that arrived are passed on as they were, never closed or completed by the router.
    expect(parsed(text).map((e) => e.choices?.[0]?.delta?.tool_calls?.[0]?.function?.arguments).filter(Boolean)).toEqual(['{"city": "Par']);
    expect(callsTo("/completion")).toHaveLength(0);
    expect(callsTo("/v1/chat/completions")).toHaveLength(1);
  });

  it("a break inside a tool call's arguments (the host streams tool_calls) is not continued", async () => {
    const toolEvent = 'data: {"choices":[{"finish_reason":null,"index":0,"delta":{"tool_calls":[{"index":0,"id":"c1","type":"function","function":{"name":"f","arguments":"{\\"a"}}]},"logprobs":{"content":[{"id":5,"token":"x","bytes":[120],"logprob":-1,"top_logprobs":[]}]}}],"created":1,"id":"chatcmpl-1","model":"tiny","object":"chat.completion.chunk","timings":{"cache_n":0,"prompt_n":26,"predicted_n":1}}\n\n';
    hosts = breakingPool(() => hostStream([IDS_EVENTS[0]!, toolEvent], { after: 2, kind: "reset" }));
    let text = "";
    const lines = await captureLogLines(async () => {
      text = await (await call("/v1/chat/completions", { json: { model: "pool", messages: MESSAGES, stream: true } })).text();
    });
    expectOneErrorEvent(text);
    expect(lines[0]).toMatchObject({ outcome: "error", notContinued: "a tool call is in flight" });
    expect(callsTo("/completion")).toHaveLength(0);
  });

  it("reasoning the next host would render as other tokens (a template that trims it) is not continued", async () => {
    hosts = reasoningPool({ renders: [9, 9, 9] });
    let text = "";
    const lines = await captureLogLines(async () => {
      text = await (await call("/v1/chat/completions", { json: { model: "pool", messages: MESSAGES, stream: true, max_tokens: 4 } })).text();
    });
    expectOneErrorEvent(text);
    expect(lines[0]!.notContinued).toMatch(/renders the answer so far as other tokens than the first host generated/);
    expect(callsTo("/v1/chat/completions")).toHaveLength(1);
  });

  it.each([
    ["grammar", { grammar: "root ::= [a-z]+" }],
    ["json_schema", { json_schema: { type: "object" } }],
    ["response_format json_object", { response_format: { type: "json_object" } }],
    ["n: 2", { n: 2 }],
    ["an image part", { messages: [{ role: "user", content: [{ type: "text", text: "hi" }, { type: "image_url", image_url: { url: "data:image/png;base64,AAAA" } }] }] }],
    ["logprobs without top_logprobs", { logprobs: true }],
    ["timings_per_token: false", { timings_per_token: false }],
    ["n_probs: 0", { n_probs: 0 }],
    ["max_tokens and max_completion_tokens that differ", { max_tokens: 5, max_completion_tokens: 6 }],
  ])("a request with %s is left alone (the host is asked nothing extra) and a break ends with one error event", async (_name, fields) => {
    hosts = breakingPool(brokenAfter(3));
    const text = await (await call("/v1/chat/completions", { json: { model: "pool", messages: MESSAGES, stream: true, ...fields } })).text();
    expectOneErrorEvent(text);
    const chat = callsTo("/v1/chat/completions")[0]!.json();
    if (!("n_probs" in fields)) expect(chat).not.toHaveProperty("n_probs");
    expect(callsTo("/completion")).toHaveLength(0);
  });

  it("the host's own error event mid-stream is its answer: not continued elsewhere", async () => {
    const hostError = 'data: {"error":{"code":500,"message":"boom","type":"server_error"}}\n\n';
    hosts = breakingPool(() => hostStream([...IDS_EVENTS.slice(0, 3), hostError], { after: 4, kind: "reset" }));
    const text = await (await call("/v1/chat/completions", { json: { model: "pool", messages: MESSAGES, stream: true } })).text();
    expect(text.match(/"error"/g)).toHaveLength(2); // the host's, then the router's one event for the break
    expect(callsTo("/completion")).toHaveLength(0);
  });

  it("the other member cannot be reached and the first host does not come back: one error event naming the cause", async () => {
    await usePool({}, { firstByteMs: 2_000, idleMs: 1_000 });
    hosts = fakeHosts({
      [`${a}/v1/chat/completions`]: brokenAfter(3),
      [`${b}/v1/chat/completions`]: brokenAfter(3),
      [`${a}/apply-template`]: refused,
      [`${b}/apply-template`]: refused,
      [`${a}/tokenize`]: refused,
      [`${b}/tokenize`]: refused,
    });
    let text = "";
    const lines = await captureLogLines(async () => {
      text = await (await call("/v1/chat/completions", { json: { model: "pool", messages: MESSAGES, stream: true } })).text();
    });
    expectOneErrorEvent(text);
    expect(lines[0]!.notContinued).toMatch(/no host could continue: provider "(a|b)" is unreachable/);
    expect(callsTo("/completion")).toHaveLength(0);
  });

  it("a continuation host that renders the prompt with another token count is not used (another model or template)", async () => {
    await usePool({}, { firstByteMs: 2_000, idleMs: 1_000 });
    hosts = fakeHosts({
      [`${a}/v1/chat/completions`]: brokenAfter(3),
      [`${b}/v1/chat/completions`]: brokenAfter(3),
      ...continuationHandlers(a),
      ...continuationHandlers(b),
      [`${a}/tokenize`]: () => hostJson({ tokens: [1, 2, 3] }),
      [`${b}/tokenize`]: () => hostJson({ tokens: [1, 2, 3] }),
    });
    let text = "";
    const lines = await captureLogLines(async () => {
      text = await (await call("/v1/chat/completions", { json: { model: "pool", messages: MESSAGES, stream: true } })).text();
    });
    expectOneErrorEvent(text);
    expect(lines[0]!.notContinued).toMatch(/renders the prompt as 3 tokens, the first host as 26/);
  });

  it("a continuation host that answers with its own error (the prompt no longer fits): one error event", async () => {
    const tooLong = () => hostJson({ error: { code: 400, message: "the request exceeds the available context size", type: "exceed_context_size_error" } }, 400);
    hosts = breakingPool(brokenAfter(3), tooLong);
    let text = "";
    const lines = await captureLogLines(async () => {
      text = await (await call("/v1/chat/completions", { json: { model: "pool", messages: MESSAGES, stream: true } })).text();
    });
    expectOneErrorEvent(text);
    expect(lines[0]!.notContinued).toMatch(/exceeds the available context size/);
    expect(callsTo("/completion")).toHaveLength(1);
  });

  it("the continuation's stream breaks too: one error event, no second continuation", async () => {
    hosts = breakingPool(brokenAfter(3), () => hostStream(COMPLETION_EVENTS, { after: 2, kind: "reset" }));
    const text = await (await call("/v1/chat/completions", { json: { model: "pool", messages: MESSAGES, stream: true, max_tokens: 7 } })).text();
    expectOneErrorEvent(text);
    expect(callsTo("/completion")).toHaveLength(1);
    // What did arrive is whole: 3 tokens from the first host, 2 from the continuation.
    expect(contentOf(text)).toBe(TOKENS.slice(0, 3).map((t) => t.choices[0].delta.content).join("") + "5 ");
  });

  it("/v1/messages with stop_sequences (passed to the host's own Anthropic endpoint, whose stream has no token ids) is not continued", async () => {
    const messages = sseEvents(FIXTURES.messagesStream);
    hosts = fakeHosts({ [`${a}/v1/messages`]: () => hostStream(messages, { after: 3, kind: "reset" }), [`${b}/v1/messages`]: () => hostStream(messages, { after: 3, kind: "reset" }) });
    const text = await (await call("/v1/messages", { json: { model: "pool", messages: MESSAGES, stream: true, max_tokens: 8, stop_sequences: ["END"] } })).text();
    expect(text.endsWith("\n\n")).toBe(true);
    expect(text.match(/event: error/g)).toHaveLength(1);
    expect(callsTo("/v1/messages")[0]!.json()).not.toHaveProperty("n_probs");
    expect(callsTo("/v1/chat/completions")).toHaveLength(0);
  });
});

/** The reasoning template's prompt, its ids (as many as the recorded stream's prompt), and its answer so far. */
const R_EVENTS = sseEvents(FIXTURES.chatStreamIdsReasoning);
const R_TOKENS = R_EVENTS.filter((e) => e.includes('"logprobs"')).map((e) => JSON.parse(e.slice(6)));
const R_PROMPT = "<|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\n<think>\n";
const R_PROMPT_IDS = Array.from({ length: R_TOKENS[0].timings.cache_n + R_TOKENS[0].timings.prompt_n }, (_, i) => 1000 + i);
const R_IDS = R_TOKENS.map((t) => t.choices[0].logprobs.content[0].id as number);
const R_TEXT = R_TOKENS.map((t) => t.choices[0].delta.reasoning_content as string);

/**
 * Hosts whose chat format parses reasoning: the first breaks after 3 reasoning tokens; the next renders the answer so
 * far (continue_final_message) as the prompt plus `renders` (the generated ids when exact), then streams the rest.
 */
function reasoningPool({ renders = R_IDS.slice(0, 3), chunks }: { renders?: number[]; chunks?: string[] } = {}) {
  const continued = chunks ?? [
    R_EVENTS[0]!.replace(R_TOKENS[0].id, "chatcmpl-other").replace(String(R_TOKENS[0].created), "1700000000"),
    R_EVENTS[4]!.replace(R_TOKENS[0].id, "chatcmpl-other").replace(/,"logprobs":\{.*?\]\}\]\}/, "").replace(/,"timings":\{[^}]*\}/, ""),
    'data: {"choices":[{"finish_reason":"length","index":0,"delta":{}}],"created":1700000000,"id":"chatcmpl-other","model":"tiny","object":"chat.completion.chunk","timings":{"cache_n":0,"prompt_n":62,"prompt_ms":5,"predicted_n":1,"predicted_ms":2}}\n\n',
    "data: [DONE]\n\n",
  ];
  const handlers = (origin: string): Record<string, HostHandler> => ({
    [`${origin}/v1/chat/completions`]: (_req, body) => (JSON.parse(body).continue_final_message ? hostStream(continued) : hostStream(R_EVENTS, { after: 4, kind: "reset" })),
    [`${origin}/apply-template`]: (_req, body) => {
      const request = JSON.parse(body);
      const last = request.messages.at(-1);
      return hostJson({ prompt: request.continue_final_message ? R_PROMPT + last.reasoning_content + last.content : R_PROMPT });
    },
    [`${origin}/tokenize`]: (_req, body) => {
      const { content } = JSON.parse(body);
      return hostJson({ tokens: content === R_PROMPT ? R_PROMPT_IDS : [...R_PROMPT_IDS, ...renders] });
    },
  });
  return fakeHosts({ ...handlers(a), ...handlers(b) });
}

describe("a parsed chat format (reasoning, tools) is continued through the next host's chat endpoint, verified", () => {
  beforeEach(() => usePool());

  it("a break in reasoning: the next host continues the reasoning from the same token state; the client reads one answer", async () => {
    hosts = reasoningPool();
    let text = "";
    const lines = await captureLogLines(async () => {
      text = await (await call("/v1/chat/completions", { json: { model: "pool", messages: MESSAGES, stream: true, max_tokens: 4, stream_options: { include_usage: true } } })).text();
    });
    const events = parsed(text);
    expect(new Set(events.map((e) => e.id))).toEqual(new Set([R_TOKENS[0].id]));
    expect(new Set(events.map((e) => e.created))).toEqual(new Set([R_TOKENS[0].created]));
    expect(events.filter((e) => e.choices?.[0]?.delta?.role)).toHaveLength(1);
    expect(events.map((e) => e.choices?.[0]?.delta?.reasoning_content ?? "").join("")).toBe(R_TEXT.join(""));
    expect(events.filter((e) => e.choices?.[0]?.finish_reason)).toHaveLength(1);
    expect(dataOf(text).at(-1)).toBe("[DONE]");
    expect(text).not.toContain('"logprobs"');
    const continuation = callsTo("/v1/chat/completions").map((c) => c.json()).find((body) => body.continue_final_message)!;
    expect(continuation).toMatchObject({
      model: "tiny",
      messages: [...MESSAGES, { role: "assistant", content: "", reasoning_content: R_TEXT.slice(0, 3).join("") }],
      continue_final_message: "reasoning_content",
      add_generation_prompt: false,
      max_tokens: 1,
      stream: true,
    });
    expect(continuation).not.toHaveProperty("n_probs");
    expect(lines[0]).toMatchObject({ outcome: "complete", continued: { atToken: 3 } });
  });

  it("a request with tools whose stream breaks in its text is continued the same way (a later tool call would be parsed)", async () => {
    const tools = [{ type: "function", function: { name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" } } } } }];
    const sent = TOKENS.slice(0, 3).map((t) => t.choices[0].delta.content).join("");
    const ids = TOKENS.slice(0, 3).map((t) => t.choices[0].logprobs.content[0].id);
    const continued = [
      IDS_EVENTS[0]!,
      'data: {"choices":[{"finish_reason":null,"index":0,"delta":{"tool_calls":[{"index":0,"id":"c1","type":"function","function":{"name":"get_weather","arguments":"{\\"city\\":\\"Paris\\"}"}}]}}],"created":1,"id":"chatcmpl-x","model":"tiny","object":"chat.completion.chunk"}\n\n',
      'data: {"choices":[{"finish_reason":"tool_calls","index":0,"delta":{}}],"created":1,"id":"chatcmpl-x","model":"tiny","object":"chat.completion.chunk"}\n\n',
      "data: [DONE]\n\n",
    ];
    const handlers = (origin: string): Record<string, HostHandler> => ({
      [`${origin}/v1/chat/completions`]: (_req, body) => (JSON.parse(body).continue_final_message ? hostStream(continued) : brokenAfter(3)()),
      [`${origin}/apply-template`]: (_req, body) => hostJson({ prompt: JSON.parse(body).continue_final_message ? PROMPT + sent : PROMPT }),
      [`${origin}/tokenize`]: (_req, body) => hostJson({ tokens: JSON.parse(body).content === PROMPT ? PROMPT_IDS : [...PROMPT_IDS, ...ids] }),
    });
    hosts = fakeHosts({ ...handlers(a), ...handlers(b) });
    const text = await (await call("/v1/chat/completions", { json: { model: "pool", messages: MESSAGES, stream: true, tools } })).text();
    const events = parsed(text);
    expect(contentOf(text)).toBe(sent);
    expect(events.find((e) => e.choices?.[0]?.delta?.tool_calls)?.choices[0].delta.tool_calls[0].function).toEqual({ name: "get_weather", arguments: '{"city":"Paris"}' });
    expect(events.filter((e) => e.choices?.[0]?.finish_reason).map((e) => e.choices[0].finish_reason)).toEqual(["tool_calls"]);
    expect(new Set(events.map((e) => e.id))).toEqual(new Set([TOKENS[0].id]));
    expect(callsTo("/v1/chat/completions")[0]!.json()).toMatchObject({ n_probs: 1, timings_per_token: true, tools });
    expect(callsTo("/v1/chat/completions").map((c) => c.json()).find((body) => body.continue_final_message)).toMatchObject({
      messages: [...MESSAGES, { role: "assistant", content: sent }],
      continue_final_message: "content",
      tools,
    });
    expect(callsTo("/completion")).toHaveLength(0);
  });
});

describe("on the same host when it answers again", () => {
  it("a single host that comes back within the deadline continues its own answer", async () => {
    const h = uniqueHost("solo");
    await useConfig({ version: 1, providers: [{ id: "solo", baseUrl: h, discover: false, timeouts: { firstByteMs: 2_000, idleMs: 5_000 }, models: [{ id: "tiny" }] }] });
    let templateTries = 0;
    const handlers = continuationHandlers(h);
    hosts = fakeHosts({
      ...handlers,
      [`${h}/v1/chat/completions`]: brokenAfter(3),
      // Down for the first try (a restart), back for the next.
      [`${h}/apply-template`]: (req, body) => (++templateTries < 3 ? refused(req, body) : handlers[`${h}/apply-template`]!(req, body)),
    });
    let text = "";
    const lines = await captureLogLines(async () => {
      text = await (await call("/v1/chat/completions", { json: { model: "solo/tiny", messages: MESSAGES, stream: true, max_tokens: 7 } })).text();
    });
    expect(contentOf(text)).toBe(TOKENS.slice(0, 3).map((t) => t.choices[0].delta.content).join("") + CONTINUED_TEXT);
    expect(lines[0]).toMatchObject({ continued: { from: "solo/tiny", to: "solo/tiny", atToken: 3 } });
  });

  it("an ordered chain is continued only on the same host (its members may be other models)", async () => {
    await usePool({ chain: ["a/tiny", "b/tiny"] }, { firstByteMs: 2_000, idleMs: 5_000 });
    hosts = fakeHosts({ [`${a}/v1/chat/completions`]: brokenAfter(3), ...continuationHandlers(a), ...continuationHandlers(b) });
    const text = await (await call("/v1/chat/completions", { json: { model: "chain", messages: MESSAGES, stream: true, max_tokens: 7 } })).text();
    expect(dataOf(text).at(-1)).toBe("[DONE]");
    expect(new Set(hosts.calls.map(originOf))).toEqual(new Set([a]));
  });
});

describe("a client that leaves", () => {
  it("during the continuation cancels the continuation host's stream too (its slot is freed), logged as cancelled", async () => {
    await usePool({}, { firstByteMs: 2_000, idleMs: 5_000 });
    let onCancel!: () => void;
    const cancelled = new Promise<void>((r) => (onCancel = r));
    const enc = new TextEncoder();
    const silentCompletion = () => {
      let sent = false;
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (sent) return new Promise(() => {});
          sent = true;
          controller.enqueue(enc.encode(COMPLETION_EVENTS[0]!));
        },
        cancel: () => onCancel(),
      });
      return new Response(body, { headers: { "content-type": "text/event-stream" } });
    };
    hosts = breakingPool(brokenAfter(3), silentCompletion);
    const client = new AbortController();
    let lines: Record<string, any>[] = [];
    lines = await captureLogLines(async () => {
      const res = await direct("/v1/chat/completions", { model: "pool", messages: MESSAGES, stream: true, max_tokens: 7 }, {}, client.signal);
      const reader = res.body!.getReader();
      const dec = new TextDecoder();
      let seen = "";
      // The first host sent "l", " in", "5"; the continuation's first chunk is "5" again: wait for the second one.
      while ((seen.match(/"content":"5"/g) ?? []).length < 2) {
        const { done, value } = await reader.read();
        if (done) throw new Error(`the stream ended before the continuation: ${seen}`);
        seen += dec.decode(value);
      }
      client.abort();
      await cancelled;
    });
    // At once: without the abort reaching the continuation's stream, only the idle watchdog (5 s) would end it, as an error.
    expect(lines.map((l) => [l.outcome, l.continued?.atToken])).toEqual([["cancelled", 3]]);
  });
});

describe("an Anthropic /v1/messages stream is continued like a chat stream (the router asks the chat endpoint, writes Anthropic events)", () => {
  beforeEach(() => usePool({ pinned: { members: ["a/tiny", "b/tiny"], policy: "replicas", continuation: false } }));

  const textOf = (events: any[]) => events.filter((e) => e.delta?.type === "text_delta").map((e) => e.delta.text).join("");
  const sentText = (n: number) => TOKENS.slice(0, n).map((t) => t.choices[0].delta.content).join("");

  it("a break mid-answer: one message (one id, one start, one stop), no character twice or missing, output tokens of both hosts", async () => {
    hosts = breakingPool(brokenAfter(3));
    let text = "";
    const lines = await captureLogLines(async () => {
      text = await (await call("/v1/messages", { json: { model: "pool", system: "be brief", messages: MESSAGES, stream: true, max_tokens: 7, temperature: 0 } })).text();
    });
    const events = anthropicEvents(text);
    expect(events.map((e) => e.type)).toEqual(["message_start", "content_block_start", ...Array(7).fill("content_block_delta"), "content_block_stop", "message_delta", "message_stop"]);
    expect(events[0].message).toMatchObject({ id: TOKENS[0].id, model: expect.stringMatching(/^(a|b)\/tiny$/), usage: { cache_read_input_tokens: 25, input_tokens: 1, output_tokens: 0 } });
    expect(textOf(events)).toBe(sentText(3) + CONTINUED_TEXT);
    expect(events.at(-2)).toEqual({ type: "message_delta", delta: { stop_reason: "max_tokens", stop_sequence: null }, usage: { output_tokens: 7 } });
    // The host got the chat request llama-server makes of this body, asking for token ids; the continuation counts the limit.
    const [chat] = callsTo("/v1/chat/completions");
    expect(chat!.json()).toMatchObject({ model: "tiny", messages: [{ role: "system", content: "be brief" }, ...MESSAGES], max_tokens: 7, temperature: 0, stream: true, n_probs: 1, timings_per_token: true, stream_options: { include_usage: true } });
    expect(callsTo("/v1/messages")).toHaveLength(0);
    const [completion] = callsTo("/completion");
    expect(originOf(completion!)).not.toBe(originOf(chat!));
    expect(completion!.json()).toMatchObject({ n_predict: 4, temperature: 0, prompt: [...PROMPT_IDS, ...TOKENS.slice(0, 3).map((t) => t.choices[0].logprobs.content[0].id)] });
    expect(lines[0]).toMatchObject({ path: "/v1/messages", outcome: "complete", continued: { atToken: 3 }, tokens: { prompt: 26, completion: 7 } });
  });

  it("a non-streaming request, assembled from a stream, is continued invisibly: one Anthropic message", async () => {
    hosts = breakingPool(brokenAfter(2));
    const res = await call("/v1/messages", { json: { model: "pool", messages: MESSAGES, max_tokens: 6 } });
    expect(res.status).toBe(200);
    const body = await res.json<any>();
    expect(body).toMatchObject({ id: TOKENS[0].id, type: "message", content: [{ type: "text", text: sentText(2) + CONTINUED_TEXT }], stop_reason: "max_tokens", usage: { cache_read_input_tokens: 25, input_tokens: 1, output_tokens: 6 } });
    expect(callsTo("/completion")[0]!.json().n_predict).toBe(4);
  });

  it("a break inside a tool call's arguments is not continued: the tool_use block stays open and one Anthropic error event ends the stream", async () => {
    const toolEvent = 'data: {"choices":[{"finish_reason":null,"index":0,"delta":{"tool_calls":[{"index":0,"id":"c1","type":"function","function":{"name":"get_weather","arguments":"{\\"city\\": \\"Par"}}]},"logprobs":{"content":[{"id":5,"token":"Par","bytes":[80,97,114],"logprob":-1,"top_logprobs":[]}]}}],"created":1,"id":"chatcmpl-1","model":"tiny","object":"chat.completion.chunk","timings":{"cache_n":0,"prompt_n":26,"predicted_n":9}}\n\n';
    hosts = breakingPool(() => hostStream([IDS_EVENTS[0]!, toolEvent], { after: 2, kind: "reset" }));
    const tools = [{ name: "get_weather", input_schema: { type: "object", properties: { city: { type: "string" } } } }];
    let text = "";
    const lines = await captureLogLines(async () => {
      text = await (await call("/v1/messages", { json: { model: "pool", messages: MESSAGES, stream: true, max_tokens: 50, tools } })).text();
    });
    const events = anthropicEvents(text);
    expect(events.map((e) => e.type)).toEqual(["message_start", "content_block_start", "content_block_delta", "error"]);
    expect(events[1].content_block).toEqual({ type: "tool_use", id: "c1", name: "get_weather", input: {} });
    expect(events[2].delta).toEqual({ type: "input_json_delta", partial_json: '{"city": "Par' });
    expect(events[3].error).toMatchObject({ type: "api_error", message: expect.stringMatching(/broke off/) });
    expect(lines[0]).toMatchObject({ outcome: "error", notContinued: "a tool call is in flight" });
    expect(callsTo("/v1/chat/completions")[0]!.json().tools).toEqual([{ type: "function", function: { name: "get_weather", description: "", parameters: tools[0]!.input_schema } }]);
  });

  it("continuation: false on the alias: still one Anthropic stream, and a break ends it with one error event", async () => {
    hosts = breakingPool(brokenAfter(3));
    const text = await (await call("/v1/messages", { json: { model: "pinned", messages: MESSAGES, stream: true, max_tokens: 7 } })).text();
    const events = anthropicEvents(text);
    expect(events.map((e) => e.type)).toEqual(["message_start", "content_block_start", "content_block_delta", "content_block_delta", "content_block_delta", "error"]);
    expect(textOf(events)).toBe(sentText(3));
    expect(callsTo("/v1/chat/completions")[0]!.json()).not.toHaveProperty("n_probs");
    expect(callsTo("/completion")).toHaveLength(0);
  });

  it("a break in reasoning continues the thinking block through the chat endpoint", async () => {
    hosts = reasoningPool();
    const text = await (await call("/v1/messages", { json: { model: "pool", messages: MESSAGES, stream: true, max_tokens: 4 } })).text();
    const events = anthropicEvents(text);
    expect(events.filter((e) => e.type === "content_block_start").map((e) => e.content_block.type)).toEqual(["thinking"]);
    expect(events.filter((e) => e.delta?.type === "thinking_delta").map((e) => e.delta.thinking).join("")).toBe(R_TEXT.join(""));
    expect(events.at(-1)).toEqual({ type: "message_stop" });
    expect(events.filter((e) => e.type === "message_start")).toHaveLength(1);
    expect(callsTo("/v1/chat/completions").map((c) => c.json()).find((b) => b.continue_final_message)).toMatchObject({ continue_final_message: "reasoning_content", max_tokens: 1 });
  });
});
