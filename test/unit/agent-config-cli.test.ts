// `npm run agent-config` as a user runs it: a real `node scripts/agent-config.mjs` process against a stand-in
// router that serves the Worker's own generator output, writing into a scratch HOME.
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync, lstatSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "smol-toml";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { claudeCodeSettings, codexConfig, opencodeConfig } from "../../src/agents/configs.js";
import type { CatalogModel } from "../../src/catalog/catalog.js";

const KEY = "sekrit-router-key-42";
const model = { id: "gpu/qwen-32b", label: "Qwen 32B", contextLength: 32768, maxOutputTokens: 8192, status: "online" } as CatalogModel;
let router: Server;
let routerUrl: string;
const asked: string[] = [];

beforeAll(async () => {
  router = createServer((req, res) => {
    const url = new URL(req.url!, "http://x");
    asked.push(url.pathname + url.search);
    if (req.headers.authorization !== `Bearer ${KEY}`) {
      res.writeHead(401, { "content-type": "application/json" });
      return res.end(JSON.stringify({ error: { message: "invalid API key", type: "authentication_error", param: null, code: "invalid_api_key" } }));
    }
    const keys = { keyEnv: url.searchParams.get("key_env")!, keyOptional: false };
    const client = url.searchParams.get("client");
    const body = client === "codex" ? codexConfig(routerUrl, model, keys) : client === "claude-code" ? claudeCodeSettings(routerUrl, model, keys) : opencodeConfig({ models: [model], aliases: {} } as any, routerUrl, keys);
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  });
  await new Promise<void>((ready) => router.listen(0, "127.0.0.1", ready));
  routerUrl = `http://127.0.0.1:${(router.address() as AddressInfo).port}`;
});
afterAll(() => new Promise((done) => router.close(done)));

let home: string;
beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), "agent-config-"));
  asked.length = 0;
});

function run(args: string[], env: Record<string, string | undefined> = {}) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((done) => {
    const child = execFile(process.execPath, ["scripts/agent-config.mjs", ...args, "--router", routerUrl], {
      env: { PATH: process.env.PATH, HOME: home, INIT_CWD: home, BOOCODE_API_KEY: KEY, ...env },
    }, (err, stdout, stderr) => done({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr }));
    child.stdin?.end();
  });
}

const CODEX_USER = `# mine\napproval_policy = "on-request"\n\n[mcp_servers.docs]\ncommand = "npx"\n`;

describe("npm run agent-config -- codex", () => {
  it("--write merges into $CODEX_HOME/config.toml, keeps a .bak, and a second run changes nothing", async () => {
    const codexHome = join(home, "codex-home");
    mkdirSync(codexHome);
    const file = join(codexHome, "config.toml");
    writeFileSync(file, CODEX_USER);
    const first = await run(["codex", "--write"], { CODEX_HOME: codexHome });
    expect(first.code, first.stderr).toBe(0);
    const written = readFileSync(file, "utf8");
    const parsed = parse(written) as any;
    expect(parsed).toMatchObject({ model: "gpu/qwen-32b", model_provider: "boocode-local", approval_policy: "on-request", mcp_servers: { docs: { command: "npx" } } });
    expect(parsed.mcp_servers.docs.model).toBeUndefined();
    expect(readFileSync(`${file}.bak`, "utf8")).toBe(CODEX_USER);
    expect(written).not.toContain(KEY);
    expect(first.stderr).toContain(`wrote ${file} (previous file kept as ${file}.bak)`);
    expect(first.stderr).toContain("no key in the file: codex reads it from $BOOCODE_API_KEY");

    const second = await run(["codex", "--write"], { CODEX_HOME: codexHome });
    expect(second.code).toBe(0);
    expect(second.stderr).toContain("already up to date; nothing written");
    expect(readFileSync(file, "utf8")).toBe(written);
    expect(readFileSync(`${file}.bak`, "utf8")).toBe(CODEX_USER); // the user's original survives a repeat
    expect(readdirSync(codexHome).sort()).toEqual(["config.toml", "config.toml.bak"]); // no temp file left
    expect(asked[0]).toBe("/api/agent-config?client=codex&format=json&key_env=BOOCODE_API_KEY");
  });

  it("without --write prints the merge and touches nothing; --key-env and --model reach the router", async () => {
    mkdirSync(join(home, ".codex"));
    writeFileSync(join(home, ".codex/config.toml"), CODEX_USER);
    const res = await run(["codex", "--key-env", "MY_KEY", "--model", "gpu/qwen-32b"], { BOOCODE_API_KEY: undefined, MY_KEY: KEY });
    expect(res.code, res.stderr).toBe(0);
    expect((parse(res.stdout) as any).model_providers["boocode-local"].env_key).toBe("MY_KEY");
    expect(res.stdout).toContain('approval_policy = "on-request"');
    expect(readFileSync(join(home, ".codex/config.toml"), "utf8")).toBe(CODEX_USER);
    expect(res.stderr).toContain("add --write to write");
    expect(asked[0]).toBe("/api/agent-config?client=codex&format=json&key_env=MY_KEY&model=gpu%2Fqwen-32b");
  });

  it("a malformed existing file: a clear error, exit 1, the file untouched and no backup", async () => {
    mkdirSync(join(home, ".codex"));
    const file = join(home, ".codex/config.toml");
    const broken = `model = "o3"\n[tui\n`;
    writeFileSync(file, broken);
    const res = await run(["codex", "--write"]);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain(`agent-config: ${file}: not valid TOML`);
    expect(res.stderr).toContain("Nothing was written");
    expect(readFileSync(file, "utf8")).toBe(broken);
    expect(readdirSync(join(home, ".codex"))).toEqual(["config.toml"]);
  });

  it("writes through a symlinked config, so the link survives", async () => {
    mkdirSync(join(home, "dotfiles"));
    mkdirSync(join(home, ".codex"));
    writeFileSync(join(home, "dotfiles/config.toml"), CODEX_USER);
    symlinkSync(join(home, "dotfiles/config.toml"), join(home, ".codex/config.toml"));
    expect((await run(["codex", "--write"])).code).toBe(0);
    expect(lstatSync(join(home, ".codex/config.toml")).isSymbolicLink()).toBe(true);
    expect((parse(readFileSync(join(home, "dotfiles/config.toml"), "utf8")) as any).model).toBe("gpu/qwen-32b");
  });
});

