/**
 * Ready-to-use client configs for the agents that use boocode-local as their base URL (DESIGN §5, issue C6/W7):
 * opencode (OpenAI chat via @ai-sdk/openai-compatible), Claude Code (Anthropic Messages), Codex CLI (Responses).
 * Built from the catalog, so each model's window and output limit match what `/v1/models` says.
 */
import type { Catalog, CatalogModel } from "../catalog/catalog.js";

export const PROVIDER_KEY = "boocode-local";
/** The env var the generated configs read the router key from. */
export const KEY_ENV = "BOOCODE_API_KEY";

/** When a window is unknown (host unreachable and nothing configured), assume llama-server's common default. */
const FALLBACK_CONTEXT = 8192;

export interface ModelLimits {
  context: number;
  output: number;
}

/** Output cap: the configured one, else an eighth of the window (at most 4096), so prompt + output fit one slot. */
export function limitsOf(m: Pick<CatalogModel, "contextLength" | "contextTrain" | "maxOutputTokens">): ModelLimits {
  const context = m.contextLength ?? m.contextTrain ?? FALLBACK_CONTEXT;
  return { context, output: m.maxOutputTokens ?? Math.max(256, Math.min(4096, Math.floor(context / 8))) };
}

export function opencodeConfig(catalog: Catalog, origin: string) {
  const models: Record<string, { name: string; limit: ModelLimits }> = {};
  for (const m of catalog.models) models[m.id] = { name: m.label, limit: limitsOf(m) };
  for (const [alias, target] of Object.entries(catalog.aliases)) {
    const members = (typeof target === "string" ? [target] : target).map((id) => catalog.models.find((m) => m.id === id)).filter((m): m is CatalogModel => !!m);
    if (members.length === 0) continue;
    const limits = members.map(limitsOf);
    // A pool may serve a request on any member: promise only what every member can do.
    models[alias] = {
      name: `${alias} (${members.map((m) => m.id).join(" → ")})`,
      limit: { context: Math.min(...limits.map((l) => l.context)), output: Math.min(...limits.map((l) => l.output)) },
    };
  }
  return {
    $schema: "https://opencode.ai/config.json",
    provider: {
      [PROVIDER_KEY]: {
        npm: "@ai-sdk/openai-compatible",
        name: "BooCode Local",
        options: { baseURL: `${origin}/v1`, apiKey: `{env:${KEY_ENV}}` },
        models,
      },
    },
  };
}

/** Env lines for Claude Code: it appends /v1/messages to ANTHROPIC_BASE_URL and sends the key as x-api-key. */
export function claudeCodeEnv(catalog: Catalog, origin: string, model: CatalogModel | undefined): string {
  const id = model?.id ?? "<provider/model>";
  return [
    `# Claude Code through boocode-router (${origin}). Models: ${catalog.models.map((m) => m.id).join(", ") || "none reachable"}`,
    `export ANTHROPIC_BASE_URL=${shellQuote(origin)}`,
    `export ANTHROPIC_API_KEY="$${KEY_ENV}"`,
    `export ANTHROPIC_MODEL=${shellQuote(id)}`,
    `export ANTHROPIC_DEFAULT_HAIKU_MODEL=${shellQuote(id)}`,
    `export ANTHROPIC_DEFAULT_SONNET_MODEL=${shellQuote(id)}`,
    `export ANTHROPIC_DEFAULT_OPUS_MODEL=${shellQuote(id)}`,
    "export CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1",
    "",
  ].join("\n");
}

/** A `$CODEX_HOME/config.toml` block: a model provider on the Responses API, reading the key from the env. */
export function codexToml(catalog: Catalog, origin: string, model: CatalogModel | undefined): string {
  const lines = [
    `# Codex CLI through boocode-router (${origin}). Put this in $CODEX_HOME/config.toml (default ~/.codex/config.toml)`,
    `# and export ${KEY_ENV}. Other models: ${catalog.models.map((m) => m.id).join(", ") || "none reachable"}`,
    `model = ${tomlString(model?.id ?? "<provider/model>")}`,
    `model_provider = ${tomlString(PROVIDER_KEY)}`,
  ];
  if (model) {
    const limits = limitsOf(model);
    // Codex 0.169 knows model_context_window (and compacts before it); it has no output-limit key (an unknown one
    // only earns a warning), so the output limit is the host's to enforce.
    lines.push(`model_context_window = ${limits.context}`);
  }
  lines.push(
    "",
    `[model_providers.${PROVIDER_KEY}]`,
    `name = "BooCode Local"`,
    `base_url = ${tomlString(`${origin}/v1`)}`,
    `wire_api = "responses"`,
    `env_key = ${tomlString(KEY_ENV)}`,
    "",
  );
  return lines.join("\n");
}

const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
const tomlString = (s: string) => JSON.stringify(s);
