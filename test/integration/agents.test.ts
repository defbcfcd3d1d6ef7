import { createExecutionContext, env } from "cloudflare:test";
import { parse as parseToml } from "smol-toml";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Env } from "../../src/env.js";
import worker from "../../src/index.js";
import { fakeHosts, hostJson, hostStream, refused, sseEvents, type HostHandler } from "../helpers/fake-hosts.js";
import { FIXTURES } from "../helpers/fixtures.js";
import { call, uniqueHost, useConfig } from "../helpers/worker.js";

let gpu: string;
let laptop: string;
let hosts: ReturnType<typeof fakeHosts> | undefined;

beforeEach(async () => {
  gpu = uniqueHost("gpu");
  laptop = uniqueHost("laptop");
  await useConfig({
    version: 9,
    providers: [
      { id: "gpu", label: "GPU box", baseUrl: gpu, models: [{ id: "qwen-32b", label: "Qwen 32B", contextLength: 32768, maxOutputTokens: 8192 }] },
      { id: "laptop", baseUrl: laptop, timeouts: { idleMs: 300 } },
    ],
    aliases: { pool: { members: ["gpu/tiny", "laptop/tiny"], policy: "replicas" }, chain: ["gpu/tiny", "laptop/tiny"], coder: "gpu/qwen-32b" },
  });
});
afterEach(() => hosts?.restore());

const withHosts = (extra: Record<string, HostHandler> = {}) =>
  fakeHosts({ [`${gpu}/v1/models`]: () => hostJson(FIXTURES.models), [`${laptop}/v1/models`]: () => hostJson(FIXTURES.models), ...extra });

describe("GET /api/opencode-config", () => {
  it("is a ready opencode.json: provider boocode-local on this origin's /v1, models by composite id with limits, aliases too", async () => {
    hosts = withHosts();
    const res = await call("/api/opencode-config");
    expect(res.status).toBe(200);
    const body = await res.json<any>();
    expect(body.$schema).toBe("https://opencode.ai/config.json");
    const provider = body.provider["boocode-local"];
    expect(provider).toMatchObject({ npm: "@ai-sdk/openai-compatible", options: { baseURL: "https://router.test/v1", apiKey: "{env:BOOCODE_API_KEY}" } });
    expect(provider.models).toEqual({
      "gpu/qwen-32b": { name: "Qwen 32B", limit: { context: 32768, output: 8192 } },
      "gpu/tiny": { name: "tiny on GPU box", limit: { context: 1024, output: 256 } },
      "laptop/tiny": { name: "laptop/tiny", limit: { context: 1024, output: 256 } },
      pool: { name: "pool (gpu/tiny | laptop/tiny)", limit: { context: 1024, output: 256 } },
      chain: { name: "chain (gpu/tiny → laptop/tiny)", limit: { context: 1024, output: 256 } },
      coder: { name: "coder (gpu/qwen-32b)", limit: { context: 32768, output: 8192 } },
    });
  });

  it("uses the origin the client reached, e.g. a custom domain", async () => {
    hosts = withHosts();
    const { SELF } = await import("cloudflare:test");
    const res = await SELF.fetch("https://llm.example.org/api/opencode-config", { headers: { authorization: "Bearer test-key-1" } });
    expect((await res.json<any>()).provider["boocode-local"].options.baseURL).toBe("https://llm.example.org/v1");
  });

  it("needs the client key like every /api route", async () => {
    expect((await call("/api/opencode-config", { key: null })).status).toBe(401);
  });
});

