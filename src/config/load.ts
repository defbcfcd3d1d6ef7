/**
 * Which providers config is live: the KV copy when present and valid, else the bundled file.
 * An invalid KV copy never takes the router down: the last good config keeps serving and `/health` says why.
 * A failed KV read is a passing fault: it is reported until the next read succeeds, then forgotten.
 * Per-isolate memory only caches; a fresh isolate reaches the same answer from KV and the bundle.
 */
import bundledJson from "../../data/llama-providers.json";
import { CONFIG_KV_KEY, type Env } from "../env.js";
import { RouterError } from "../errors.js";
import { jsonSyntaxError } from "../json-syntax.js";
import { logEvent } from "../log.js";
import { ProvidersConfigError, parseProvidersConfig, type ProvidersConfig } from "./schema.js";

export interface LiveConfig {
  config: ProvidersConfig;
  source: "kv" | "bundled";
  version: number;
  /** Why the KV copy is not the live one (invalid, unreadable), if it is not. Public: never a raw exception text. */
  kvError?: string;
}

interface IsolateState {
  /** What the last KV text read made live (including why that text was rejected, if it was). */
  fromText?: LiveConfig;
  kvText?: string | null;
  /** Set while the latest KV read failed; cleared by the next good read. */
  readError?: string;
  /** `fromText` with `readError` applied: what callers get. */
  live?: LiveConfig;
  checkedAt: number;
  bundled?: LiveConfig | RouterError;
}

const state: IsolateState = { checkedAt: -Infinity };

const DEFAULT_REFRESH_MS = 2_000;

function bundled(): LiveConfig {
  if (!state.bundled) {
    try {
      const config = parseProvidersConfig(bundledJson);
      state.bundled = { config, source: "bundled", version: config.version };
    } catch (err) {
      state.bundled = new RouterError(500, "the bundled providers config is invalid", "api_error", "config_invalid", null, {}, err);
    }
  }
  if (state.bundled instanceof RouterError) throw state.bundled;
  return state.bundled;
}

/** The config to route with right now. Reads KV at most once per `CONFIG_REFRESH_MS` per isolate. */
export async function liveConfig(env: Env, now = Date.now()): Promise<LiveConfig> {
  const kv = env.LLAMA_PROVIDERS;
  if (!kv) return bundled();
  const refreshMs = Number(env.CONFIG_REFRESH_MS ?? DEFAULT_REFRESH_MS);
  if (state.live && now - state.checkedAt < refreshMs) return state.live;

  let text: string | null;
  try {
    text = await kv.get(CONFIG_KV_KEY, "text");
  } catch (err) {
    state.checkedAt = now;
    // The exception's text (binding internals, maybe a URL) goes to the log, once per outage; /health says only this.
    if (state.readError === undefined) logEvent("error", "KV read of the providers config failed", err);
    const base = state.fromText ?? bundled();
    state.readError = `KV read failed, still serving the ${base.source} config v${base.version}`;
    return (state.live = { ...base, kvError: state.readError });
  }
  state.checkedAt = now;
  state.readError = undefined;
  // The same text as last time is not parsed again; a good read after a failed one serves it without the error.
  if (!state.fromText || text !== state.kvText) {
    state.kvText = text;
    state.fromText = fromKvText(text);
  }
  return (state.live = state.fromText);
}

function fromKvText(text: string | null): LiveConfig {
  if (text === null) return bundled();
  try {
    const config = parseProvidersConfig(text);
    return { config, source: "kv", version: config.version };
  } catch (err) {
    const lastGood = state.fromText && state.fromText.source === "kv" ? state.fromText : bundled();
    return { ...lastGood, kvError: `KV copy rejected, still serving the ${lastGood.source} config v${lastGood.version}: ${publicReason(text, err)}` };
  }
}

/** The schema's findings name JSON paths and rules, not values; anything else is logged and shown only generically. */
function publicReason(text: string, err: unknown): string {
  const syntax = jsonSyntaxError(text);
  if (syntax) return syntax;
  if (err instanceof ProvidersConfigError) return err.message;
  logEvent("error", "the KV copy of the providers config could not be checked", err);
  return "it could not be checked (the router's log has the details)";
}

/** For tests: forget what this isolate cached. */
export function resetConfigCache(): void {
  state.fromText = undefined;
  state.kvText = undefined;
  state.readError = undefined;
  state.live = undefined;
  state.checkedAt = -Infinity;
}
