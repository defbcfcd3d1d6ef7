/**
 * The router's own settings, read from the Worker's bindings. Imports nothing, so auth, CORS, redaction and errors
 * can all depend on it without depending on each other.
 */

/** Bindings that are plain settings, not secrets; every other string binding is treated as a secret. */
export const PLAIN_SETTINGS = new Set(["ROUTER_AUTH", "ROUTER_CORS_ORIGINS", "ROUTER_MAX_BODY_BYTES", "CONFIG_REFRESH_MS"]);

/**
 * Secrets shorter than this are refused: redaction would replace ordinary words at shorter lengths, so it skips them,
 * and a secret that cannot be redacted must not be used at all.
 */
export const MIN_SECRET_LENGTH = 8;

type Bindings = Record<string, unknown>;

const text = (value: unknown): string => (typeof value === "string" ? value.trim() : "");

/** The client keys of `ROUTER_API_KEYS` (comma-separated), trimmed, empty entries dropped. */
export function clientKeys(env: Bindings): string[] {
  return text(env.ROUTER_API_KEYS).split(",").map((k) => k.trim()).filter(Boolean);
}

/** `ROUTER_ADMIN_KEY`, or "" when admin endpoints are off. */
export function adminKey(env: Bindings): string {
  return text(env.ROUTER_ADMIN_KEY);
}

/** Only the exact value `off` switches client auth off. */
export function authOff(env: Bindings): boolean {
  return env.ROUTER_AUTH === "off";
}

/** `ROUTER_CORS_ORIGINS`: exact `scheme://host[:port]` origins, lower-cased, trailing slashes dropped. */
export function corsOrigins(env: Bindings): Set<string> {
  return new Set(
    text(env.ROUTER_CORS_ORIGINS)
      .split(",")
      .map((o) => o.trim().replace(/\/+$/, "").toLowerCase())
      .filter(Boolean),
  );
}

/** Why a secret value may not be used, or undefined. Names the secret, never its value. */
export function shortSecretProblem(name: string, value: string): string | undefined {
  if (value.length >= MIN_SECRET_LENGTH) return undefined;
  return `${name} is shorter than ${MIN_SECRET_LENGTH} characters; the router refuses secrets it cannot redact safely (use a long random value)`;
}

/**
 * Why these settings are unsafe to run with, or undefined. Auth off together with client keys is refused rather
 * than resolved either way, and every client or admin key must be long enough to redact.
 */
export function settingsProblem(env: Bindings): string | undefined {
  const keys = clientKeys(env);
  if (authOff(env) && keys.length > 0) {
    return "ROUTER_AUTH=off and ROUTER_API_KEYS are both set: remove ROUTER_AUTH=off to require the keys, or remove the keys for keyless local development";
  }
  const short = keys.findIndex((k) => k.length < MIN_SECRET_LENGTH);
  if (short >= 0) return shortSecretProblem(`ROUTER_API_KEYS entry ${short + 1}`, keys[short]!);
  const admin = adminKey(env);
  return admin ? shortSecretProblem("ROUTER_ADMIN_KEY", admin) : undefined;
}

/**
 * With auth off, a request is answered only when its Host cannot be a rebound DNS name: `localhost`, an IPv4 literal
 * (127.0.0.0/8 included) or a bracketed IPv6 literal. `hostname` is the URL parser's canonical form.
 */
export function isLoopbackOrIpHost(hostname: string): boolean {
  return hostname === "localhost" || /^\d{1,3}(\.\d{1,3}){3}$/.test(hostname) || /^\[[0-9a-f:.]+\]$/i.test(hostname);
}
