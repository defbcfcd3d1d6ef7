// GET /api/catalog and GET /api/models/{provider}/{model...}: provider health, effective per-slot windows, slot use
// and props, against scripted hosts built from recorded llama-server answers.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import propsBody from "../fixtures/llama-server/props.body?raw";
import slotsBody from "../fixtures/llama-server/slots.body?raw";
import { fakeHosts, hang, hostJson, refused, type HostHandler } from "../helpers/fake-hosts.js";
import { FIXTURES } from "../helpers/fixtures.js";
import { call, uniqueHost, useConfig } from "../helpers/worker.js";

let gpu: string, laptop: string, down: string, locked: string;
let hosts: ReturnType<typeof fakeHosts> | undefined;

/** The router-mode list with `alpha` loaded (its /props is then asked) and `beta` unloaded (never asked). */
const ROUTER_MODE = FIXTURES.routerModels.replace('"value":"unloaded"', '"value":"loaded"');
/** alpha's own /props: a window the launch args alone would not give (the host has the last word). */
const ALPHA_PROPS = propsBody.replace('"n_ctx":1024}', '"n_ctx":3000}');
const ONE_BUSY = slotsBody.replace('"is_processing":false', '"is_processing":true');

beforeEach(async () => {
  [gpu, laptop, down, locked] = ["gpu", "laptop", "down", "locked"].map(uniqueHost) as [string, string, string, string];
  await useConfig({
    version: 12,
    providers: [
      {
        id: "gpu",
        label: "GPU box",
        baseUrl: gpu,
        auth: { apiKeySecret: "GPU_KEY" },
        models: [
          { id: "qwen-32b", upstream: "qwen2.5-coder-32b-instruct", contextLength: 32768, maxOutputTokens: 8192, capabilities: ["tools"] },
          { id: "small", upstream: "tiny", contextLength: 4096 },
        ],
      },
      { id: "laptop", baseUrl: laptop },
      { id: "down", baseUrl: down, models: [{ id: "big", contextLength: 8192 }] },
      { id: "locked", baseUrl: locked },
    ],
    aliases: { coder: ["gpu/qwen-32b", "down/big"] },
  });
});
afterEach(() => hosts?.restore());

/** The isolate's clock, only ever moved forward (the config and probe caches compare times). */
let clockOffset = 0;
beforeAll(() => {
  const real = Date.now.bind(Date);
  vi.spyOn(Date, "now").mockImplementation(() => real() + clockOffset);
});
afterAll(() => vi.restoreAllMocks());

const world = (extra: Record<string, HostHandler> = {}) =>
  fakeHosts({
    [`${gpu}/v1/models`]: () => hostJson(FIXTURES.models),
    [`${laptop}/v1/models`]: () => hostJson(ROUTER_MODE),
    [`${laptop}/props`]: () => hostJson(ALPHA_PROPS),
    [`${gpu}/slots`]: () => hostJson(ONE_BUSY),
    [`${laptop}/slots`]: () => hostJson(slotsBody),
    [`${down}/v1/models`]: refused,
    [`${locked}/v1/models`]: () => hostJson(FIXTURES.error401, 401),
    ...extra,
  });

