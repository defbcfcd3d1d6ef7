/**
 * No secret in any response, log line or error (DESIGN §7). The router never puts a secret's value into a message
 * itself; this is the second line: text that came from elsewhere (a host echoing our Authorization header into its
 * error message, a runtime error string) has every secret value replaced before it leaves. A secret is any string
 * binding except the plain settings below, so an upstream secret under any name the config picks is covered.
 */
import { configuredKeys } from "./auth.js";
import type { Env } from "./env.js";

const PLAIN_SETTINGS = new Set(["ROUTER_AUTH", "ROUTER_CORS_ORIGINS", "ROUTER_MAX_BODY_BYTES", "CONFIG_REFRESH_MS"]);
/** Shorter values would redact ordinary words; a real key is far longer. */
const MIN_SECRET_LENGTH = 8;
const REDACTED = "[redacted]";

let known: string[] = [];
let learnedFrom: Env | undefined;

/** Remembers the isolate's secret values (env is the same object for every request of an isolate). */
export function learnSecrets(env: Env): void {
  if (env === learnedFrom) return;
  learnedFrom = env;
  const values = new Set<string>();
  for (const [name, value] of Object.entries(env)) {
    if (typeof value !== "string" || PLAIN_SETTINGS.has(name)) continue;
    for (const secret of name === "ROUTER_API_KEYS" ? configuredKeys(env) : [value.trim()]) {
      if (secret.length >= MIN_SECRET_LENGTH) values.add(secret);
    }
  }
  // Longest first, so a key that contains another is replaced whole.
  known = [...values].sort((a, b) => b.length - a.length);
}

export function redactSecrets(text: string): string {
  for (const secret of known) if (text.includes(secret)) text = text.split(secret).join(REDACTED);
  return text;
}
