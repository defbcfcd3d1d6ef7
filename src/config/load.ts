/**
 * Which providers config is live (DESIGN §3): the KV copy when present and valid, else the bundled file.
 * An invalid KV copy never takes the router down: the last good config keeps serving and `/health` says why.
 * Per-isolate memory only caches; a fresh isolate reaches the same answer from KV and the bundle.
 */
import bundledJson from "../../data/llama-providers.json";
import { CONFIG_KV_KEY, type Env } from "../env.js";
import { RouterError } from "../errors.js";
import { ProvidersConfigError, parseProvidersConfig, type ProvidersConfig } from "./schema.js";

export interface LiveConfig {
  config: ProvidersConfig;
  source: "kv" | "bundled";
  version: number;
  /** Why the KV copy is not the live one (invalid, unreadable), if it is not. */
  kvError?: string;
}

interface IsolateState {
  live?: LiveConfig;
  kvText?: string | null;
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
    return (state.live = { ...(state.live ?? bundled()), kvError: `KV read failed: ${(err as Error).message}` });
  }
  state.checkedAt = now;
  if (state.live && text === state.kvText) return state.live;
  state.kvText = text;

  if (text === null) return (state.live = bundled());
  try {
    const config = parseProvidersConfig(text);
    return (state.live = { config, source: "kv", version: config.version });
  } catch (err) {
    const why = err instanceof ProvidersConfigError ? err.message : String(err);
    const lastGood = state.live && state.live.source === "kv" ? state.live : bundled();
    return (state.live = { ...lastGood, kvError: `KV copy rejected, still serving the ${lastGood.source} config v${lastGood.version}: ${why}` });
  }
}

/** For tests: forget what this isolate cached. */
export function resetConfigCache(): void {
  state.live = undefined;
  state.kvText = undefined;
  state.checkedAt = -Infinity;
}
