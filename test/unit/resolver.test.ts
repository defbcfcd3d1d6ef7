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
