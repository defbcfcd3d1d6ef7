// An alias may say how its members are used: `{ members, policy: "replicas" | "ordered" }`. The string and array
// forms keep their meaning (ordered), and every reader turns an alias into members + policy the same way.
import { describe, expect, it } from "vitest";
import { opencodeConfig } from "../../src/agents/configs.js";
import type { CatalogModel } from "../../src/catalog/catalog.js";
import { aliasMembers } from "../../src/config/aliases.js";
import { ProvidersConfigError, parseProvidersConfig } from "../../src/config/schema.js";
import { providersToProbe, resolveModel } from "../../src/resolver/resolve.js";
import { TWO_HOSTS } from "../helpers/configs.js";

const withAliases = (aliases: Record<string, unknown>): any => ({ ...structuredClone(TWO_HOSTS), aliases });
const messageOf = (input: unknown): string => {
  try {
    parseProvidersConfig(input);
  } catch (err) {
    if (err instanceof ProvidersConfigError) return err.message;
    throw err;
  }
  throw new Error("expected the config to be rejected");
};

describe("alias forms in the providers config", () => {
  it("accepts the string, array and object forms side by side", () => {
    const config = parseProvidersConfig(
      withAliases({ small: "edge/tiny", chain: ["gpu/qwen-32b", "laptop/qwen-7b"], pool: { members: ["gpu/tiny", "laptop/tiny"], policy: "replicas" }, fallback: { members: ["gpu/qwen-32b", "edge/tiny"], policy: "ordered" } }),
    );
    expect(aliasMembers(config.aliases.small!)).toEqual({ members: ["edge/tiny"], policy: "ordered", continuation: true });
    expect(aliasMembers(config.aliases.chain!)).toEqual({ members: ["gpu/qwen-32b", "laptop/qwen-7b"], policy: "ordered", continuation: true });
    expect(aliasMembers(config.aliases.pool!)).toEqual({ members: ["gpu/tiny", "laptop/tiny"], policy: "replicas", continuation: true });
    expect(aliasMembers(config.aliases.fallback!)).toEqual({ members: ["gpu/qwen-32b", "edge/tiny"], policy: "ordered", continuation: true });
  });

  it("continuation is on unless the object form switches it off; only a boolean is accepted", () => {
    const config = parseProvidersConfig(withAliases({ on: { members: ["gpu/tiny"], policy: "replicas", continuation: true }, off: { members: ["gpu/tiny", "laptop/tiny"], policy: "replicas", continuation: false } }));
    expect(aliasMembers(config.aliases.on!).continuation).toBe(true);
    expect(aliasMembers(config.aliases.off!)).toEqual({ members: ["gpu/tiny", "laptop/tiny"], policy: "replicas", continuation: false });
    expect(messageOf(withAliases({ pool: { members: ["gpu/tiny"], policy: "replicas", continuation: "no" } }))).toMatch(/\$\.aliases\.pool\.continuation: Invalid input: expected boolean/);
  });

  it("rejects an unknown policy, naming the path and the two allowed values", () => {
    const message = messageOf(withAliases({ pool: { members: ["gpu/tiny", "laptop/tiny"], policy: "fastest" } }));
    expect(message).toContain('$.aliases.pool.policy: must be "replicas" (the same model on several hosts, routed by load and cache) or "ordered"');
  });

  it("requires a policy and at least one member in the object form, and refuses unknown keys", () => {
    expect(messageOf(withAliases({ pool: { members: ["gpu/tiny"] } }))).toContain("$.aliases.pool.policy: must be");
    expect(messageOf(withAliases({ pool: { members: [], policy: "replicas" } }))).toMatch(/\$\.aliases\.pool\.members: Too small/);
    expect(messageOf(withAliases({ pool: { members: ["gpu/tiny"], policy: "replicas", weights: [1] } }))).toMatch(/\$\.aliases\.pool: Unrecognized key: "weights"/);
  });

  it("checks that every member exists, with the path of the member", () => {
    const message = messageOf(withAliases({ pool: { members: ["gpu/tiny", "nas/qwen", "edge/huge"], policy: "replicas" } }));
    expect(message).toMatch(/\$\.aliases\.pool\.members\[1\]: alias "pool" points to "nas\/qwen", but no provider "nas"/);
    expect(message).toMatch(/\$\.aliases\.pool\.members\[2\]: .*provider "edge" has no model "huge"/);
  });

  it("does not let an object alias chain to another alias, nor list a member twice", () => {
    const chained = messageOf(withAliases({ small: "edge/tiny", pool: { members: ["small", "gpu/tiny"], policy: "replicas" } }));
    expect(chained).toContain('$.aliases.pool.members[0]: alias "pool" points to "small", which is an alias: aliases do not chain');
    const twice = messageOf(withAliases({ pool: { members: ["gpu/tiny", "gpu/tiny"], policy: "replicas" } }));
    expect(twice).toContain('$.aliases.pool: alias "pool" lists a member twice');
  });

  it("says which alias named an alias, whatever form the named one has", () => {
    const message = messageOf(withAliases({ pool: { members: ["gpu/tiny", "laptop/tiny"], policy: "replicas" }, best: "pool" }));
    expect(message).toContain('$.aliases.best: alias "best" points to "pool", which is an alias: aliases do not chain, so name a provider/model (e.g. one of "gpu/tiny", "laptop/tiny")');
  });
});

describe("resolution tells the policy", () => {
  const config = parseProvidersConfig(withAliases({ chain: ["gpu/qwen-32b", "laptop/qwen-7b"], pool: { members: ["laptop/qwen-7b", "gpu/qwen-32b"], policy: "replicas" } }));

  it("a replicas alias resolves to its members in config order with policy replicas", () => {
    const r = resolveModel(config, "pool");
    expect(r).toMatchObject({ ok: true, via: "alias", policy: "replicas" });
    expect(r.ok && r.candidates.map((c) => c.id)).toEqual(["laptop/qwen-7b", "gpu/qwen-32b"]);
  });

  it("an array alias, a composite id and a bare name resolve with policy ordered", () => {
    expect(resolveModel(config, "chain")).toMatchObject({ ok: true, policy: "ordered" });
    expect(resolveModel(config, "gpu/qwen-32b")).toMatchObject({ ok: true, via: "id", policy: "ordered" });
    expect(resolveModel(config, "qwen-7b")).toMatchObject({ ok: true, via: "bare", policy: "ordered" });
  });

  it("probes the members of an object alias that could change how it resolves", () => {
    const discovering = parseProvidersConfig(withAliases({ pool: { members: ["gpu/other", "edge/tiny"], policy: "replicas" } }));
    expect(providersToProbe(discovering, "pool").map((p) => p.id)).toEqual(["gpu"]);
  });
});

describe("readers of config.aliases handle the object form", () => {
  it("opencode's config offers a replicas alias with the limits every member can meet", () => {
    const models = [
      { id: "gpu/qwen-32b", label: "Qwen 32B", contextLength: 32768, status: "online" },
      { id: "laptop/qwen-32b", label: "Qwen 32B (laptop)", contextLength: 16384, status: "online" },
    ] as CatalogModel[];
    const catalog = { models, aliases: { coder: { members: ["gpu/qwen-32b", "laptop/qwen-32b"], policy: "replicas" } } } as any;
    const offered = Object.values(opencodeConfig(catalog, "http://127.0.0.1:8787").provider)[0]!.models;
    expect(offered.coder).toEqual({ name: "coder (gpu/qwen-32b | laptop/qwen-32b)", limit: { context: 16384, output: 2048 } });
  });
});
