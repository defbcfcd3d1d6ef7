import { describe, expect, it } from "vitest";
import { parseProvidersConfig } from "../../src/config/schema.js";
import { listModels, providersToProbe, resolveModel } from "../../src/resolver/resolve.js";
import { TWO_HOSTS } from "../helpers/configs.js";

const config = parseProvidersConfig(TWO_HOSTS);
const both = new Map([
  ["gpu", ["qwen2.5-coder-32b-instruct", "tiny", "org/repo-GGUF:Q4_K_M"]],
  ["laptop", ["qwen-7b", "tiny"]],
]);

const ok = (r: ReturnType<typeof resolveModel>) => {
  if (!r.ok) throw new Error(`expected a route, got ${r.error}: ${r.message}`);
  return r;
};

describe("resolveModel", () => {
  it("resolves a configured composite id to its host and upstream name", () => {
    const r = ok(resolveModel(config, "gpu/qwen-32b"));
    expect(r.via).toBe("id");
    expect(r.candidates).toHaveLength(1);
    expect(r.candidates[0]).toMatchObject({ id: "gpu/qwen-32b", model: "qwen-32b", upstream: "qwen2.5-coder-32b-instruct", source: "config" });
    expect(r.candidates[0]!.provider.baseUrl).toBe("http://gpu.test");
  });

  it("resolves a discovered model whose name contains '/' and ':'", () => {
    const r = ok(resolveModel(config, "gpu/org/repo-GGUF:Q4_K_M", both));
    expect(r.candidates[0]).toMatchObject({ id: "gpu/org/repo-GGUF:Q4_K_M", upstream: "org/repo-GGUF:Q4_K_M", source: "discovered" });
  });

  it("keeps the same model name on two hosts apart", () => {
    expect(ok(resolveModel(config, "gpu/tiny", both)).candidates[0]!.provider.id).toBe("gpu");
    expect(ok(resolveModel(config, "laptop/tiny", both)).candidates[0]!.provider.id).toBe("laptop");
  });

  it("refuses a bare name that two hosts have, listing both", () => {
    const r = resolveModel(config, "tiny", both);
    expect(r).toMatchObject({ ok: false, error: "ambiguous", candidates: ["gpu/tiny", "laptop/tiny", "edge/tiny"] });
  });

  it("resolves a bare name that exactly one host has", () => {
    const r = ok(resolveModel(config, "qwen-7b", both));
    expect(r.via).toBe("bare");
    expect(r.candidates.map((c) => c.id)).toEqual(["laptop/qwen-7b"]);
  });

  it("resolves an alias pool to its members in order", () => {
    const r = ok(resolveModel(config, "coder", both));
    expect(r.via).toBe("alias");
    expect(r.candidates.map((c) => c.id)).toEqual(["gpu/qwen-32b", "laptop/qwen-7b"]);
    expect(ok(resolveModel(config, "small")).candidates.map((c) => c.id)).toEqual(["edge/tiny"]);
  });

  it("prefers an exact composite id over an alias and an alias over a bare name", () => {
    const withAlias = parseProvidersConfig({ ...TWO_HOSTS, aliases: { "qwen-7b": "gpu/qwen-32b" } });
    expect(ok(resolveModel(withAlias, "qwen-7b", both)).candidates[0]!.id).toBe("gpu/qwen-32b");
  });

  it("says not found for an unknown provider, an unknown bare name, and a model a reachable host lacks", () => {
    expect(resolveModel(config, "nas/qwen", both)).toMatchObject({ ok: false, error: "not_found" });
    expect(resolveModel(config, "llama-70b", both)).toMatchObject({ ok: false, error: "not_found" });
    expect(resolveModel(config, "laptop/llama-70b", both)).toMatchObject({ ok: false, error: "not_found" });
    expect(resolveModel(config, "edge/other", both)).toMatchObject({ ok: false, error: "not_found" });
  });

  it("routes a composite id optimistically when the discovering host's list is unknown (the host has the last word)", () => {
    const r = ok(resolveModel(config, "laptop/llama-70b", new Map()));
    expect(r.candidates[0]).toMatchObject({ id: "laptop/llama-70b", upstream: "llama-70b", source: "unverified" });
  });

  it("probes nothing for a configured composite id, one host for a discovered one, all discovering hosts for a bare name", () => {
    expect(providersToProbe(config, "gpu/qwen-32b")).toEqual([]);
    expect(providersToProbe(config, "laptop/phi").map((p) => p.id)).toEqual(["laptop"]);
    expect(providersToProbe(config, "edge/tiny")).toEqual([]);
    expect(providersToProbe(config, "phi").map((p) => p.id)).toEqual(["gpu", "laptop"]);
    expect(providersToProbe(config, "coder")).toEqual([]);
  });
});

