import { createExecutionContext, env } from "cloudflare:test";
import { afterEach, describe, expect, it } from "vitest";
import type { Env } from "../../src/env.js";
import worker from "../../src/index.js";
import { fakeHosts, hostJson } from "../helpers/fake-hosts.js";
import { FIXTURES } from "../helpers/fixtures.js";
import { call, uniqueHost, useConfig } from "../helpers/worker.js";

let hosts: ReturnType<typeof fakeHosts> | undefined;
afterEach(() => hosts?.restore());

const config = (host: string, version: number) => ({ version, providers: [{ id: "h", baseUrl: host, discover: false, models: [{ id: "tiny" }] }] });

describe("client auth", () => {
  it.each([
    ["no key", {}, /missing API key/],
    ["a wrong Bearer key", { authorization: "Bearer nope" }, /invalid API key/],
    ["a wrong x-api-key", { "x-api-key": "nope" }, /invalid API key/],
    ["a key that is a prefix of a real one", { authorization: "Bearer test-key-" }, /invalid API key/],
    ["a non-Bearer scheme", { authorization: "Basic dGVzdC1rZXktMTo=" }, /missing API key/],
  ])("refuses %s with 401 on every route but /health", async (_name, headers, message) => {
    for (const path of ["/v1/models", "/v1/chat/completions", "/v1/nope"]) {
      const res = await call(path, { key: null, headers, method: path.includes("chat") ? "POST" : "GET" });
      expect(res.status, path).toBe(401);
      expect((await res.json<any>()).error).toEqual({ message: expect.stringMatching(message), type: "authentication_error", param: null, code: "invalid_api_key" });
    }
  });

  it("accepts any configured key as Bearer or x-api-key", async () => {
    const host = uniqueHost("h");
    await useConfig(config(host, 1));
    hosts = fakeHosts({ [`${host}/v1/models`]: () => hostJson(FIXTURES.models) });
    for (const headers of [{ authorization: "Bearer test-key-1" }, { authorization: "bearer test-key-2" }, { "x-api-key": "test-key-2" }] as Record<string, string>[]) {
      expect((await call("/v1/models", { key: null, headers })).status).toBe(200);
    }
  });

  it("/health answers without a key and says the auth mode", async () => {
    const res = await call("/health", { key: null });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: "ok", auth: "keys" });
  });
});

describe("config source", () => {
  it("serves the bundled config when KV has none", async () => {
    await env.LLAMA_PROVIDERS!.delete("llama-providers.json");
    expect(await (await call("/health")).json()).toMatchObject({ config: { source: "bundled", version: 1, providers: 1, error: null } });
    hosts = fakeHosts({ "http://127.0.0.1:8080/v1/models": () => hostJson(FIXTURES.models) });
    expect((await (await call("/v1/models")).json<any>()).data.map((m: any) => m.id)).toEqual(["local/tiny"]);
  });

  it("a valid KV copy wins, and a newer push is picked up without a restart", async () => {
    const a = uniqueHost("a");
    await useConfig(config(a, 41));
    expect(await (await call("/health")).json()).toMatchObject({ config: { source: "kv", version: 41, error: null } });
    await useConfig(config(a, 42));
    expect(await (await call("/health")).json()).toMatchObject({ config: { source: "kv", version: 42 } });
  });

  it("an invalid KV copy keeps the last good config serving and /health says why", async () => {
    const good = uniqueHost("good");
    await useConfig(config(good, 50));
    expect((await call("/health")).status).toBe(200);
    await useConfig(JSON.stringify({ version: 51, providers: [{ id: "BAD", baseUrl: "nope" }] }));
    const health = await (await call("/health")).json<any>();
    expect(health.config).toMatchObject({ source: "kv", version: 50 });
    expect(health.config.error).toMatch(/KV copy rejected, still serving the kv config v50/);
    expect(health.config.error).toMatch(/\$\.providers\[0\]\.id: must be a slug/);
    hosts = fakeHosts({ [`${good}/v1/chat/completions`]: () => hostJson(FIXTURES.chat) });
    const res = await call("/v1/chat/completions", { json: { model: "h/tiny", messages: [{ role: "user", content: "hi" }] } });
    expect(res.status).toBe(200);
    await useConfig("{ not even json");
    const error = (await (await call("/health")).json<any>()).config.error;
    expect(error).toBe("KV copy rejected, still serving the kv config v50: not valid JSON at line 1 column 3");
  });
});