describe("npm run agent-config -- claude-code / opencode", () => {
  it("claude-code --write merges env into $CLAUDE_CONFIG_DIR/settings.json, keeping the user's keys, no key value", async () => {
    const dir = join(home, "claude");
    mkdirSync(dir);
    writeFileSync(join(dir, "settings.json"), JSON.stringify({ theme: "dark", env: { HTTPS_PROXY: "http://proxy:3128" } }));
    const res = await run(["claude-code", "--write"], { CLAUDE_CONFIG_DIR: dir });
    expect(res.code, res.stderr).toBe(0);
    const text = readFileSync(join(dir, "settings.json"), "utf8");
    const settings = JSON.parse(text);
    expect(settings).toMatchObject({ theme: "dark", env: { HTTPS_PROXY: "http://proxy:3128", ANTHROPIC_BASE_URL: routerUrl, ANTHROPIC_MODEL: "gpu/qwen-32b" } });
    expect(settings.apiKeyHelper).toContain("$" + "{BOOCODE_API_KEY");
    expect(text).not.toContain(KEY);
  });

  it("opencode --write PATH resolves PATH from where the user ran npm, keeping other providers", async () => {
    const project = join(home, "project");
    mkdirSync(project);
    writeFileSync(join(project, "opencode.json"), JSON.stringify({ provider: { ollama: { npm: "@ai-sdk/openai-compatible" } } }));
    const res = await run(["opencode", "--write", "opencode.json"], { INIT_CWD: project });
    expect(res.code, res.stderr).toBe(0);
    const config = JSON.parse(readFileSync(join(project, "opencode.json"), "utf8"));
    expect(Object.keys(config.provider)).toEqual(["ollama", "boocode-local"]);
    expect(config.provider["boocode-local"].options.apiKey).toBe("{env:BOOCODE_API_KEY}");
    expect(existsSync(join(home, ".config/opencode/opencode.json"))).toBe(false);
  });

  it("opencode defaults to the global ~/.config/opencode/opencode.json", async () => {
    expect((await run(["opencode", "--write"])).code).toBe(0);
    expect(JSON.parse(readFileSync(join(home, ".config/opencode/opencode.json"), "utf8")).provider["boocode-local"]).toBeDefined();
  });
});

describe("npm run agent-config errors", () => {
  it("a refused key says which variable to set and never echoes the key", async () => {
    const res = await run(["codex"], { BOOCODE_API_KEY: "wrong-key-value" });
    expect(res.code).toBe(1);
    expect(res.stderr).toContain("answered 401: invalid API key (export BOOCODE_API_KEY=<your router key>; the one set was refused)");
    expect(res.stderr + res.stdout).not.toContain("wrong-key-value");
  });

  it("an unknown agent or option prints the usage", async () => {
    for (const args of [["cursor"], ["codex", "--frobnicate"]]) {
      const res = await run(args);
      expect(res.code).toBe(1);
      expect(res.stderr).toContain("usage: npm run agent-config -- <opencode|claude-code|codex>");
    }
  });

  it("an unreachable router is named", async () => {
    const closed = createServer();
    await new Promise<void>((ready) => closed.listen(0, "127.0.0.1", ready));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((done) => closed.close(done));
    const res = await new Promise<{ code: number | null; stderr: string }>((done) => {
      const child = execFile(process.execPath, ["scripts/agent-config.mjs", "codex", "--router", `http://127.0.0.1:${port}`], { env: { PATH: process.env.PATH, HOME: home } }, (err, _out, stderr) => done({ code: err ? 1 : 0, stderr }));
      child.stdin?.end();
    });
    expect(res.code).toBe(1);
    expect(res.stderr).toContain(`cannot reach the router at http://127.0.0.1:${port} (ECONNREFUSED): start it (npm run dev) or pass --router URL`);
  });
});
