/**
 * The route table: every path the router answers, in one list. Only these reach a host, each /v1 inference route
 * mapped to the one llama-server endpoint of the same path, the admin routes to fixed host endpoints. The router
 * registers exactly this list, and the 405 answer (with its `Allow` header) is derived from it, so the two can
 * never disagree.
 */
import { adminLoraGetHandler, adminLoraPostHandler, adminModelHandler, adminPropsHandler, adminSlotActionHandler, adminSlotsHandler } from "./admin.js";
import { agentConfigHandler, opencodeConfigHandler } from "./agents/routes.js";
import { arenaHandler } from "./api/arena.js";
import { catalogHandler } from "./api/catalog.js";
import { chatHandler } from "./api/chat.js";
import { contextHandler } from "./api/context.js";
import { modelDetailHandler } from "./api/models.js";
import { detokenizeHandler, tokenizeHandler } from "./api/tokens.js";
import { healthHandler } from "./health.js";
import type { Handler } from "./request-context.js";
import { statusJsonHandler, statusPageHandler } from "./status-page.js";
import { inferenceHandler } from "./v1/inference-routes.js";
import { getModelHandler, listModelsHandler } from "./v1/models.js";

export interface Route {
  method: "GET" | "POST";
  /** itty-router's pattern: `:name` is one path segment, `:name+` the rest of the path. */
  path: string;
  handler: Handler;
  /** Answers without a client key (liveness and the status page). */
  public?: true;
}

/** The /v1 inference routes; each is forwarded to the host endpoint of the same path. */
const INFERENCE_PATHS = ["/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/rerank", "/v1/messages", "/v1/messages/count_tokens", "/v1/responses"];

export const ROUTES: readonly Route[] = [
  { method: "GET", path: "/health", handler: healthHandler, public: true },
  { method: "GET", path: "/", handler: statusPageHandler, public: true },
  { method: "GET", path: "/status.json", handler: statusJsonHandler, public: true },
  { method: "GET", path: "/v1/models", handler: listModelsHandler },
  { method: "GET", path: "/v1/models/:id+", handler: getModelHandler },
  ...INFERENCE_PATHS.map((path): Route => ({ method: "POST", path, handler: inferenceHandler(path) })),
  { method: "GET", path: "/api/opencode-config", handler: opencodeConfigHandler },
  { method: "GET", path: "/api/agent-config", handler: agentConfigHandler },
  { method: "GET", path: "/api/catalog", handler: catalogHandler },
  { method: "GET", path: "/api/models/:id+", handler: modelDetailHandler },
  { method: "POST", path: "/api/context", handler: contextHandler },
  { method: "POST", path: "/api/tokenize", handler: tokenizeHandler },
  { method: "POST", path: "/api/detokenize", handler: detokenizeHandler },
  { method: "POST", path: "/api/chat", handler: chatHandler },
  { method: "POST", path: "/api/arena", handler: arenaHandler },
  { method: "GET", path: "/admin/:provider/slots", handler: adminSlotsHandler },
  { method: "POST", path: "/admin/:provider/slots/:id", handler: adminSlotActionHandler },
  { method: "POST", path: "/admin/:provider/props", handler: adminPropsHandler },
  { method: "GET", path: "/admin/:provider/lora-adapters", handler: adminLoraGetHandler },
  { method: "POST", path: "/admin/:provider/lora-adapters", handler: adminLoraPostHandler },
  { method: "POST", path: "/admin/:provider/models/load", handler: adminModelHandler("load") },
  { method: "POST", path: "/admin/:provider/models/unload", handler: adminModelHandler("unload") },
];

/** An itty-router pattern as an anchored regular expression over a URL path. */
function patternToRegExp(pattern: string): RegExp {
  const source = pattern
    .split("/")
    .map((segment) => (segment.endsWith("+") && segment.startsWith(":") ? ".+" : segment.startsWith(":") ? "[^/]+" : segment.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")))
    .join("/");
  return new RegExp(`^${source}$`);
}

const MATCHERS = ROUTES.map((route) => ({ route, regexp: patternToRegExp(route.path) }));

/** The routes whose pattern matches `path`, whatever their method. */
const routesFor = (path: string): Route[] => MATCHERS.filter((m) => m.regexp.test(path)).map((m) => m.route);

/** The methods the table answers on `path` (for a 405 and its `Allow` header); empty when no route matches. */
export function allowedMethods(path: string): string[] {
  return [...new Set(routesFor(path).map((r) => r.method))];
}

/** A path whose routes answer without a client key. */
export function isPublicPath(path: string): boolean {
  const routes = routesFor(path);
  return routes.length > 0 && routes.every((r) => r.public);
}
