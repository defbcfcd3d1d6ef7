/**
 * What crosses the router in each direction. Allowlists, not blocklists: hop-by-hop headers, cookies,
 * client credentials and anything a client could use to steer the host never reach it; the host's own headers
 * (Server, CORS, Set-Cookie, its auth challenges) never reach the client.
 */
import type { Provider } from "../config/schema.js";
import type { Env } from "../env.js";
import { misconfigured, upstreamError } from "../errors.js";
import { shortSecretProblem } from "../settings.js";
import { hostDown } from "./errors.js";

/** Client request headers a host may see. Everything else (authorization, x-api-key, cookie, host, x-forwarded-*) is dropped. */
const FORWARD_TO_HOST = ["content-type", "accept", "user-agent", "anthropic-version", "anthropic-beta", "openai-beta"];

/** Host response headers a client may see; the router adds its own (request id, route, timing). */
const FORWARD_TO_CLIENT = ["content-type", "x-accel-buffering"];

export function hostRequestHeaders(client: Headers, provider: Provider, env: Env): Headers {
  const out = new Headers();
  for (const name of FORWARD_TO_HOST) {
    const value = client.get(name);
    if (value !== null) out.set(name, value);
  }
  for (const [name, value] of providerAuthHeaders(provider, env)) out.set(name, value);
  return out;
}

export function clientResponseHeaders(host: Headers): Headers {
  const out = new Headers();
  for (const name of FORWARD_TO_CLIENT) {
    const value = host.get(name);
    if (value !== null) out.set(name, value);
  }
  return out;
}

/** The host credentials named in the config, read from the Worker's secrets. A named but missing secret fails closed. */
export function providerAuthHeaders(provider: Provider, env: Env): [string, string][] {
  const auth = provider.auth;
  if (!auth) return [];
  const secret = (name: string): string => {
    const value = env[name];
    if (typeof value !== "string" || value === "") {
      // The router's setup for this host, not the request: another pool member may be configured right.
      throw hostDown(upstreamError(`provider "${provider.id}" needs the secret ${name}, which is not set on this router`, "missing_secret"));
    }
    // A secret too short to redact is never sent: a host echoing it back would leak it.
    const tooShort = shortSecretProblem(name, value);
    if (tooShort) throw misconfigured(tooShort);
    return value;
  };
  const headers: [string, string][] = [];
  if (auth.apiKeySecret) headers.push(["authorization", `Bearer ${secret(auth.apiKeySecret)}`]);
  if (auth.accessClientIdSecret && auth.accessClientSecretSecret) {
    headers.push(["cf-access-client-id", secret(auth.accessClientIdSecret)], ["cf-access-client-secret", secret(auth.accessClientSecretSecret)]);
  }
  return headers;
}

/** `baseUrl` may carry a path prefix (a reverse proxy); endpoint paths are appended to it. */
export function hostUrl(provider: Provider, path: string): string {
  return provider.baseUrl.replace(/\/+$/, "") + path;
}
