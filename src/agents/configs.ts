/**
 * Ready-to-use client configs for the agents that use boocode-local as their base URL: opencode (OpenAI chat via
 * @ai-sdk/openai-compatible), Claude Code (Anthropic Messages), Codex CLI (Responses). Built from the catalog, so
 * each model's window and output limit match what `/v1/models` says. Each agent gets a structured config (what
 * `npm run agent-config` merges into the agent's file) and, for pasting, a text rendering of that same object.
 * No config ever holds the key itself, only the NAME of the env var that holds it.
 */
import type { Catalog, CatalogModel } from "../catalog/catalog.js";
import { aliasMembers } from "../config/aliases.js";

export const PROVIDER_KEY = "boocode-local";
/** The env var the generated configs read the router key from, unless the caller names another. */
export const KEY_ENV = "BOOCODE_API_KEY";
/** A shell/env variable name: the only thing a caller may substitute for KEY_ENV. */
export const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
/**
 * Claude Code refuses to start with an empty key ("Not logged in"), even when the router's auth is off. With auth
 * off any value passes, so an unset variable falls back to this placeholder.
 */
const AUTH_OFF_PLACEHOLDER_KEY = "local";

/** When a window is unknown (host unreachable and nothing configured), assume llama-server's common default. */
const FALLBACK_CONTEXT = 8192;

export interface ModelLimits {
  context: number;
  output: number;
}

export interface KeyOptions {
  /** Name of the env var holding the router key. */
  keyEnv: string;
  /** True when the router's client auth is off: any key passes, so an unset variable must not stop the agent. */
  keyOptional: boolean;
}

const DEFAULT_KEY_OPTIONS: KeyOptions = { keyEnv: KEY_ENV, keyOptional: false };

/** Output cap: the configured one, else an eighth of the window (at most 4096), so prompt + output fit one slot. */
export function limitsOf(m: Pick<CatalogModel, "contextLength" | "contextTrain" | "maxOutputTokens">): ModelLimits {
  const context = m.contextLength ?? m.contextTrain ?? FALLBACK_CONTEXT;
  return { context, output: m.maxOutputTokens ?? Math.max(256, Math.min(4096, Math.floor(context / 8))) };
}

export function opencodeConfig(catalog: Catalog, origin: string, keys: KeyOptions = DEFAULT_KEY_OPTIONS) {
  const models: Record<string, { name: string; limit: ModelLimits }> = {};
  for (const m of catalog.models) models[m.id] = { name: m.label, limit: limitsOf(m) };
  for (const [alias, target] of Object.entries(catalog.aliases)) {
    const { members: ids, policy } = aliasMembers(target);
    const members = ids.map((id) => catalog.models.find((m) => m.id === id)).filter((m): m is CatalogModel => !!m);
    if (members.length === 0) continue;
    const limits = members.map(limitsOf);
    // A pool may serve a request on any member: promise only what every member can do.
    models[alias] = {
      // An ordered chain reads as one ("a → b"); replicas as peers ("a | b").
      name: `${alias} (${members.map((m) => m.id).join(policy === "ordered" ? " → " : " | ")})`,
      limit: { context: Math.min(...limits.map((l) => l.context)), output: Math.min(...limits.map((l) => l.output)) },
    };
  }
  return {
    $schema: "https://opencode.ai/config.json",
    provider: {
      [PROVIDER_KEY]: {
        npm: "@ai-sdk/openai-compatible",
        name: "BooCode Local",
        // opencode substitutes {env:NAME} when it loads the file, so the key never lands in it.
        options: { baseURL: `${origin}/v1`, apiKey: `{env:${keys.keyEnv}}` },
        models,
      },
    },
  };
}

/** The shell expression for the key: a placeholder when auth is off, else a clear stop when the variable is unset. */
function shellKey(keys: KeyOptions): string {
  return keys.keyOptional
    ? `\${${keys.keyEnv}:-${AUTH_OFF_PLACEHOLDER_KEY}}`
    : `\${${keys.keyEnv}:?set ${keys.keyEnv} to your router key}`;
}

