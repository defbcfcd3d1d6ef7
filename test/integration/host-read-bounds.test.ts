// Every host answer the isolate reads whole is read with a bound, and past it the rest is cancelled, never pulled:
// error bodies (64 KiB), discovery's /v1/models, /props, /slots (1 MiB), non-streamed answers (8 MiB).
import { env } from "cloudflare:test";
import { afterEach, describe, expect, it } from "vitest";
import { parseProvidersConfig } from "../../src/config/schema.js";
import type { Env } from "../../src/env.js";
import { probeHost } from "../../src/upstream/discovery.js";
import { fakeHosts, hostJson } from "../helpers/fake-hosts.js";
import { call, uniqueHost, useConfig } from "../helpers/worker.js";

// The bounds, as the README states them (answer-body.ts, discovery.ts, upstream/errors.ts).
const ERROR_BODY_MAX_BYTES = 64 * 1024;
const DISCOVERY_MAX_BYTES = 1024 * 1024;
const ANSWER_MAX_BYTES = 8 * 1024 * 1024;

let hosts: ReturnType<typeof fakeHosts> | undefined;
afterEach(() => hosts?.restore());

/**
 * A host body of `head + unit x count + tail` (valid JSON, several times the bound), made one unit per pull so the
 * test holds none of it, that counts how much of it the router pulled.
 */
function counted(head: string, unit: string, count: number, tail: string, status = 200) {
  const enc = new TextEncoder();
  const total = head.length + unit.length * count + tail.length;
  let pulled = 0;
  let sent = -1;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      const text = sent === -1 ? head : sent < count ? unit : sent === count ? tail : undefined;
      sent++;
      if (text === undefined) return controller.close();
      pulled += text.length;
      controller.enqueue(enc.encode(text));
    },
  });
  return { response: () => new Response(body, { status, headers: { "content-type": "application/json" } }), pulled: () => pulled, total };
}

async function oneHost(): Promise<string> {
  const host = uniqueHost("h");
  await useConfig({ version: 1, providers: [{ id: "h", baseUrl: host, discover: false, models: [{ id: "tiny" }] }] });
  return host;
}

describe("bounded host reads", () => {
  it("an error body over 64 KiB is not read past the bound and is reported as such", async () => {
    const host = await oneHost();
    const huge = counted('{"error":{"code":500,"type":"server_error","message":"', "x".repeat(16 * 1024), 128, '"}}', 500);
    hosts = fakeHosts({ [`${host}/v1/chat/completions`]: huge.response });
    const res = await call("/v1/chat/completions", { json: { model: "h/tiny", messages: [{ role: "user", content: "hi" }] } });
    expect(res.status).toBe(502);
    expect((await res.json<any>()).error).toMatchObject({ code: "bad_upstream_response", message: expect.stringMatching(/error body over 65536 bytes/) });
    expect(huge.total).toBeGreaterThan(16 * ERROR_BODY_MAX_BYTES);
    expect(huge.pulled()).toBeLessThan(huge.total / 2);
  });

  it("a non-streamed answer over 8 MiB is 502 upstream_response_too_large, read no further", async () => {
    const host = await oneHost();
    const embedding = JSON.stringify({ object: "embedding", index: 0, embedding: Array.from({ length: 1024 }, (_, i) => i / 1024) });
    const big = counted('{"object":"list","model":"tiny","data":[', `${embedding},`, 2_000, `${embedding}]}`);
    hosts = fakeHosts({ [`${host}/v1/embeddings`]: big.response });
    const res = await call("/v1/embeddings", { json: { model: "h/tiny", input: "x" } });
    expect(res.status).toBe(502);
    expect((await res.json<any>()).error).toMatchObject({ code: "upstream_response_too_large", message: expect.stringMatching(/\/v1\/embeddings with more than 8388608 bytes/) });
    expect(big.total).toBeGreaterThan(2 * ANSWER_MAX_BYTES);
    expect(big.pulled()).toBeLessThan(big.total * 0.75);
  });

  it("an app-API host answer over the bound (/tokenize) fails clearly", async () => {
    const host = await oneHost();
    const big = counted('{"tokens":[', "12345,".repeat(2_000), 2_000, "1]}");
    hosts = fakeHosts({ [`${host}/tokenize`]: big.response });
    const res = await call("/api/tokenize", { json: { model: "h/tiny", content: "x" } });
    expect(res.status).toBe(502);
    expect((await res.json<any>()).error.code).toBe("upstream_response_too_large");
    expect(big.total).toBeGreaterThan(2 * ANSWER_MAX_BYTES);
    expect(big.pulled()).toBeLessThan(big.total * 0.75);
  });

  it("a /v1/models answer over 1 MiB makes the probe fail, naming the bound", async () => {
    const host = uniqueHost("disc");
    const provider = parseProvidersConfig({ version: 1, providers: [{ id: "disc", baseUrl: host }] }).providers[0]!;
    const big = counted('{"object":"list","data":[', '{"id":"model","object":"model","owned_by":"llamacpp"},'.repeat(300), 300, '{"id":"last"}]}');
    hosts = fakeHosts({ [`${host}/v1/models`]: big.response });
    const probe = await probeHost(provider, env as unknown as Env);
    expect(probe).toMatchObject({ ok: false, status: 502, code: "upstream_response_too_large", error: expect.stringMatching(/\/v1\/models with more than 1048576 bytes/) });
    expect(big.total).toBeGreaterThan(4 * DISCOVERY_MAX_BYTES);
    expect(big.pulled()).toBeLessThan(big.total / 2);
  });

  it("a normal-sized answer still passes (the bound is not an off-by-one)", async () => {
    const host = await oneHost();
    hosts = fakeHosts({ [`${host}/v1/embeddings`]: () => hostJson({ object: "list", model: "tiny", data: [{ object: "embedding", index: 0, embedding: [0.5] }] }) });
    const res = await call("/v1/embeddings", { json: { model: "h/tiny", input: "x" } });
    expect(res.status).toBe(200);
    expect((await res.json<any>()).model).toBe("h/tiny");
  });
});
