/**
 * CORS: only the origins listed in `ROUTER_CORS_ORIGINS` (comma-separated, exact `scheme://host[:port]`)
 * may call the router from a browser. Fail closed: a request whose `Origin` is neither listed nor the router's own is
 * refused with 403 before it is authenticated or forwarded. That also stops a web page from spending a home GPU
 * through a router on localhost with auth off (a cross-site "simple" POST needs no preflight, but it carries Origin).
 */
import type { Env } from "./env.js";
import { forbidden } from "./errors.js";
import { authOff, corsOrigins, isLoopbackOrIpHost } from "./settings.js";

/** Request headers a browser app may send (the OpenAI and Anthropic SDKs' own, and the session headers). */
const ALLOWED_HEADERS = [
  "authorization",
  "x-api-key",
  "content-type",
  "x-request-id",
  "anthropic-version",
  "anthropic-beta",
  "anthropic-dangerous-direct-browser-access",
  "openai-beta",
  "x-session-affinity",
  "x-session-id",
  "x-stainless-arch",
  "x-stainless-lang",
  "x-stainless-os",
  "x-stainless-package-version",
  "x-stainless-retry-count",
  "x-stainless-runtime",
  "x-stainless-runtime-version",
  "x-stainless-timeout",
].join(", ");

/** Response headers a browser app may read. */
const EXPOSED_HEADERS = "x-request-id, x-boocode-route, server-timing, retry-after";

/** How long a browser may cache a preflight answer (seconds). */
const PREFLIGHT_MAX_AGE = "600";

/**
 * The request's Origin when it is a cross-origin browser request that is allowed, `undefined` when there is no
 * cross-origin question (no Origin, or the router's own). Throws 403 for any other origin.
 */
export function checkOrigin(request: Request, env: Env): string | undefined {
  const origin = request.headers.get("origin");
  if (origin === null) return undefined;
  const own = new URL(request.url);
  // The router's own origin needs no listing, except with auth off under a DNS name: a page whose name was rebound
  // to 127.0.0.1 would be "same-origin" with the router and could use it without a key. IPs and localhost can't be.
  // (The Host check in src/auth.ts refuses such requests earlier; this stays correct on its own.)
  if (origin.toLowerCase() === own.origin && (!authOff(env) || isLoopbackOrIpHost(own.hostname))) return undefined;
  if (corsOrigins(env).has(origin.toLowerCase())) return origin;
  throw forbidden("this origin may not call the router: add it to ROUTER_CORS_ORIGINS", "cors_origin_not_allowed");
}

/** The answer to an allowed preflight (`OPTIONS` with `Access-Control-Request-Method`). */
export function preflightResponse(origin: string): Response {
  return new Response(null, {
    status: 204,
    headers: {
      "access-control-allow-origin": origin,
      "access-control-allow-methods": "GET, POST",
      "access-control-allow-headers": ALLOWED_HEADERS,
      "access-control-max-age": PREFLIGHT_MAX_AGE,
      vary: "Origin",
    },
  });
}

/** Marks a response readable by the allowed origin. */
export function addCorsHeaders(response: Response, origin: string): void {
  response.headers.set("access-control-allow-origin", origin);
  response.headers.set("access-control-expose-headers", EXPOSED_HEADERS);
  response.headers.append("vary", "Origin");
}