/**
 * A `~/.claude/settings.json` fragment. Claude Code takes `env` values literally (no `$VAR` expansion), so the key
 * comes from `apiKeyHelper`, a shell command it runs for the key and sends as both `x-api-key` and
 * `Authorization: Bearer` (measured with 2.1.332).
 */
export function claudeCodeSettings(origin: string, model: CatalogModel | undefined, keys: KeyOptions = DEFAULT_KEY_OPTIONS) {
  const env: Record<string, string> = { ANTHROPIC_BASE_URL: origin };
  if (model) {
    env.ANTHROPIC_MODEL = model.id;
    // Background tasks otherwise ask for Anthropic model names, which no host here serves.
    for (const tier of ["HAIKU", "SONNET", "OPUS"]) env[`ANTHROPIC_DEFAULT_${tier}_MODEL`] = model.id;
  }
  env.CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC = "1";
  return { env, apiKeyHelper: `printf %s "${shellKey(keys)}"` };
}

/** Env lines for Claude Code: it appends /v1/messages to ANTHROPIC_BASE_URL and sends the key as x-api-key. */
export function claudeCodeEnv(catalog: Catalog, origin: string, model: CatalogModel | undefined, keys: KeyOptions = DEFAULT_KEY_OPTIONS): string {
  const { env } = claudeCodeSettings(origin, model, keys);
  if (!model) env.ANTHROPIC_MODEL = "<provider/model>";
  return [
    `# Claude Code through boocode-router (${origin}). Models: ${modelList(catalog)}`,
    // First, so that an unset variable (auth on) stops the eval before anything else is exported.
    `export ANTHROPIC_API_KEY="${shellKey(keys)}"`,
    ...Object.entries(env).map(([name, value]) => `export ${name}=${shellQuote(value)}`),
    "",
  ].join("\n");
}

/** The `$CODEX_HOME/config.toml` settings: a model provider on the Responses API, reading the key from the env. */
export function codexConfig(origin: string, model: CatalogModel | undefined, keys: KeyOptions = DEFAULT_KEY_OPTIONS) {
  return {
    ...(model ? { model: model.id } : {}),
    model_provider: PROVIDER_KEY,
    // Codex 0.169 knows model_context_window (and compacts before it); it has no output-limit key (an unknown one
    // only earns a warning), so the output limit is the host's to enforce.
    ...(model ? { model_context_window: limitsOf(model).context } : {}),
    model_providers: {
      [PROVIDER_KEY]: { name: "BooCode Local", base_url: `${origin}/v1`, wire_api: "responses", env_key: keys.keyEnv },
    },
  };
}

/**
 * The same settings as TOML text. Its first lines are top-level keys: appended after a table of an existing file
 * they would land inside that table, and appended twice the file no longer parses, so the header says how to merge.
 */
export function codexToml(catalog: Catalog, origin: string, model: CatalogModel | undefined, keys: KeyOptions = DEFAULT_KEY_OPTIONS): string {
  const config = codexConfig(origin, model, keys);
  const provider = config.model_providers[PROVIDER_KEY];
  return [
    `# Codex CLI through boocode-router (${origin}). Other models: ${modelList(catalog)}`,
    `# Merge into $CODEX_HOME/config.toml (default ~/.codex/config.toml) with: npm run agent-config -- codex --write`,
    `# (safe to repeat). By hand, never append it to a file that has [tables]: put the top-level keys above its`,
    `# first [table] and replace any [model_providers.${PROVIDER_KEY}] it already has. Then export ${keys.keyEnv}.`,
    `model = ${tomlString(config.model ?? "<provider/model>")}`,
    `model_provider = ${tomlString(config.model_provider)}`,
    ...(config.model_context_window === undefined ? [] : [`model_context_window = ${config.model_context_window}`]),
    "",
    `[model_providers.${PROVIDER_KEY}]`,
    ...Object.entries(provider).map(([key, value]) => `${key} = ${tomlString(value)}`),
    "",
  ].join("\n");
}

const modelList = (catalog: Catalog) => catalog.models.map((m) => m.id).join(", ") || "none reachable";
const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
const tomlString = (s: string) => JSON.stringify(s);
