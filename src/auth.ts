/**
 * Client authentication, fail closed. Keys come from `ROUTER_API_KEYS` (comma-separated) and are sent as
 * `Authorization: Bearer <key>` (OpenAI clients) or `x-api-key: <key>` (Anthropic clients). Without keys every
 * request is refused unless `ROUTER_AUTH=off` says this is local development; then only requests addressed to
 * localhost or an IP address are answered, so a web page cannot reach the router through a rebound DNS name.
 */
import type { Env } from "./env.js";
import { misconfigured, RouterError, unauthorized } from "./errors.js";
import { authOff, clientKeys, isLoopbackOrIpHost, settingsProblem } from "./settings.js";

export type AuthMode = "keys" | "off" | "closed";

export function authMode(env: Env): AuthMode {
  if (authOff(env)) return "off";
  return clientKeys(env).length > 0 ? "keys" : "closed";
}

/**
 * Before anything else, on every route: settings the router cannot run safely with are a 500 for everyone (not a
 * guess at what was meant), and with auth off a Host that is a DNS name is refused.
 */
export function checkSettingsAndHost(request: Request, env: Env): void {
  const problem = settingsProblem(env);
  if (problem) throw misconfigured(problem);
  if (authOff(env) && !isLoopbackOrIpHost(new URL(request.url).hostname)) {
    throw new RouterError(
      403,
      "client auth is off, so this router only answers requests addressed to localhost or an IP address (such as http://127.0.0.1:8787), never a DNS name a web page could point at it; set ROUTER_API_KEYS to serve other names",
      "permission_error",
      "host_not_allowed",
    );
  }
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
  if (!(await matchesAny(key, clientKeys(env)))) throw unauthorized("invalid API key");
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
