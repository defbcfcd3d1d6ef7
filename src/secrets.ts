/**
 * No secret in any response, log line or error. The router never puts a secret's value into a message
 * itself; this is the second line: text that came from elsewhere (a host echoing our Authorization header into its
 * error message, a runtime error string) has every secret value replaced before it leaves. A secret is any string
 * binding except the plain settings listed in src/settings.ts, so an upstream secret under any name the config picks is covered.
 */
import type { Env } from "./env.js";
import { MIN_SECRET_LENGTH, PLAIN_SETTINGS, clientKeys } from "./settings.js";

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
    for (const secret of name === "ROUTER_API_KEYS" ? clientKeys(env) : [value.trim()]) {
      // Shorter values would redact ordinary words; the router refuses to use such a secret (src/settings.ts).
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