/** The Worker itself, with these settings instead of the suite's, asked by `url` (its Host is the URL's). */
const ask = (url: string, settings: Partial<Env>, init: RequestInit = {}) =>
  worker.fetch(new Request(url, init), { ...(env as Env), ...settings }, createExecutionContext());
const AUTH_OFF = { ROUTER_AUTH: "off", ROUTER_API_KEYS: undefined };

describe("auth off answers only requests addressed to localhost or an IP (no DNS rebinding)", () => {
  it.each(["/v1/models", "/api/catalog", "/api/models/h/tiny", "/health", "/"])("%s under a DNS name is 403, with no Origin at all", async (path) => {
    hosts = fakeHosts({});
    await useConfig(config(uniqueHost("h"), 1));
    const res = await ask(`http://rebound.example:8787${path}`, AUTH_OFF);
    expect(res.status).toBe(403);
    expect((await res.json<any>()).error).toEqual({
      message: expect.stringMatching(/^client auth is off, so this router only answers requests addressed to localhost or an IP address/),
      type: "permission_error",
      param: null,
      code: "host_not_allowed",
    });
    expect(hosts.calls).toHaveLength(0);
  });

  it.each(["localhost:8787", "127.0.0.1:8787", "127.8.9.10", "[::1]:8787", "192.168.1.20:8787", "[fd00::1]"])("Host %s is answered", async (host) => {
    const res = await ask(`http://${host}/health`, AUTH_OFF);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ auth: "off" });
  });

  it("with keys, any Host is fine (the key is the guard)", async () => {
    expect((await call("/health", { key: null })).status).toBe(200);
  });
});

describe("settings the router cannot run safely with are a 500 on every route, not a guess", () => {
  it.each([
    ["ROUTER_AUTH=off together with keys", { ROUTER_AUTH: "off" }, /^this router is misconfigured: ROUTER_AUTH=off and ROUTER_API_KEYS are both set/],
    ["a client key shorter than 8 characters", { ROUTER_API_KEYS: "test-key-1,short" }, /^this router is misconfigured: ROUTER_API_KEYS entry 2 is shorter than 8 characters/],
    ["an admin key shorter than 8 characters", { ROUTER_ADMIN_KEY: "adm1n" }, /^this router is misconfigured: ROUTER_ADMIN_KEY is shorter than 8 characters/],
  ])("%s", async (_name, settings, message) => {
    for (const path of ["/v1/models", "/health", "/"]) {
      const res = await ask(`http://127.0.0.1${path}`, settings, { headers: { authorization: "Bearer test-key-1" } });
      expect(res.status, path).toBe(500);
      const error = (await res.json<any>()).error;
      expect(error).toMatchObject({ type: "api_error", code: "router_misconfigured", message: expect.stringMatching(message) });
    }
  });

  it("an upstream secret too short to redact is never sent to the host", async () => {
    const gpu = uniqueHost("gpu");
    await useConfig({ version: 1, providers: [{ id: "gpu", baseUrl: gpu, discover: false, auth: { apiKeySecret: "SHORT_KEY" }, models: [{ id: "tiny" }] }] });
    hosts = fakeHosts({ [`${gpu}/v1/chat/completions`]: () => hostJson(FIXTURES.chat) });
    const res = await ask("http://127.0.0.1/v1/chat/completions", { SHORT_KEY: "sk-1234" }, {
      method: "POST",
      headers: { authorization: "Bearer test-key-1", "content-type": "application/json" },
      body: JSON.stringify({ model: "gpu/tiny", messages: [{ role: "user", content: "hi" }] }),
    });
    expect(res.status).toBe(500);
    expect((await res.json<any>()).error).toMatchObject({ code: "router_misconfigured", message: expect.stringContaining("SHORT_KEY is shorter than 8 characters") });
    expect(hosts.calls).toHaveLength(0);
  });
});
