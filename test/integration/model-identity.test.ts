// One identity for every model: the names inference accepts are the names the catalog lists, a provider's id is never
// searched elsewhere, a bare name means the same thing while a host is down, and a host cannot smuggle a name into a
// header or a generated config.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, onTestFinished, vi } from "vitest";
import { fakeHosts, hostJson, refused, type HostHandler } from "../helpers/fake-hosts.js";
import { FIXTURES } from "../helpers/fixtures.js";
import { call, uniqueHost, useConfig } from "../helpers/worker.js";

let gpu: string, laptop: string, box: string;
let hosts: ReturnType<typeof fakeHosts> | undefined;
const CHAT = { messages: [{ role: "user", content: "hi" }], max_tokens: 4 };

/** A host's `/v1/models` with these entries (llama-server's shape: `id` and `aliases`). */
const list = (...entries: { id: string; aliases?: string[] }[]) => () => hostJson({ object: "list", data: entries.map((e) => ({ object: "model", owned_by: "llamacpp", aliases: [], ...e })) });

beforeEach(async () => {
  [gpu, laptop, box] = ["gpu", "laptop", "box"].map(uniqueHost) as [string, string, string];
  await useConfig({
    version: 1,
    providers: [
      // Started without --alias: the host lists the model by its file path, and accepts an alias too.
      { id: "gpu", baseUrl: gpu, models: [{ id: "qwen-32b", upstream: "models/qwen.gguf", contextLength: 32768 }] },
      { id: "laptop", baseUrl: laptop },
      { id: "box", baseUrl: box },
    ],
  });
});
afterEach(() => hosts?.restore());

/**
 * The isolate's clock, moved forward by {@link later} to get past the probe cache. Only ever forward: the config
 * and probe caches compare times, and a clock that jumped back would make them serve an earlier test's state.
 */
let offset = 0;
beforeAll(() => {
  const real = Date.now.bind(Date);
  vi.spyOn(Date, "now").mockImplementation(() => real() + offset);
});
afterAll(() => vi.restoreAllMocks());

const world = (extra: Record<string, HostHandler> = {}) =>
  fakeHosts({
    [`${gpu}/v1/models`]: list({ id: "models/qwen.gguf", aliases: ["qwen-coder"] }),
    // Router mode: one of its models is literally named like a composite id on another provider.
    [`${laptop}/v1/models`]: list({ id: "alpha" }, { id: "gpu/x" }, { id: "tiny" }),
    [`${box}/v1/models`]: list({ id: "tiny" }),
    [`${gpu}/v1/chat/completions`]: () => hostJson(FIXTURES.chat),
    [`${laptop}/v1/chat/completions`]: () => hostJson(FIXTURES.chat),
    [`${box}/v1/chat/completions`]: () => hostJson(FIXTURES.chat),
    ...extra,
  });

/** Moves the isolate's clock past the probe cache, so the next request asks the hosts again. */
function later(ms = 6_000) {
  offset += ms;
}

describe("one list of what is served", () => {
  it("a host alias or the host's file-path id of a configured model is the same model everywhere", async () => {
    hosts = world();
    for (const name of ["gpu/qwen-coder", "gpu/models/qwen.gguf", "gpu/qwen-32b"]) {
      const chat = await call("/v1/chat/completions", { json: { model: name, ...CHAT } });
      expect(chat.status, name).toBe(200);
      expect(chat.headers.get("x-boocode-route")).toBe("gpu/qwen-32b");
      expect(hosts.calls.at(-1)!.json().model).toBe("models/qwen.gguf");
      const model = await call(`/v1/models/${name}`);
      expect(model.status, name).toBe(200);
      expect(await model.json()).toMatchObject({ id: "gpu/qwen-32b", object: "model" });
      const detail = await call(`/api/models/${encodeURIComponent(name)}`);
      expect(detail.status, name).toBe(200);
      expect(await detail.json()).toMatchObject({ id: "gpu/qwen-32b", upstream: "models/qwen.gguf" });
    }
    const listed = (await (await call("/v1/models")).json<any>()).data.map((m: any) => m.id);
    expect(listed).toEqual(["gpu/qwen-32b", "laptop/alpha", "laptop/gpu/x", "laptop/tiny", "box/tiny"]);
    const catalog = (await (await call("/api/catalog")).json<any>()).models.map((m: any) => m.id);
    expect(catalog).toEqual(listed);
  });
});