describe("GET /api/catalog", () => {
  it("lists every provider with its health and every model with its effective per-slot window", async () => {
    hosts = world();
    const res = await call("/api/catalog");
    expect(res.status).toBe(200);
    const body = await res.json<any>();
    expect(Object.keys(body)).toEqual(["providers", "models", "aliases", "generatedAt"]);
    expect(body.providers).toEqual([
      // Busy slots over the models each host has loaded: gpu's own model, the router-mode host's loaded alpha only.
      { id: "gpu", label: "GPU box", status: "online", latencyMs: expect.any(Number), loadedModels: ["gpu/small"], slots: { total: 4, busy: 1 } },
      { id: "laptop", label: "laptop", status: "online", latencyMs: expect.any(Number), loadedModels: ["laptop/alpha"], slots: { total: 4, busy: 0 } },
      { id: "down", label: "down", status: "offline", latencyMs: expect.any(Number), reason: "unreachable", error: expect.stringMatching(/unreachable/) },
      { id: "locked", label: "locked", status: "unauthorized", latencyMs: expect.any(Number), reason: "unauthorized", error: expect.stringMatching(/refused the router's credentials/) },
    ]);
    const byId = Object.fromEntries(body.models.map((m: any) => [m.id, m]));
    expect(Object.keys(byId)).toEqual(["gpu/qwen-32b", "gpu/small", "laptop/alpha", "laptop/beta", "down/big"]);
    // Configured, not on the host right now: the configured window.
    expect(byId["gpu/qwen-32b"]).toMatchObject({ provider: "gpu", model: "qwen-32b", source: "config", status: "online", contextLength: 32768, maxOutputTokens: 8192, capabilities: ["tools"] });
    // Configured as 4096, but the host serves it with 1,024 per slot (-c 4096 -np 4): the host wins.
    expect(byId["gpu/small"]).toMatchObject({ source: "config", contextLength: 1024, contextTrain: 65536 });
    // Router mode, loaded: its /props (3000); unloaded: --ctx-size 4096 / --parallel 2, and it was never asked.
    expect(byId["laptop/alpha"]).toMatchObject({ source: "discovered", status: "online", loaded: true, contextLength: 3000, contextTrain: 65536 });
    expect(byId["laptop/beta"]).toMatchObject({ source: "discovered", status: "online", loaded: false, contextLength: 2048 });
    expect(byId["down/big"]).toMatchObject({ status: "offline", contextLength: 8192 });
    expect(body.aliases).toEqual({ coder: ["gpu/qwen-32b", "down/big"] });
    expect(Date.parse(body.generatedAt)).toBeGreaterThan(Date.now() - 60_000);

    const propsCalls = hosts.calls.filter((c) => c.url.includes("/props"));
    expect(propsCalls.map((c) => c.url)).toEqual([`${laptop}/props?model=alpha&autoload=false`]);
    // Nothing here loads a model: beta's slots are not asked for, and every slots question says autoload=false.
    const laptopSlots = hosts.calls.filter((c) => c.url.startsWith(`${laptop}/slots`)).map((c) => c.url);
    expect(laptopSlots).toEqual([`${laptop}/slots?model=alpha&autoload=false`]);
    expect(hosts.calls.find((c) => c.url.startsWith(gpu))!.headers.get("authorization")).toBe("Bearer sk-upstream-SECRET-gpu");
    expect(JSON.stringify(body)).not.toMatch(/SECRET|\.test/);
  });

  it("a host that answered once and is down now keeps its models listed, offline, with its last known windows and why", async () => {
    let laptopUp = true;
    hosts = world({ [`${laptop}/v1/models`]: (r, b) => (laptopUp ? hostJson(ROUTER_MODE) : refused(r, b)) });
    const before = await (await call("/api/catalog")).json<any>();
    expect(before.models.filter((m: any) => m.provider === "laptop").map((m: any) => [m.id, m.status])).toEqual([["laptop/alpha", "online"], ["laptop/beta", "online"]]);

    laptopUp = false;
    clockOffset += 6_000; // past the probe cache
    const after = await (await call("/api/catalog")).json<any>();
    expect(after.providers.find((p: any) => p.id === "laptop")).toEqual({ id: "laptop", label: "laptop", status: "offline", latencyMs: expect.any(Number), reason: "unreachable", error: 'provider "laptop" is unreachable' });
    expect(after.models.filter((m: any) => m.provider === "laptop")).toEqual([
      expect.objectContaining({ id: "laptop/alpha", source: "discovered", status: "offline", contextLength: 2048, contextTrain: 65536 }),
      expect.objectContaining({ id: "laptop/beta", source: "discovered", status: "offline", contextLength: 2048 }),
    ]);
    // No load state is claimed for a host that cannot be asked, and nothing is asked of it.
    expect(after.models.find((m: any) => m.id === "laptop/alpha").loaded).toBeUndefined();
    const detail = await (await call("/api/models/laptop/alpha")).json<any>();
    expect(detail).toMatchObject({ id: "laptop/alpha", status: "offline", reason: "unreachable", slots: null, props: null });
  });

  it("?live=false probes nothing: status unknown, configured windows only", async () => {
    hosts = fakeHosts({});
    const body = await (await call("/api/catalog?live=false")).json<any>();
    expect(body.providers.map((p: any) => p.status)).toEqual(["unknown", "unknown", "unknown", "unknown"]);
    expect(body.models.map((m: any) => [m.id, m.status, m.contextLength])).toEqual([
      ["gpu/qwen-32b", "unknown", 32768],
      ["gpu/small", "unknown", 4096],
      ["down/big", "unknown", 8192],
    ]);
    expect(hosts.calls).toHaveLength(0);
  });

  it("refuses a live value it does not know", async () => {
    hosts = fakeHosts({});
    const res = await call("/api/catalog?live=maybe");
    expect(res.status).toBe(400);
    expect((await res.json<any>()).error).toMatchObject({ code: "invalid_query", param: "live" });
  });

  it("a host that accepts no connection within connectMs is offline for a timeout, not an unnamed error", async () => {
    await useConfig({ version: 1, providers: [{ id: "s1", baseUrl: down, timeouts: { connectMs: 300 }, models: [{ id: "m" }] }] });
    hosts = fakeHosts({ [`${down}/v1/models`]: hang, [`${down}/health`]: hang });
    const body = await (await call("/api/catalog")).json<any>();
    expect(body.providers.map((p: any) => [p.status, p.reason, p.error])).toEqual([["offline", "timeout", expect.stringMatching(/accepted no connection within 300 ms/)]]);
  });

  it("probes hosts in parallel with a short deadline and caches them: two silent hosts cost one deadline, once", async () => {
    await useConfig({
      version: 1,
      providers: [
        { id: "s1", baseUrl: down, timeouts: { firstByteMs: 400 }, models: [{ id: "m" }] },
        { id: "s2", baseUrl: locked, timeouts: { firstByteMs: 400 }, models: [{ id: "m" }] },
      ],
    });
    hosts = fakeHosts({ [`${down}/v1/models`]: hang, [`${locked}/v1/models`]: hang });
    let started = Date.now();
    const first = await (await call("/api/catalog")).json<any>();
    const firstMs = Date.now() - started;
    expect(first.providers.map((p: any) => [p.status, p.reason, p.error])).toEqual([
      ["offline", "timeout", expect.stringMatching(/did not answer within 400 ms/)],
      ["offline", "timeout", expect.stringMatching(/did not answer within 400 ms/)],
    ]);
    expect(firstMs).toBeGreaterThanOrEqual(380);
    expect(firstMs).toBeLessThan(780); // in series it would be 800+
    started = Date.now();
    await call("/api/catalog");
    expect(Date.now() - started).toBeLessThan(200);
    expect(hosts.calls).toHaveLength(2);
  });

  it("needs the client key", async () => {
    hosts = fakeHosts({});
    const res = await call("/api/catalog", { key: null });
    expect(res.status).toBe(401);
    expect((await res.json<any>()).error.code).toBe("invalid_api_key");
  });
});

describe("GET /api/models/{provider}/{model...}", () => {
  it("is the catalog entry plus slot use and the host's props, asked for that model without loading anything", async () => {
    hosts = world({ [`${gpu}/slots`]: () => hostJson(ONE_BUSY), [`${gpu}/props`]: () => hostJson(propsBody) });
    const res = await call("/api/models/gpu/small");
    expect(res.status).toBe(200);
    const body = await res.json<any>();
    expect(body).toMatchObject({ id: "gpu/small", provider: "gpu", model: "small", status: "online", contextLength: 1024, slots: { total: 4, busy: 1 } });
    expect(body.props).toMatchObject({ total_slots: 4, default_generation_settings: { n_ctx: 1024 }, build_info: "b11669-Debian" });
    const asked = hosts.calls.filter((c) => /\/(slots|props)/.test(c.url)).map((c) => c.url).sort();
    expect(asked).toEqual([`${gpu}/props?model=tiny&autoload=false`, `${gpu}/slots?model=tiny&autoload=false`]);
    // Only the model's own provider is probed.
    expect(hosts.calls.some((c) => c.url.startsWith(laptop) || c.url.startsWith(down))).toBe(false);
  });

  it("takes ids with '/' and ':' raw or percent-encoded, and never touches an unloaded router-mode model", async () => {
    const list = ROUTER_MODE.replace('"id":"beta"', '"id":"org/repo-GGUF:Q4_K_M"');
    hosts = world({ [`${laptop}/v1/models`]: () => hostJson(list) });
    for (const path of ["/api/models/laptop/org/repo-GGUF:Q4_K_M", "/api/models/laptop%2Forg%2Frepo-GGUF%3AQ4_K_M"]) {
      const res = await call(path);
      expect(res.status, path).toBe(200);
      expect(await res.json()).toMatchObject({ id: "laptop/org/repo-GGUF:Q4_K_M", loaded: false, contextLength: 2048, slots: null, props: null });
    }
    expect(hosts.calls.filter((c) => c.url.includes("repo-GGUF"))).toHaveLength(0);
  });

  it("a configured model on a host that is down: 200 with status offline and why, no slots or props", async () => {
    hosts = world();
    const body = await (await call("/api/models/down/big")).json<any>();
    expect(body).toMatchObject({ id: "down/big", status: "offline", contextLength: 8192, slots: null, props: null, reason: "unreachable", error: expect.stringMatching(/unreachable/) });
  });

  it.each([
    ["/api/models/gpu/llama-70b", 404, "model_not_found"],
    ["/api/models/nas/tiny", 404, "model_not_found"],
    ["/api/models/down/some-discovered", 502, "host_unreachable"],
    ["/api/models/locked/anything", 502, "upstream_unauthorized"],
  ])("%s -> %i %s", async (path, status, code) => {
    hosts = world();
    const res = await call(path);
    expect(res.status).toBe(status);
    const body = await res.json<any>();
    expect(body.error).toMatchObject({ code, message: expect.any(String), type: expect.any(String) });
    expect(Object.keys(body.error)).toEqual(expect.arrayContaining(["message", "type", "param", "code"]));
  });
});
