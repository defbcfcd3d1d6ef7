/**
 * The route table. Every path the router answers is listed here, and only these reach a host (DESIGN §7):
 * the /v1 inference routes map one-to-one to llama-server endpoints.
 */
import { Router } from "itty-router";
import { adminLoraGetHandler, adminLoraPostHandler, adminModelHandler, adminPropsHandler, adminSlotActionHandler, adminSlotsHandler } from "./admin.js";
import { authenticate, checkSettingsAndHost } from "./auth.js";
import type { RouterRequest } from "./context.js";
import { learnSecrets } from "./secrets.js";
import { addCorsHeaders, checkOrigin, preflightResponse } from "./cors.js";
import { requestIdFor, writeLog } from "./context.js";
import type { Env } from "./env.js";
import { RouterError, dialectFor, errorResponse, notFound, toRouterError } from "./errors.js";
import { agentConfigHandler, opencodeConfigHandler } from "./agents/routes.js";
import { arenaHandler } from "./api/arena.js";
import { catalogHandler } from "./api/catalog.js";
import { chatHandler } from "./api/chat.js";
import { contextHandler } from "./api/context.js";
import { modelDetailHandler } from "./api/models.js";
import { detokenizeHandler, tokenizeHandler } from "./api/tokens.js";
import { healthHandler } from "./health.js";
import { statusJsonHandler, statusPageHandler } from "./status-page.js";
import { inferenceHandler } from "./v1/inference.js";
import { getModelHandler, listModelsHandler } from "./v1/models.js";

type Args = [Env, ExecutionContext];

/** Routes that answer without a client key. */
const PUBLIC_PATHS = new Set(["/health", "/", "/status.json"]);

/** POST /v1/... routes and the host endpoint each one is forwarded to. */
const INFERENCE_ROUTES = ["/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/rerank", "/v1/messages", "/v1/messages/count_tokens", "/v1/responses"];

const KNOWN_PATHS = new Map<string, string>([
  ["/health", "GET"],
  ["/v1/models", "GET"],
  ["/api/opencode-config", "GET"],
  ["/api/agent-config", "GET"],
  ["/", "GET"],
  ["/status.json", "GET"],
  ["/api/catalog", "GET"],
  ["/api/context", "POST"],
  ["/api/tokenize", "POST"],
  ["/api/detokenize", "POST"],
  ["/api/chat", "POST"],
  ["/api/arena", "POST"],
  ...INFERENCE_ROUTES.map((p) => [p, "POST"] as [string, string]),
]);

function withContext(request: RouterRequest, env: Env): void {
  learnSecrets(env);
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

/** The client went away before the answer: not a router failure (an aborted host call must not become a 500). */
const clientClosed = () => new RouterError(499, "the client went away before the answer", "api_error", "client_closed");

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
  if (!PUBLIC_PATHS.has(new URL(request.url).pathname)) await authenticate(request, env);
}

function missing(request: RouterRequest): never {
  const path = new URL(request.url).pathname;
  // The path is the client's own text and is not quoted back: redacting a secret in it would confirm a guess.
  // (The method is not client text in that sense: the runtime accepts only methods it knows by name.)
  const allowed = KNOWN_PATHS.get(path) ?? (path.startsWith("/v1/models/") || path.startsWith("/api/models/") ? "GET" : undefined);
  if (allowed) throw new RouterError(405, `${request.method} is not allowed on this path; use ${allowed}`, "invalid_request_error", "method_not_allowed");
  throw notFound(`no route for ${request.method} on this path; GET /v1/models lists the models, /health the router's state`);
}

function renderError(err: unknown, request: RouterRequest): Response {
  const error = request.signal?.aborted ? clientClosed() : toRouterError(err);
  if (error.status === 499 && request.log) request.log.outcome = "cancelled";
  if (request.log) {
    request.log.error = error.message;
    if (error.internal !== undefined) request.log.cause = String((error.internal as Error)?.message ?? error.internal);
  }
  const path = new URL(request.url).pathname;
  return errorResponse(error, error.status === 405 ? { allow: KNOWN_PATHS.get(path) ?? "GET" } : undefined, dialectFor(path));
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
 * `Server-Timing` (DESIGN §9): when the host's answer began and when the router's headers went out, both from the
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

router.get("/health", healthHandler);
router.get("/v1/models", listModelsHandler);
router.get("/v1/models/:id+", getModelHandler);
for (const path of INFERENCE_ROUTES) router.post(path, inferenceHandler(path));
router.get("/api/opencode-config", opencodeConfigHandler);
router.get("/api/agent-config", agentConfigHandler);
router.get("/", statusPageHandler);
router.get("/status.json", statusJsonHandler);
router.get("/api/catalog", catalogHandler);
router.get("/api/models/:id+", modelDetailHandler);
router.post("/api/context", contextHandler);
router.post("/api/tokenize", tokenizeHandler);
router.post("/api/detokenize", detokenizeHandler);
router.post("/api/chat", chatHandler);
router.post("/api/arena", arenaHandler);
router.get("/admin/:provider/slots", adminSlotsHandler);
router.post("/admin/:provider/slots/:id", adminSlotActionHandler);
router.post("/admin/:provider/props", adminPropsHandler);
router.get("/admin/:provider/lora-adapters", adminLoraGetHandler);
router.post("/admin/:provider/lora-adapters", adminLoraPostHandler);
router.post("/admin/:provider/models/load", adminModelHandler("load"));
router.post("/admin/:provider/models/unload", adminModelHandler("unload"));
router.all("*", missing);