describe("a composite id on a configured provider", () => {
  it("is that provider's model or 404 naming what it has, never another host's model of that literal name", async () => {
    hosts = world();
    const res = await call("/v1/chat/completions", { json: { model: "gpu/x", ...CHAT } });
    expect(res.status).toBe(404);
    const error = (await res.json<any>()).error;
    expect(error).toMatchObject({ code: "model_not_found", param: "model", type: "invalid_request_error" });
    expect(error.message).toBe('provider "gpu" has no such model; its models: gpu/qwen-32b; GET /v1/models lists every model as provider/model');
    expect(hosts.calls.filter((c) => c.url.includes("/chat/completions"))).toHaveLength(0);
    expect((await call("/v1/models/gpu/x")).status).toBe(404);
    // The router-mode model is reachable by its own composite id.
    expect((await call("/v1/chat/completions", { json: { model: "laptop/gpu/x", ...CHAT } })).headers.get("x-boocode-route")).toBe("laptop/gpu/x");
  });
});

describe("a bare name means the same whether its hosts are up or down", () => {
  it("stays ambiguous once a host that has it went down, and the host's models stay listed, offline", async () => {
    let boxUp = true;
    hosts = world({
      [`${box}/v1/models`]: (r, b) => (boxUp ? list({ id: "tiny" })() : refused(r, b)),
      [`${box}/v1/chat/completions`]: (r, b) => (boxUp ? hostJson(FIXTURES.chat) : refused(r, b)),
    });
    const ambiguous = { code: "ambiguous_model", param: "model", candidates: ["laptop/tiny", "box/tiny"] };
    expect((await (await call("/v1/chat/completions", { json: { model: "tiny", ...CHAT } })).json<any>()).error).toMatchObject(ambiguous);

    boxUp = false;
    later();
    const res = await call("/v1/chat/completions", { json: { model: "tiny", ...CHAT } });
    expect(res.status).toBe(400);
    expect((await res.json<any>()).error).toMatchObject(ambiguous);
    expect(hosts.calls.filter((c) => c.url.includes("/chat/completions"))).toHaveLength(0);

    const models = (await (await call("/v1/models")).json<any>()).data;
    expect(models.find((m: any) => m.id === "box/tiny")).toMatchObject({ object: "model", owned_by: "box", status: "offline" });
    expect(models.find((m: any) => m.id === "laptop/tiny")).toMatchObject({ status: "online" });
    const catalog = await (await call("/api/catalog")).json<any>();
    expect(catalog.providers.find((p: any) => p.id === "box")).toMatchObject({ status: "offline", reason: "unreachable", error: expect.stringMatching(/unreachable/) });
    expect(catalog.models.find((m: any) => m.id === "box/tiny")).toMatchObject({ status: "offline", source: "discovered" });
    // Asking for it by its composite id reaches for the host, which is down: 502, not "no such model".
    const direct = await call("/v1/chat/completions", { json: { model: "box/tiny", ...CHAT } });
    expect(direct.status).toBe(502);
    expect((await direct.json<any>()).error.code).toBe("host_unreachable");
  });
});

describe("names a host reports that break the model-id rule", () => {
  it("are dropped from every list and logged once each, escaped; a request naming one is a 400", async () => {
    const bad = ["two\nlines", "\u6a21\u578b", "has space"];
    hosts = world({ [`${laptop}/v1/models`]: list({ id: "alpha", aliases: ["al\u00e9"] }, ...bad.map((id) => ({ id }))) });
    const warnings: string[] = [];
    const warn = vi.spyOn(console, "warn").mockImplementation((line: unknown) => void warnings.push(String(line)));
    onTestFinished(() => warn.mockRestore());

    const ids = (await (await call("/v1/models")).json<any>()).data.map((m: any) => m.id);
    expect(ids).toEqual(["gpu/qwen-32b", "laptop/alpha", "box/tiny"]);
    later();
    await call("/api/catalog");
    const env = await (await call("/api/agent-config?client=claude-code&model=laptop/alpha")).text();
    expect(env).not.toMatch(/two|lines|\u6a21|has space/);
    expect(hosts.calls.filter((c) => c.url === `${laptop}/v1/models`).length).toBeGreaterThanOrEqual(2);

    const dropped = warnings.map((w) => JSON.parse(w)).filter((w) => w.provider === "laptop").map((w) => w.name);
    expect(dropped.sort()).toEqual(["al\\u00e9", "has space", "two\\u000alines", "\\u6a21\\u578b"].sort());
    for (const w of warnings) expect(w).toMatch(/^[\x20-\x7e]+$/);

    for (const model of ["laptop/\u6a21\u578b", "\u6a21\u578b", "laptop/two\nlines"]) {
      const res = await call("/v1/chat/completions", { json: { model, ...CHAT } });
      expect(res.status, model).toBe(400);
      expect((await res.json<any>()).error).toMatchObject({ code: "invalid_body", param: "model" });
    }
    expect(hosts.calls.filter((c) => c.url.includes("/chat/completions"))).toHaveLength(0);
  });
});
