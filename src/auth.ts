/**
 * Client authentication (DESIGN §7): fail closed. Keys come from `ROUTER_API_KEYS` (comma-separated) and are sent as
 * `Authorization: Bearer <key>` (OpenAI clients) or `x-api-key: <key>` (Anthropic clients). Without keys every
 * request is refused unless `ROUTER_AUTH=off` says this is local development.
 */
import type { Env } from "./env.js";
import { RouterError, unauthorized } from "./errors.js";

export type AuthMode = "keys" | "off" | "closed";

export function authMode(env: Env): AuthMode {
  if (env.ROUTER_AUTH === "off") return "off";
  return configuredKeys(env).length > 0 ? "keys" : "closed";
}

/** The client keys of `ROUTER_API_KEYS`, trimmed, empty entries dropped. */
export function configuredKeys(env: Env): string[] {
  return (env.ROUTER_API_KEYS ?? "").split(",").map((k) => k.trim()).filter(Boolean);
}

export function presentedKey(request: Request): string | undefined {
  const authorization = request.headers.get("authorization");
  if (authorization) {
    const match = /^Bearer\s+(.+)$/i.exec(authorization.trim());
    return match?.[1]?.trim();
  }
  return request.headers.get("x-api-key")?.trim() || undefined;
}

/** Throws 401 unless the request carries a configured key (or auth is off). */
export async function authenticate(request: Request, env: Env): Promise<void> {
  const mode = authMode(env);
  if (mode === "off") return;
  if (mode === "closed") {
    throw new RouterError(401, "this router has no client keys configured: set ROUTER_API_KEYS (or ROUTER_AUTH=off for local development)", "authentication_error", "auth_not_configured");
  }
  const key = presentedKey(request);
  if (!key) throw unauthorized("missing API key: send Authorization: Bearer <key> or x-api-key: <key>");
  if (!(await matchesAny(key, configuredKeys(env)))) throw unauthorized("invalid API key");
}

/** Constant-time over the key's content: both sides are hashed to equal-length digests, every key is compared. */
export async function matchesAny(candidate: string, keys: string[]): Promise<boolean> {
  const digest = async (s: string) => new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(s)));
  const presented = await digest(candidate);
  let matched = false;
  for (const key of keys) {
    const expected = await digest(key);
    let diff = 0;
    for (let i = 0; i < expected.length; i++) diff |= expected[i]! ^ presented[i]!;
    matched = matched || diff === 0;
  }
  return matched;
}
