// Fail closed: CORS only for configured origins, state-changing host endpoints only with the admin
// key and only to configured providers, secrets redacted from whatever a host echoes, Server-Timing on answers.
import { createExecutionContext, env } from "cloudflare:test";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Env } from "../../src/env.js";
import worker from "../../src/index.js";
import { router } from "../../src/router.js";
import { fakeHosts, hostJson, hostStream, sseEvents } from "../helpers/fake-hosts.js";
import { FIXTURES } from "../helpers/fixtures.js";
import { call, uniqueHost, useConfig } from "../helpers/worker.js";

const ADMIN = { "x-boocode-admin-key": "admin-SECRET-key-7c1" };
const CHAT = { messages: [{ role: "user", content: "hi" }], max_tokens: 4 };

let gpu: string;
let hosts: ReturnType<typeof fakeHosts> | undefined;
beforeEach(async () => {
  gpu = uniqueHost("gpu");
  await useConfig({ version: 1, providers: [{ id: "gpu", baseUrl: gpu, discover: false, auth: { apiKeySecret: "GPU_KEY" }, models: [{ id: "tiny" }] }] });
});
afterEach(() => hosts?.restore());

describe("CORS", () => {
  it("answers an allowed origin's preflight without a key, with the headers its SDK sends", async () => {
    const res = await call("/v1/chat/completions", {
      key: null,
      method: "OPTIONS",
      headers: { origin: "https://app.boocode.test", "access-control-request-method": "POST", "access-control-request-headers": "authorization, content-type" },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get("access-control-allow-origin")).toBe("https://app.boocode.test");
    expect(res.headers.get("access-control-allow-methods")).toBe("GET, POST");
    expect(res.headers.get("access-control-allow-headers")).toContain("authorization");
    expect(res.headers.get("access-control-allow-headers")).toContain("x-session-affinity");
    expect(res.headers.get("vary")).toContain("Origin");
  });

  it("lets an allowed origin read the answer and the router's headers (a trailing slash in the setting is fine)", async () => {
    hosts = fakeHosts({ [`${gpu}/v1/chat/completions`]: () => hostStream(sseEvents(FIXTURES.chatStream)) });
    const res = await call("/v1/chat/completions", { headers: { origin: "http://localhost:5173" }, json: { model: "gpu/tiny", ...CHAT, stream: true } });
    expect(res.status).toBe(200);
    expect(res.headers.get("access-control-allow-origin")).toBe("http://localhost:5173");
    expect(res.headers.get("access-control-expose-headers")).toContain("x-boocode-route");
    await res.text();
  });

  it.each([
    ["a preflight", "OPTIONS", { "access-control-request-method": "POST" }],
    ["a simple cross-site POST (no preflight; with auth off it would spend the GPU)", "POST", { "content-type": "text/plain" }],
    ["a GET", "GET", {}],
  ])("refuses %s from an origin that is not listed, before auth and before any host", async (_name, method, headers) => {
    hosts = fakeHosts({});
    const res = await call(method === "GET" ? "/v1/models" : "/v1/chat/completions", {
      method,
      headers: { origin: "https://evil.example", ...headers },
      body: method === "POST" ? JSON.stringify({ model: "gpu/tiny", ...CHAT }) : undefined,
    });
    expect(res.status).toBe(403);
    expect(res.headers.get("access-control-allow-origin")).toBeNull();
    expect((await res.json<any>()).error).toMatchObject({ type: "permission_error", code: "cors_origin_not_allowed" });
    expect(hosts.calls).toHaveLength(0);
  });

  it("with auth off, a same-origin request under a DNS name is refused (DNS rebinding); under an IP or localhost it is fine", async () => {
    hosts = fakeHosts({});
    const authOff = { ...(env as Env), ROUTER_AUTH: "off", ROUTER_API_KEYS: undefined };
    const ask = (origin: string) =>
      worker.fetch(new Request(`${origin}/v1/models`, { method: "POST", headers: { origin, "content-type": "text/plain" }, body: "{}" }), authOff, createExecutionContext());
    const rebound = await ask("http://evil.example:8787");
    expect(rebound.status).toBe(403);
    expect((await rebound.json<any>()).error.code).toBe("host_not_allowed");
    for (const origin of ["http://127.0.0.1:8787", "http://localhost:8787", "http://[::1]:8787"]) expect((await ask(origin)).status, origin).toBe(405);
  });

  it("a same-origin request (the status page's own) needs no listing; no Origin at all is not a browser question", async () => {
    hosts = fakeHosts({});
    expect((await call("/health", { key: null, headers: { origin: "https://router.test" } })).status).toBe(200);
    expect((await call("/health", { key: null })).headers.get("access-control-allow-origin")).toBeNull();
  });
});

describe("admin-only host endpoints", () => {
  it.each([
    ["POST", "/admin/gpu/props", { n_ctx: 1 }],
    ["POST", "/admin/gpu/slots/0?action=erase", undefined],
    ["POST", "/admin/gpu/models/load", { model: "tiny" }],
    ["POST", "/admin/gpu/lora-adapters", [{ id: 0, scale: 0.5 }]],
    ["GET", "/admin/gpu/slots", undefined],
  ])("%s %s without the admin key is 403 and never reaches the host", async (method, path, json) => {
    hosts = fakeHosts({});
    for (const headers of [{}, { "x-boocode-admin-key": "admin-SECRET-key-7c" }, { "x-boocode-admin-key": "wrong" }] as Record<string, string>[]) {
      const res = await call(path, { method, headers, json });
      expect(res.status, JSON.stringify(headers)).toBe(403);
      expect((await res.json<any>()).error).toMatchObject({ type: "permission_error", code: "admin_key_required" });
    }
    expect(hosts.calls).toHaveLength(0);
  });

  it("the client key is still needed: the admin key alone is 401", async () => {
    const res = await call("/admin/gpu/slots", { key: null, headers: ADMIN });
    expect(res.status).toBe(401);
  });

  it("with no ROUTER_ADMIN_KEY configured, admin is off for everyone", async () => {
    hosts = fakeHosts({});
    const request = new Request("https://router.test/admin/gpu/slots", { headers: { authorization: "Bearer test-key-1", ...ADMIN } });
    const res = await worker.fetch(request, { ...(env as Env), ROUTER_ADMIN_KEY: undefined }, createExecutionContext());
    expect(res.status).toBe(403);
    expect((await res.json<any>()).error.code).toBe("admin_disabled");
    expect(hosts.calls).toHaveLength(0);
  });

  it("forwards each admin action to the configured host's fixed endpoint, with the host's credentials and nothing of the client's", async () => {
    const seen: string[] = [];
    const answer = (req: Request) => {
      seen.push(`${req.method} ${new URL(req.url).pathname}${new URL(req.url).search}`);
      return hostJson({ success: true });
    };
    hosts = fakeHosts({
      [`GET ${gpu}/slots`]: answer,
      [`POST ${gpu}/slots/3`]: answer,
      [`POST ${gpu}/props`]: answer,
      [`GET ${gpu}/lora-adapters`]: answer,
      [`POST ${gpu}/lora-adapters`]: answer,
      [`POST ${gpu}/models/load`]: answer,
      [`POST ${gpu}/models/unload`]: answer,
    });
    const requests: [string, string, unknown][] = [
      ["GET", "/admin/gpu/slots", undefined],
      ["POST", "/admin/gpu/slots/3?action=save", { filename: "s3.bin" }],
      ["POST", "/admin/gpu/slots/3?action=erase", undefined],
      ["POST", "/admin/gpu/props", { n_ctx: 1 }],
      ["GET", "/admin/gpu/lora-adapters", undefined],
      ["POST", "/admin/gpu/lora-adapters", [{ id: 0, scale: 0.5 }]],
      ["POST", "/admin/gpu/models/load", { model: "org/x-GGUF:Q4_K_M" }],
      ["POST", "/admin/gpu/models/unload", { model: "tiny" }],
    ];
    for (const [method, path, json] of requests) {
      const res = await call(path, { method, json, headers: { ...ADMIN, cookie: "a=b" } });
      expect(res.status, path).toBe(200);
      expect(await res.json()).toEqual({ success: true });
    }
    expect(seen).toEqual(["GET /slots", "POST /slots/3?action=save", "POST /slots/3?action=erase", "POST /props", "GET /lora-adapters", "POST /lora-adapters", "POST /models/load", "POST /models/unload"]);
    for (const c of hosts.calls) {
      expect(c.headers.get("authorization")).toBe("Bearer sk-upstream-SECRET-gpu");
      expect(c.headers.get("x-boocode-admin-key")).toBeNull();
      expect(c.headers.get("cookie")).toBeNull();
    }
    expect(hosts.calls[6]!.json()).toEqual({ model: "org/x-GGUF:Q4_K_M" });
  });

  it.each([
    ["an unknown provider", "POST", "/admin/nope/props", { a: 1 }, 404, "provider_not_found"],
    ["a slot action not in the list", "POST", "/admin/gpu/slots/0?action=delete_all", undefined, 400, "invalid_slot_action"],
    ["a slot id that is not a number", "POST", "/admin/gpu/slots/..%2F..%2Fprops?action=erase", undefined, 400, "invalid_slot_action"],
    ["a second action smuggled in the query", "POST", "/admin/gpu/slots/0?action=erase%26action=save", undefined, 400, "invalid_slot_action"],
    ["a load without a model", "POST", "/admin/gpu/models/load", { name: "x" }, 400, "invalid_body"],
    ["LoRA scales that are not numbers", "POST", "/admin/gpu/lora-adapters", [{ id: 0, scale: "max" }], 400, "invalid_body"],
  ])("%s is refused before the host", async (_name, method, path, json, status, code) => {
    hosts = fakeHosts({});
    const res = await call(path, { method, json, headers: ADMIN });
    expect(res.status).toBe(status);
    expect((await res.json<any>()).error.code).toBe(code);
    expect(hosts.calls).toHaveLength(0);
  });

  it("the inference surface never reaches these endpoints, with or without the admin key", async () => {
    hosts = fakeHosts({});
    for (const path of ["/v1/props", "/v1/slots", "/props", "/slots/0?action=erase", "/lora-adapters", "/models/load", "/v1/../props"]) {
      const res = await call(path, { method: "POST", json: {}, headers: ADMIN });
      expect([404, 405], path).toContain(res.status);
    }
    expect(hosts.calls).toHaveLength(0);
  });
});

describe("secrets never leave", () => {
  it("a host that echoes the router's credentials into its error gets them redacted, in the answer and the log line", async () => {
    hosts = fakeHosts({
      [`${gpu}/v1/chat/completions`]: (req) =>
        hostJson({ error: { code: 400, type: "invalid_request_error", message: `bad request with ${req.headers.get("authorization")}`, echo: req.headers.get("authorization") } }, 400),
    });
    const lines: string[] = [];
    const spy = vi.spyOn(console, "log").mockImplementation((line: unknown) => void lines.push(String(line)));
    const res = await call("/v1/chat/completions", { json: { model: "gpu/tiny", ...CHAT } });
    const text = await res.text();
    spy.mockRestore();
    expect(res.status).toBe(400);
    expect(text).not.toContain("sk-upstream-SECRET-gpu");
    expect(JSON.parse(text).error).toMatchObject({ message: "bad request with Bearer [redacted]", echo: "Bearer [redacted]" });
    expect(lines.join("\n")).not.toContain("sk-upstream-SECRET-gpu");
    expect(lines.join("\n")).toContain("[redacted]");
  });
});

describe("redaction is no oracle: a guessed secret and a wrong guess get the same answer", () => {
  const UPSTREAM = "sk-upstream-SECRET-gpu";
  // The runtime quotes only the first 10 characters of a body that is not JSON: a 10-character client key fits.
  const CLIENT_KEY = "test-key-2";
  const wrongGuess = (secret: string) => `${secret.slice(0, -1)}Z`;
  const answer = async (res: Response, guess: string) => ({ status: res.status, body: (await res.text()).replaceAll(guess, "GUESS") });

  it.each([
    ["a chat request's model", UPSTREAM, (g: string) => call("/v1/chat/completions", { json: { model: g, ...CHAT } })],
    ["a model under a configured provider", UPSTREAM, (g: string) => call("/v1/chat/completions", { json: { model: `gpu/${g}`, ...CHAT } })],
    ["GET /v1/models/:id", UPSTREAM, (g: string) => call(`/v1/models/${g}`)],
    ["GET /api/models/:id", UPSTREAM, (g: string) => call(`/api/models/gpu/${g}`)],
    ["an unknown path", UPSTREAM, (g: string) => call(`/v1/${g}`)],
    ["a body that is not JSON", CLIENT_KEY, (g: string) => call("/v1/chat/completions", { method: "POST", headers: { "content-type": "application/json" }, body: g })],
  ])("%s", async (_name, secret, ask) => {
    hosts = fakeHosts({});
    const guessed = await answer(await ask(secret), wrongGuess(secret));
    const wrong = await answer(await ask(wrongGuess(secret)), wrongGuess(secret));
    expect(guessed.body).not.toContain("[redacted]");
    expect(guessed).toEqual(wrong);
    expect([400, 404]).toContain(guessed.status);
    expect(hosts.calls).toHaveLength(0);
  });

});

describe("the last-resort error path", () => {
  it("logs an unhandled error with secrets redacted", async () => {
    const errors: string[] = [];
    const broken = vi.spyOn(router, "fetch").mockRejectedValue(new Error("router broke while holding sk-upstream-SECRET-gpu"));
    const error = vi.spyOn(console, "error").mockImplementation((line: unknown) => void errors.push(String(line)));
    const res = await worker.fetch(new Request("https://router.test/health"), env as Env, createExecutionContext());
    broken.mockRestore();
    error.mockRestore();
    expect(res.status).toBe(500);
    expect((await res.json<any>()).error.code).toBe("internal_error");
    expect(errors).toEqual(['{"level":"error","message":"unhandled","cause":"Error: router broke while holding [redacted]"}']);
  });
});

describe("Server-Timing", () => {
  it("names the host's first byte and the router's headers on a proxied answer, only the router's on others", async () => {
    hosts = fakeHosts({ [`${gpu}/v1/chat/completions`]: () => hostStream(sseEvents(FIXTURES.chatStream)) });
    const res = await call("/v1/chat/completions", { json: { model: "gpu/tiny", ...CHAT, stream: true } });
    expect(res.headers.get("server-timing")).toMatch(/^upstream;desc="host first byte";dur=\d+, router;desc="headers sent";dur=\d+$/);
    await res.text();
    expect((await call("/v1/models")).headers.get("server-timing")).toMatch(/^router;desc="headers sent";dur=\d+$/);
  });
});