describe("GET /api/agent-config", () => {
  it("client=claude-code gives env lines for the origin and the chosen model", async () => {
    hosts = withHosts();
    const res = await call("/api/agent-config?client=claude-code&model=gpu/qwen-32b");
    expect(res.headers.get("content-type")).toMatch(/^text\/plain/);
    const text = await res.text();
    expect(text).toContain("export ANTHROPIC_BASE_URL='https://router.test'");
    // Auth on: an unset variable stops the eval with a message instead of exporting an empty key.
    expect(text).toContain('export ANTHROPIC_API_KEY="${BOOCODE_API_KEY:?set BOOCODE_API_KEY to your router key}"');
    expect(text).toContain("export ANTHROPIC_MODEL='gpu/qwen-32b'");
  });

  it("with auth off the Claude Code key falls back to a placeholder, since Claude Code will not start with an empty one", async () => {
    hosts = withHosts();
    const authOff = { ...(env as Env), ROUTER_AUTH: "off", ROUTER_API_KEYS: undefined };
    const ask = (path: string) => worker.fetch(new Request(`http://127.0.0.1:8787${path}`), authOff, createExecutionContext());
    const text = await (await ask("/api/agent-config?client=claude-code&model=gpu/qwen-32b")).text();
    expect(text).toContain('export ANTHROPIC_API_KEY="${BOOCODE_API_KEY:-local}"');
    expect(text).not.toContain('"$BOOCODE_API_KEY"');
    const settings = await (await ask("/api/agent-config?client=claude-code&model=gpu/qwen-32b&format=json")).json<any>();
    expect(settings.apiKeyHelper).toBe('printf %s "${BOOCODE_API_KEY:-local}"');
  });

  it("format=json gives the structured settings agent-config merges: the same as the pasted text, no key value", async () => {
    hosts = withHosts();
    const codexText = await utf8Text(await call("/api/agent-config?client=codex&model=coder"));
    const codex = await call("/api/agent-config?client=codex&model=coder&format=json");
    expect(codex.headers.get("content-type")).toMatch(/^application\/json/);
    const codexJson = await codex.json<any>();
    expect(codexJson).toEqual({
      model: "coder",
      model_provider: "boocode-local",
      model_context_window: 32768,
      model_providers: { "boocode-local": { name: "BooCode Local", base_url: "https://router.test/v1", wire_api: "responses", env_key: "BOOCODE_API_KEY" } },
    });
    expect({ ...parseToml(codexText) }).toEqual(codexJson);
    const claude = await (await call("/api/agent-config?client=claude-code&model=gpu/qwen-32b&format=json")).json<any>();
    expect(claude).toEqual({
      env: {
        ANTHROPIC_BASE_URL: "https://router.test",
        ANTHROPIC_MODEL: "gpu/qwen-32b",
        ANTHROPIC_DEFAULT_HAIKU_MODEL: "gpu/qwen-32b",
        ANTHROPIC_DEFAULT_SONNET_MODEL: "gpu/qwen-32b",
        ANTHROPIC_DEFAULT_OPUS_MODEL: "gpu/qwen-32b",
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
      },
      apiKeyHelper: 'printf %s "${BOOCODE_API_KEY:?set BOOCODE_API_KEY to your router key}"',
    });
  });

  it("key_env names another variable in every config; a name that is not a plain variable is refused", async () => {
    hosts = withHosts();
    expect(await utf8Text(await call("/api/agent-config?client=codex&model=coder&key_env=MY_ROUTER_KEY"))).toContain('env_key = "MY_ROUTER_KEY"');
    expect((await (await call("/api/opencode-config?key_env=MY_ROUTER_KEY")).json<any>()).provider["boocode-local"].options.apiKey).toBe("{env:MY_ROUTER_KEY}");
    expect(await (await call("/api/agent-config?client=claude-code&key_env=MY_ROUTER_KEY")).text()).toContain("${MY_ROUTER_KEY:?");
    for (const [query, code, param] of [["client=codex&key_env=X%22%3Brm", "invalid_key_env", "key_env"], ["client=opencode&key_env=1X", "invalid_key_env", "key_env"], ["client=codex&format=yaml", "invalid_format", "format"]]) {
      const res = await call(`/api/agent-config?${query}`);
      expect(res.status).toBe(400);
      expect((await res.json<any>()).error).toMatchObject({ type: "invalid_request_error", code, param });
    }
  });

  it("client=codex gives a config.toml block on the Responses API with the model's window", async () => {
    hosts = withHosts();
    const res = await call("/api/agent-config?client=codex&model=coder");
    expect(res.headers.get("content-type")).toBe("application/toml; charset=utf-8");
    const text = await utf8Text(res);
    expect(text).toContain('model = "coder"');
    expect(text).toContain('model_provider = "boocode-local"');
    expect(text).toContain("[model_providers.boocode-local]");
    expect(text).toContain('base_url = "https://router.test/v1"');
    expect(text).toContain('wire_api = "responses"');
    expect(text).toContain('env_key = "BOOCODE_API_KEY"');
    expect(text).toContain("model_context_window = 32768");
    expect(text).not.toContain("model_max_output_tokens"); // Codex 0.169 has no such key and warns about it
    // Pasting instructions that do not corrupt an existing file: no append, the merge command instead.
    expect(text).not.toContain(">>");
    expect(text).toContain("npm run agent-config -- codex --write");
  });

  it("client=opencode is /api/opencode-config", async () => {
    hosts = withHosts();
    const a = await (await call("/api/agent-config?client=opencode")).json<any>();
    const b = await (await call("/api/opencode-config")).json<any>();
    expect(a).toEqual(b);
  });

  it("refuses an unknown client (400) and an unknown model (404)", async () => {
    hosts = withHosts();
    const bad = await call("/api/agent-config?client=cursor");
    expect(bad.status).toBe(400);
    expect((await bad.json<any>()).error).toMatchObject({ code: "invalid_client", param: "client" });
    expect((await call("/api/agent-config")).status).toBe(400);
    const missing = await call("/api/agent-config?client=codex&model=nas/x");
    expect(missing.status).toBe(404);
  });
});

