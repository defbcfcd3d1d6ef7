// Merging the router's agent settings into a user's existing files (src/agents/merge.ts, used by
// `npm run agent-config`): the user's keys survive, the result parses, a second merge changes no byte, and a file
// that does not parse is refused. The settings merged are the Worker's own generator output.
import { parse } from "smol-toml";
import { describe, expect, it } from "vitest";
import type { CatalogModel } from "../../src/catalog/catalog.js";
import { claudeCodeSettings, codexConfig, codexToml, opencodeConfig } from "../../src/agents/configs.js";
import { MergeError, mergeClaudeSettings, mergeCodexToml, mergeOpencodeJson } from "../../src/agents/merge.js";

const ORIGIN = "http://127.0.0.1:8787";
const model = { id: "gpu/qwen-32b", label: "Qwen 32B", contextLength: 32768, maxOutputTokens: 8192, status: "online" } as CatalogModel;
const catalog = { models: [model], aliases: {} } as any;
const keys = { keyEnv: "BOOCODE_API_KEY", keyOptional: false };

const USER_TOML = `# my codex settings
approval_policy = "on-request"
notify = [
  "notify-send",
]

# MCP servers
[mcp_servers.docs]
command = "npx"   # keeps its comment
args = ["-y", "docs-server"]

[profiles.fast]
model = "o4-mini"
`;

describe("codex config.toml", () => {
  const settings = codexConfig(ORIGIN, model, keys);

  it("the README's `curl ... >> config.toml` put model inside the last table, and a second run broke the file", () => {
    const block = codexToml(catalog, ORIGIN, model, keys);
    const lastTableMcp = USER_TOML.slice(0, USER_TOML.indexOf("[profiles.fast]"));
    const once = parse(lastTableMcp + block) as any;
    expect(once.model).toBeUndefined();
    expect(once.mcp_servers.docs.model).toBe("gpu/qwen-32b"); // an MCP server option now, not Codex's model
    expect(() => parse(lastTableMcp + block + block)).toThrow(/redefine an already defined table or value/);
    // A last table with its own `model` (a profile) already broke on the first append.
    expect(() => parse(USER_TOML + block)).toThrow(/redefine an already defined table or value/);
  });

  it("puts model at the top level, keeps every other table and comment, and adds the provider table", () => {
    const { text, notes } = mergeCodexToml(USER_TOML, settings);
    const parsed = parse(text) as any;
    expect(parsed.model).toBe("gpu/qwen-32b");
    expect(parsed.model_provider).toBe("boocode-local");
    expect(parsed.model_context_window).toBe(32768);
    expect(parsed.approval_policy).toBe("on-request");
    expect(parsed.notify).toEqual(["notify-send"]);
    expect(parsed.mcp_servers.docs).toEqual({ command: "npx", args: ["-y", "docs-server"] });
    expect(parsed.profiles.fast).toEqual({ model: "o4-mini" });
    expect(parsed.model_providers["boocode-local"]).toEqual({ name: "BooCode Local", base_url: `${ORIGIN}/v1`, wire_api: "responses", env_key: "BOOCODE_API_KEY" });
    expect(text).toContain("# MCP servers\n[mcp_servers.docs]\ncommand = \"npx\"   # keeps its comment");
    expect(notes).toEqual([]);
  });

  it("running twice is byte-identical and still valid TOML", () => {
    const once = mergeCodexToml(USER_TOML, settings).text;
    const twice = mergeCodexToml(once, settings).text;
    expect(twice).toBe(once);
    expect(() => parse(twice)).not.toThrow();
  });

  it("replaces the user's model and updates an existing provider table in place, keeping its extra keys", () => {
    const old = `model = "o3"\n\n[model_providers.boocode-local]\nname = "old"\nbase_url = "http://old/v1"\nrequest_max_retries = 4\n\n[model_providers.openai]\nname = "OpenAI"\n`;
    const { text } = mergeCodexToml(old, settings);
    const parsed = parse(text) as any;
    expect(parsed.model).toBe("gpu/qwen-32b");
    expect(parsed.model_providers["boocode-local"]).toMatchObject({ base_url: `${ORIGIN}/v1`, request_max_retries: 4, env_key: "BOOCODE_API_KEY" });
    expect(parsed.model_providers.openai).toEqual({ name: "OpenAI" });
    expect(text.match(/\[model_providers\.boocode-local\]/g)).toHaveLength(1);
    expect(text.startsWith('model = "gpu/qwen-32b"\n')).toBe(true);
  });

  it("an empty or missing file gets just the block", () => {
    const fresh = mergeCodexToml(undefined, settings).text;
    expect(mergeCodexToml("", settings).text).toBe(fresh);
    expect(parse(fresh)).toEqual(parse(codexToml(catalog, ORIGIN, model, keys)));
  });

  it("a shape the line edit does not cover (an inline provider table) is rewritten from its parsed content, with a note", () => {
    const old = `model = "o3"\nmodel_providers = { boocode-local = { name = "x", query_params = { a = "1" } } }\n`;
    const { text, notes } = mergeCodexToml(old, settings);
    expect((parse(text) as any).model_providers["boocode-local"]).toMatchObject({ env_key: "BOOCODE_API_KEY", query_params: { a: "1" } });
    expect(notes[0]).toMatch(/rewritten from its parsed content, comments dropped/);
    expect(mergeCodexToml(text, settings).text).toBe(text);
  });

  it("a file that is not valid TOML is refused with the parser's position", () => {
    expect(() => mergeCodexToml(`model = "o3"\n[tui\n`, settings)).toThrow(MergeError);
    expect(() => mergeCodexToml(`model = "o3"\n[tui\n`, settings)).toThrow(/^not valid TOML: .*\n.*2:/s);
  });

  it("keeps CRLF line endings", () => {
    const { text } = mergeCodexToml(USER_TOML.replace(/\n/g, "\r\n"), settings);
    expect(text.replace(/\r\n/g, "")).not.toContain("\n");
  });
});

