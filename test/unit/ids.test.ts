import { describe, expect, it } from "vitest";
import { compositeId, splitModelId } from "../../src/resolver/ids.js";

describe("composite ids", () => {
  it.each([
    ["gpu/qwen-32b", { provider: "gpu", model: "qwen-32b" }],
    ["router/org/repo-GGUF:Q4_K_M", { provider: "router", model: "org/repo-GGUF:Q4_K_M" }],
    ["a/b/c/d", { provider: "a", model: "b/c/d" }],
    ["local//opt/models/x.gguf", { provider: "local", model: "/opt/models/x.gguf" }],
  ])("splits %s at the first '/'", (id, parts) => {
    expect(splitModelId(id)).toEqual(parts);
    expect(compositeId(parts.provider, parts.model)).toBe(id);
  });

  it.each(["qwen", "/qwen", "gpu/", ""])("%j is not a composite id", (id) => {
    expect(splitModelId(id)).toBeUndefined();
  });
});
