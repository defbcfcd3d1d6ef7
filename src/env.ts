/** Worker bindings (wrangler.toml) and settings (README, "Settings and secrets"). Upstream secrets are looked up by the names the config gives. */
export interface Env {
  /** KV copy of the providers config under the key `llama-providers.json`; wins over the bundled file when valid. */
  LLAMA_PROVIDERS?: KVNamespace;
  /** Comma-separated client keys. */
  ROUTER_API_KEYS?: string;
  /** `off` disables client auth: local development only. */
  ROUTER_AUTH?: string;
  ROUTER_ADMIN_KEY?: string;
  ROUTER_CORS_ORIGINS?: string;
  ROUTER_MAX_BODY_BYTES?: string;
  /** How long (ms) an isolate reuses its KV read of the config; default 2000. */
  CONFIG_REFRESH_MS?: string;
  /** Secrets named by `auth.*Secret` in the providers config. */
  [secretName: string]: unknown;
}

/** The KV key holding the providers config. */
export const CONFIG_KV_KEY = "llama-providers.json";