describe("opencode.json", () => {
  const config = opencodeConfig(catalog, ORIGIN, keys);
  const USER = JSON.stringify({ $schema: "https://opencode.ai/config.json", model: "anthropic/claude-x", provider: { anthropic: { options: { apiKey: "{env:ANTHROPIC_API_KEY}" } }, "boocode-local": { options: { baseURL: "http://old/v1", timeout: 60000 }, models: { "old/model": {} } } } }, null, 2);

  it("merges provider boocode-local, keeping the user's other providers and keys", () => {
    const merged = JSON.parse(mergeOpencodeJson(USER, config).text);
    expect(merged.model).toBe("anthropic/claude-x");
    expect(merged.provider.anthropic).toEqual({ options: { apiKey: "{env:ANTHROPIC_API_KEY}" } });
    expect(merged.provider["boocode-local"].options).toEqual({ baseURL: `${ORIGIN}/v1`, apiKey: "{env:BOOCODE_API_KEY}", timeout: 60000 });
    expect(Object.keys(merged.provider["boocode-local"].models)).toEqual(["gpu/qwen-32b"]); // the catalog, not the stale list
  });

  it("is idempotent, and a new file is the block itself", () => {
    const once = mergeOpencodeJson(USER, config).text;
    expect(mergeOpencodeJson(once, config).text).toBe(once);
    expect(JSON.parse(mergeOpencodeJson(undefined, config).text)).toEqual(config);
  });

  it("refuses a file that is not JSON (opencode's JSONC comments included) or not an object", () => {
    expect(() => mergeOpencodeJson('{ // mine\n "provider": {} }', config)).toThrow(/not valid JSON \(comments are not supported here\)/);
    expect(() => mergeOpencodeJson("[]", config)).toThrow(/not a JSON object/);
    expect(() => mergeOpencodeJson('{"provider": "x"}', config)).toThrow(/"provider" is not an object/);
  });
});

describe("Claude Code settings.json", () => {
  const settings = claudeCodeSettings(ORIGIN, model, keys);
  const USER = JSON.stringify({ permissions: { allow: ["Bash(ls:*)"] }, env: { HTTPS_PROXY: "http://proxy:3128", ANTHROPIC_AUTH_TOKEN: "old-token", ANTHROPIC_MODEL: "claude-x" } });

  it("merges env, keeping the user's other env keys and settings; no key value is written", () => {
    const { text, notes } = mergeClaudeSettings(USER, settings);
    const merged = JSON.parse(text);
    expect(merged.permissions).toEqual({ allow: ["Bash(ls:*)"] });
    expect(merged.env).toEqual({
      HTTPS_PROXY: "http://proxy:3128",
      ANTHROPIC_MODEL: "gpu/qwen-32b",
      ANTHROPIC_BASE_URL: ORIGIN,
      ANTHROPIC_DEFAULT_HAIKU_MODEL: "gpu/qwen-32b",
      ANTHROPIC_DEFAULT_SONNET_MODEL: "gpu/qwen-32b",
      ANTHROPIC_DEFAULT_OPUS_MODEL: "gpu/qwen-32b",
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
    });
    expect(merged.apiKeyHelper).toBe('printf %s "${BOOCODE_API_KEY:?set BOOCODE_API_KEY to your router key}"');
    expect(notes).toEqual(["removed env.ANTHROPIC_AUTH_TOKEN: Claude Code would send it instead of the router key from apiKeyHelper"]);
  });

  it("is idempotent", () => {
    const once = mergeClaudeSettings(USER, settings).text;
    expect(mergeClaudeSettings(once, settings)).toEqual({ text: once, notes: [] });
  });

  it("refuses a malformed file or a non-object env", () => {
    expect(() => mergeClaudeSettings('{"env": {', settings)).toThrow(MergeError);
    expect(() => mergeClaudeSettings('{"env": []}', settings)).toThrow(/"env" is not an object/);
  });
});