describe("Anthropic paths", () => {
  it("/v1/messages?beta=true (Claude Code's path) routes like the bare path, key as x-api-key", async () => {
    // Asked of the host's chat endpoint (src/anthropic/), as every /v1/messages request without stop_sequences or images.
    hosts = withHosts({ [`${laptop}/v1/chat/completions`]: () => hostStream(sseEvents(FIXTURES.chatStreamIds)) });
    const res = await call("/v1/messages?beta=true", { key: null, headers: { "x-api-key": "test-key-1" }, json: { model: "laptop/tiny", max_tokens: 4, messages: [{ role: "user", content: "hi" }] } });
    expect(res.status).toBe(200);
    expect(await res.json<any>()).toMatchObject({ type: "message", model: "laptop/tiny" });
    expect(hosts.calls.at(-1)!.url).toBe(`${laptop}/v1/chat/completions`);
  });

  it.each([
    ["no key", { key: null }, 401, "authentication_error"],
    ["an unknown model", { json: { model: "nas/x", messages: [{ role: "user", content: "hi" }] } }, 404, "not_found_error"],
    ["bad JSON", { body: "{", method: "POST" }, 400, "invalid_request_error"],
  ] as const)("errors use Anthropic's shape: %s", async (_name, init, status, type) => {
    hosts = withHosts();
    for (const path of ["/v1/messages", "/v1/messages/count_tokens"]) {
      const res = await call(path, { method: "POST", ...init } as any);
      expect(res.status).toBe(status);
      const body = await res.json<any>();
      expect(body).toEqual({ type: "error", error: { type, message: expect.any(String) } });
    }
  });

  it.each([
    ["asked of the host's chat endpoint and written as Anthropic events", {}, "/v1/chat/completions", FIXTURES.chatStreamIds],
    ["passed to the host's own Anthropic endpoint (stop_sequences)", { stop_sequences: ["END"] }, "/v1/messages", FIXTURES.messagesStream],
  ])("a broken Anthropic stream ends with an Anthropic error event: %s", async (_name, fields, hostPath, recorded) => {
    // The stall comes after the first token: a continuation on the same (only) host is tried and refused, then the error.
    hosts = withHosts({ [`${laptop}${hostPath}`]: () => hostStream(sseEvents(recorded), { after: 2, kind: "stall" }), [`${laptop}/apply-template`]: refused });
    const res = await call("/v1/messages", { json: { model: "laptop/tiny", stream: true, max_tokens: 4, messages: [{ role: "user", content: "hi" }], ...fields } });
    const text = await res.text();
    expect(text).toContain('"model":"laptop/tiny"');
    const last = text.trim().split("\n\n").at(-1)!;
    expect(last.split("\n")[0]).toBe("event: error");
    expect(JSON.parse(last.split("\n")[1]!.slice(6))).toEqual({ type: "error", error: { type: "timeout_error", message: expect.stringMatching(/sent nothing/) } });
  });
});

