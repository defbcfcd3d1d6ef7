/**
 * The router: what every request goes through before and after its route (routes.ts holds the table). Before: the
 * request's context and log line, unsafe settings and Host, CORS, client auth. After: the router's headers and the
 * log line. Errors from anywhere render in the one error shape.
 */
import { Router } from "itty-router";
import { authenticate, checkSettingsAndHost } from "./auth.js";
import { addCorsHeaders, checkOrigin, preflightResponse } from "./cors.js";
import type { Env } from "./env.js";
import { clientClosed, dialectFor, errorResponse, methodNotAllowed, notFound, toRouterError } from "./errors.js";
import type { RouterRequest } from "./request-context.js";
import { requestIdFor, writeLog } from "./request-context.js";
import { ROUTES, allowedMethods, isPublicPath } from "./routes.js";
import { learnSecrets } from "./secrets.js";

type Args = [Env, ExecutionContext];

function withContext(request: RouterRequest, env: Env, ctx: ExecutionContext): void {
  learnSecrets(env);
  request.waitUntil = (work) => ctx.waitUntil(work.catch(() => {}));
  request.requestId = requestIdFor(request);
  request.startedAt = Date.now();
  request.log = { requestId: request.requestId, method: request.method, path: new URL(request.url).pathname };
  const agent = clientProduct(request.headers.get("user-agent"));
  if (agent) request.log.agent = agent;
  // A client that leaves is often seen only through this signal (under `npm start` a relay's pending write to the
  // gone client was never seen to fail, and no line was written), so the log line is written from the abort, once
  // its other listeners ran: a streamed answer's relay logs its own line with what it sent; anything else logs here,
  // status 499 as nginx logs it when no answer went out.
  request.signal?.addEventListener("abort", () => queueMicrotask(() => logCancelled(request)), { once: true });
}

function logCancelled(request: RouterRequest): void {
  if (request.logged) return;
  request.log.status ??= 499;
  request.log.outcome ??= "cancelled";
  writeLog(request);
}


/** `opencode/1.18.33 ai-sdk/...` -> `opencode/1.18.33`: which client sent it, without the rest of the header. */
function clientProduct(userAgent: string | null): string | undefined {
  const first = userAgent?.split(" ")[0];
  return first && /^[\w.\-/@]{1,64}$/.test(first) ? first : undefined;
}

/** First of all: unsafe settings and, with auth off, a DNS-name Host are refused on every route. */
function withSettings(request: RouterRequest, env: Env): void {
  checkSettingsAndHost(request, env);
}

/** Before auth: a browser's preflight carries no key. A disallowed Origin is refused here (403), allowed ones remembered. */
function withCors(request: RouterRequest, env: Env): Response | undefined {
  const origin = checkOrigin(request, env);
  if (origin === undefined) return undefined;
  request.corsOrigin = origin;
  if (request.method === "OPTIONS" && request.headers.has("access-control-request-method")) return preflightResponse(origin);
  return undefined;
}

async function withAuth(request: RouterRequest, env: Env): Promise<void> {
  if (!isPublicPath(new URL(request.url).pathname)) await authenticate(request, env);
}

function missing(request: RouterRequest): never {
  const path = new URL(request.url).pathname;
  // The path is the client's own text and is not quoted back: redacting a secret in it would confirm a guess.
  // (The method is not client text in that sense: the runtime accepts only methods it knows by name.)
  const allowed = allowedMethods(path);
  if (allowed.length) throw methodNotAllowed(`${request.method} is not allowed on this path; use ${allowed.join(" or ")}`);
  throw notFound(`no route for ${request.method} on this path; GET /v1/models lists the models, /health the router's state`);
}

function renderError(err: unknown, request: RouterRequest): Response {
  const error = request.signal?.aborted ? clientClosed("the client went away before the answer") : toRouterError(err);
  if (error.status === 499 && request.log) request.log.outcome = "cancelled";
  if (request.log) {
    request.log.error = error.message;
    if (error.internal !== undefined) request.log.cause = String((error.internal as Error)?.message ?? error.internal);
  }
  const path = new URL(request.url).pathname;
  return errorResponse(error, error.status === 405 ? { allow: allowedMethods(path).join(", ") } : undefined, dialectFor(path));
}

function finish(response: Response, request: RouterRequest): Response {
  response.headers.set("x-request-id", request.requestId);
  if (request.corsOrigin) addCorsHeaders(response, request.corsOrigin);
  response.headers.set("server-timing", serverTiming(request));
  request.log.status = response.status;
  if (!request.logDeferred) writeLog(request);
  return response;
}

/**
 * `Server-Timing`: when the host's answer began and when the router's headers went out, both from the
 * request's arrival. A connect phase is not measurable from a Worker (fetch exposes no connect event).
 */
function serverTiming(request: RouterRequest): string {
  const parts = [`router;desc="headers sent";dur=${Date.now() - request.startedAt}`];
  if (request.log.ttfbMs !== undefined) parts.unshift(`upstream;desc="host first byte";dur=${request.log.ttfbMs}`);
  return parts.join(", ");
}

export const router = Router<RouterRequest, Args>({
  before: [withContext, withSettings, withCors, withAuth],
  catch: renderError,
  finally: [finish],
});

for (const route of ROUTES) router[route.method === "GET" ? "get" : "post"](route.path, route.handler);
router.all("*", missing);
