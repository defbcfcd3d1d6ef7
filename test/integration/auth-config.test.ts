import { env } from "cloudflare:test";
import { afterEach, describe, expect, it } from "vitest";
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
    const res = await call("/v1/chat/completions", { json: { model: "h/tiny", messages: [] } });
    expect(res.status).toBe(200);
    await useConfig("{ not even json");
    expect((await (await call("/health")).json<any>()).config.error).toMatch(/not valid JSON/);
  });
});
