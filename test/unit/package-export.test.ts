// The resolver is importable from plain Node 20 as `boocode-router/resolver` (compiled JS + types via "exports"),
// which is how the app's server and BooCoder share it. Runs a real `node` process, not vitest's transform.
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

describe("package export boocode-router/resolver", () => {
  it("is declared with compiled JS and types", () => {
    const pkg = JSON.parse(readFileSync("package.json", "utf8"));
    expect(pkg.exports["./resolver"]).toEqual({ types: "./dist/resolver/index.d.ts", import: "./dist/resolver/index.js" });
    expect(existsSync("dist/resolver/index.js"), "run npm run build:resolver").toBe(true);
    expect(existsSync("dist/resolver/index.d.ts")).toBe(true);
  });

  it("resolves a composite id from a plain Node process", () => {
    const script = `
      import { parseProvidersConfig, splitModelId, resolveModel } from "boocode-router/resolver";
      import { readFileSync } from "node:fs";
      const config = parseProvidersConfig(readFileSync("data/llama-providers.json", "utf8"));
      const r = resolveModel(config, "local/org/repo-GGUF:Q4_K_M");
      let rejected = "";
      try { parseProvidersConfig({ version: 1, providers: [{ id: "Bad", baseUrl: "x" }] }); } catch (e) { rejected = e.message; }
      console.log(JSON.stringify({ split: splitModelId("a/b/c"), route: r.candidates[0].id, upstream: r.candidates[0].upstream, host: r.candidates[0].provider.baseUrl, rejected }));
    `;
    const out = JSON.parse(execFileSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8" }));
    expect(out).toMatchObject({ split: { provider: "a", model: "b/c" }, route: "local/org/repo-GGUF:Q4_K_M", upstream: "org/repo-GGUF:Q4_K_M", host: "http://127.0.0.1:8080" });
    expect(out.rejected).toMatch(/\$\.providers\[0\]\.id: must be a slug/);
    expect(out.rejected).toMatch(/\$\.providers\[0\]\.baseUrl: must be an absolute URL/);
  });
});