describe("session affinity on a replicas pool", () => {
  const chat = (headers: Record<string, string>, model = "pool") => call("/v1/chat/completions", { json: { model, messages: [{ role: "user", content: "hi" }] }, headers });
  const served = () => withHosts({ [`${gpu}/v1/chat/completions`]: () => hostJson(FIXTURES.chat), [`${laptop}/v1/chat/completions`]: () => hostJson(FIXTURES.chat) });
  /** The composite id that served: the route header's first field (a replicas pool adds the router's reason). */
  const routeOf = async (headers: Record<string, string>, model?: string) => (await chat(headers, model)).headers.get("x-boocode-route")!.split(";")[0]!;

  it("without a session a conversation keeps going to one host, and the header says why", async () => {
    hosts = served();
    const header = (await chat({})).headers.get("x-boocode-route")!;
    expect(header).toMatch(/^(gpu|laptop)\/tiny; cache=(cold|partial|warm); queue=0$/);
    for (let i = 0; i < 3; i++) expect(await routeOf({})).toBe(header.split(";")[0]);
  });

  it("an ordered chain is tried in config order whatever the session, and its header is the bare id", async () => {
    hosts = served();
    for (let s = 0; s < 6; s++) expect((await chat({ "x-session-affinity": `ses_${s}` }, "chain")).headers.get("x-boocode-route")).toBe("gpu/tiny");
  });

  it("each session sticks to one host, and sessions spread over the pool", async () => {
    hosts = served();
    const seen = new Map<string, string>();
    for (let s = 0; s < 12; s++) {
      const first = (await routeOf({ "x-session-affinity": `ses_${s}` }))!;
      for (let i = 0; i < 3; i++) expect(await routeOf({ "x-session-affinity": `ses_${s}` })).toBe(first);
      seen.set(`ses_${s}`, first);
    }
    expect(new Set(seen.values())).toEqual(new Set(["gpu/tiny", "laptop/tiny"]));
  });

  it.each([
    ["opencode x-session-id", (s: string) => ({ "x-session-id": s })],
    ["Claude Code x-claude-code-session-id", (s: string) => ({ "x-claude-code-session-id": s })],
    ["Codex x-codex-turn-metadata", (s: string) => ({ "x-codex-turn-metadata": JSON.stringify({ session_id: s, turn: 3 }) })],
  ])("reads %s", async (_name, header) => {
    hosts = served();
    const routes = new Set<string>();
    for (let s = 0; s < 8; s++) routes.add(await routeOf(header(`s-${s}`)));
    expect(routes.size).toBe(2);
  });

  it("a session whose host is down moves to the other member", async () => {
    hosts = withHosts({ [`${gpu}/v1/chat/completions`]: () => Promise.reject(new TypeError("Network connection lost.")), [`${laptop}/v1/chat/completions`]: () => hostJson(FIXTURES.chat) });
    for (let s = 0; s < 6; s++) expect(await routeOf({ "x-session-affinity": `ses_${s}` })).toBe("laptop/tiny");
  });
});

/** TOML is UTF-8 text, which workerd's .text() does not know (it warns on any type it does not list as text). */
async function utf8Text(res: Response): Promise<string> {
  return new TextDecoder().decode(await res.arrayBuffer());
}