describe("a composite id on a configured provider", () => {
  it("is that provider's model or not found, never a bare-name search elsewhere (a host listing a model named gpu/x)", () => {
    const routerMode = new Map([["gpu", ["tiny"]], ["laptop", ["gpu/x", "qwen-7b"]]]);
    const r = resolveModel(config, "gpu/x", routerMode);
    expect(r).toMatchObject({ ok: false, error: "not_found", candidates: [] });
    if (r.ok) return;
    expect(r.message).toBe('provider "gpu" has no such model; its models: gpu/qwen-32b, gpu/tiny');
    // The literal name is still reachable the only way it can be meant: on its own provider.
    expect(ok(resolveModel(config, "laptop/gpu/x", routerMode)).candidates[0]!.id).toBe("laptop/gpu/x");
  });

  it("says when the provider lists nothing, and shortens a long list", () => {
    const many = new Map([["laptop", Array.from({ length: 20 }, (_, i) => `m${i}`)]]);
    const r = resolveModel(parseProvidersConfig({ version: 1, providers: [{ id: "laptop", baseUrl: "http://l.test" }] }), "laptop/x", many);
    expect(!r.ok && r.message).toMatch(/its models: laptop\/m0, .*laptop\/m11, and 8 more$/);
    const none = resolveModel(parseProvidersConfig({ version: 1, providers: [{ id: "e", baseUrl: "http://e.test", discover: false }] }), "e/x");
    expect(!none.ok && none.message).toBe('provider "e" has no such model; it lists no models');
  });
});

describe("one list of what is served: every name a host accepts resolves to the listed id", () => {
  const hosts = new Map([
    ["gpu", { models: [{ name: "qwen2.5-coder-32b-instruct", aliases: ["qwen-coder"] }, { name: "tiny", aliases: ["tiny-q4"] }] }],
    ["laptop", { models: [{ name: "/srv/models/phi.gguf" }, { name: "models/phi.gguf", aliases: ["phi"] }] }],
  ]);

  it.each([
    ["gpu/qwen-coder", "gpu/qwen-32b"],
    ["gpu/qwen2.5-coder-32b-instruct", "gpu/qwen-32b"],
    ["gpu/tiny-q4", "gpu/tiny"],
    ["laptop/phi", "laptop/models/phi.gguf"],
    ["tiny-q4", "gpu/tiny"],
  ])("%s -> %s", (requested, id) => {
    const route = ok(resolveModel(config, requested, hosts)).candidates[0]!;
    expect(route.id).toBe(id);
    // ... and the listed id is in the list the catalog shows.
    expect(listModels(config, hosts).map((m) => m.id)).toContain(id);
  });

  it("lists a host's aliases as names of its entry, not as entries of their own", () => {
    const gpu = listModels(config, hosts).filter((m) => m.provider.id === "gpu");
    expect(gpu.map((m) => [m.id, m.upstream, m.names])).toEqual([
      ["gpu/qwen-32b", "qwen2.5-coder-32b-instruct", ["qwen2.5-coder-32b-instruct", "qwen-coder"]],
      ["gpu/tiny", "tiny", ["tiny-q4"]],
    ]);
  });
});

describe("a bare name means the same whether its hosts are up or down", () => {
  const up = new Map([["gpu", { models: [{ name: "tiny" }] }], ["laptop", { models: [{ name: "tiny" }] }]]);
  const laptopDown = new Map([["gpu", { models: [{ name: "tiny" }] }], ["laptop", { models: [{ name: "tiny" }], stale: true }]]);

  it("stays ambiguous while one host is down (its last-known list still counts)", () => {
    expect(resolveModel(config, "tiny", up)).toMatchObject({ ok: false, error: "ambiguous" });
    expect(resolveModel(config, "tiny", laptopDown)).toMatchObject({ ok: false, error: "ambiguous", candidates: ["gpu/tiny", "laptop/tiny", "edge/tiny"] });
  });

  it("a down host's last-known model still resolves to it (the call then reports the host down), and an unlisted one is left to the host", () => {
    expect(ok(resolveModel(config, "laptop/tiny", laptopDown)).candidates[0]).toMatchObject({ id: "laptop/tiny", source: "discovered" });
    expect(ok(resolveModel(config, "laptop/phi", laptopDown)).candidates[0]).toMatchObject({ id: "laptop/phi", source: "unverified" });
    expect(resolveModel(config, "laptop/phi", up)).toMatchObject({ ok: false, error: "not_found" });
  });
});

describe("listModels", () => {
  it("lists configured models first, then discovered ones not already named by id or upstream", () => {
    expect(listModels(config, both).map((m) => `${m.id} (${m.source})`)).toEqual([
      "gpu/qwen-32b (config)",
      "gpu/tiny (discovered)",
      "gpu/org/repo-GGUF:Q4_K_M (discovered)",
      "laptop/qwen-7b (config)",
      "laptop/tiny (discovered)",
      "edge/tiny (config)",
    ]);
  });
});
