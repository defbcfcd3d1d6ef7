// The Claude Code env lines are meant for `eval "$(curl ...)"`: run them in a real shell, with the key variable
// unset, as a new user with `npm run dev` (auth off) would.
import { execFileSync, spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { claudeCodeEnv, claudeCodeSettings } from "../../src/agents/configs.js";
import type { CatalogModel } from "../../src/catalog/catalog.js";

const model = { id: "gpu/qwen-32b", label: "Qwen 32B", contextLength: 32768, status: "online" } as CatalogModel;
const catalog = { models: [model], aliases: {} } as any;
const ORIGIN = "http://127.0.0.1:8787";
const shell = (script: string, env: Record<string, string> = {}) => spawnSync("sh", ["-c", script], { env: { PATH: process.env.PATH!, ...env }, encoding: "utf8" });

describe("Claude Code snippet in a shell", () => {
  it("auth off, BOOCODE_API_KEY unset: exports a placeholder key, not an empty one (Claude Code says 'Not logged in' to an empty key)", () => {
    const snippet = claudeCodeEnv(catalog, ORIGIN, model, { keyEnv: "BOOCODE_API_KEY", keyOptional: true });
    const out = shell(`eval "$SNIPPET"; printf '%s|%s' "$ANTHROPIC_API_KEY" "$ANTHROPIC_BASE_URL"`, { SNIPPET: snippet });
    expect(out.stdout).toBe(`local|${ORIGIN}`);
  });

  it("auth off with the variable set: its value is used", () => {
    const snippet = claudeCodeEnv(catalog, ORIGIN, model, { keyEnv: "BOOCODE_API_KEY", keyOptional: true });
    expect(shell(`eval "$SNIPPET"; printf %s "$ANTHROPIC_API_KEY"`, { SNIPPET: snippet, BOOCODE_API_KEY: "k1" }).stdout).toBe("k1");
  });

  it("auth on, variable unset: the eval stops with a message before exporting anything", () => {
    const snippet = claudeCodeEnv(catalog, ORIGIN, model, { keyEnv: "BOOCODE_API_KEY", keyOptional: false });
    const out = shell(`eval "$SNIPPET"; echo "base=$ANTHROPIC_BASE_URL"`, { SNIPPET: snippet });
    expect(out.status).not.toBe(0);
    expect(out.stderr).toContain("set BOOCODE_API_KEY to your router key");
    expect(out.stdout).not.toContain("base=");
  });

  it("the settings.json apiKeyHelper prints the variable, or the placeholder when auth is off", () => {
    const helper = claudeCodeSettings(ORIGIN, model, { keyEnv: "BOOCODE_API_KEY", keyOptional: true }).apiKeyHelper;
    expect(execFileSync("sh", ["-c", helper], { env: { PATH: process.env.PATH! }, encoding: "utf8" })).toBe("local");
    expect(execFileSync("sh", ["-c", helper], { env: { PATH: process.env.PATH!, BOOCODE_API_KEY: "k1" }, encoding: "utf8" })).toBe("k1");
  });
});
