/**
 * Admin-only host endpoints (docs/security.md): llama-server's state-changing endpoints are never reachable through the
 * inference surface; they are forwarded only from these routes, only to a configured provider, and only when the
 * request ALSO carries `x-boocode-admin-key` matching `ROUTER_ADMIN_KEY` (no key configured: admin is off).
 *
 *   GET  /admin/{provider}/slots                      -> GET  /slots
 *   POST /admin/{provider}/slots/{id}?action=A         -> POST /slots/{id}?action=A   (save | restore | erase)
 *   POST /admin/{provider}/props                       -> POST /props
 *   GET  /admin/{provider}/lora-adapters               -> GET  /lora-adapters
 *   POST /admin/{provider}/lora-adapters               -> POST /lora-adapters
 *   POST /admin/{provider}/models/load | models/unload -> POST /models/load | /models/unload (router mode)
 *
 * The host path is built from these fixed parts and validated values only: nothing from the client picks a host,
 * a path or a query string of its own.
 */
import * as z from "zod";
import { matchesAny } from "./auth.js";
import { liveConfig } from "./config/load.js";
import type { Handler, RouterRequest } from "./request-context.js";
import type { Env } from "./env.js";
import { badRequest, forbidden, notFound, RouterError } from "./errors.js";
import { maxBodyBytes, readJsonBody } from "./http.js";
import { adminKey } from "./settings.js";
import { clientResponseHeaders } from "./upstream/headers.js";
import { hostErrorToRouterError } from "./upstream/errors.js";
import { callHost } from "./upstream/fetch.js";

export const ADMIN_KEY_HEADER = "x-boocode-admin-key";

/** Throws 403 unless admin is configured and the request carries its key (compared in constant time). */
export async function requireAdmin(request: Request, env: Env): Promise<void> {
  const configured = adminKey(env);
  if (!configured) throw forbidden("admin endpoints are off: set ROUTER_ADMIN_KEY to enable them", "admin_disabled");
  const presented = request.headers.get(ADMIN_KEY_HEADER)?.trim();
  if (!presented || !(await matchesAny(presented, [configured]))) {
    throw forbidden(`this endpoint needs the admin key in ${ADMIN_KEY_HEADER}`, "admin_key_required");
  }
}

const SlotParamsSchema = z.object({
  id: z.coerce.number().int().min(0).max(4096),
  action: z.enum(["save", "restore", "erase"]),
});
const ModelBodySchema = z.looseObject({ model: z.string().min(1).max(512) });
const AnyObjectSchema = z.looseObject({});
const LoraBodySchema = z.array(z.looseObject({ id: z.number().int().min(0), scale: z.number() }));

type AdminRequest = RouterRequest & { params: { provider?: string; id?: string } };

/** An admin route: admin check, provider lookup, then `hostCall` decides method, path and body. */
function adminRoute(hostCall: (request: AdminRequest, env: Env) => Promise<{ method: "GET" | "POST"; path: string; body?: unknown }>): Handler {
  return async (request, env) => {
    await requireAdmin(request, env);
    const providerId = (request as AdminRequest).params.provider ?? "";
    const provider = (await liveConfig(env)).config.providers.find((p) => p.id === providerId);
    // The path segment is the client's own text and is not quoted back (no redaction oracle).
    if (!provider) throw notFound("no such provider in the config; GET /api/catalog lists them", "provider_not_found");
    request.log.route = provider.id;
    request.log.admin = true;
    const call = await hostCall(request as AdminRequest, env);
    const response = await callHost(provider, env, {
      method: call.method,
      path: call.path,
      clientHeaders: request.headers,
      body: call.body === undefined ? undefined : JSON.stringify(call.body),
      signal: request.signal,
    });
    if (!response.ok) throw await hostErrorToRouterError(provider.id, response);
    return new Response(response.body, { status: response.status, headers: clientResponseHeaders(response.headers) });
  };
}

/** The validated JSON body; LoRA scales are a JSON array, as llama-server takes them. */
const jsonBody = async <S extends z.ZodType>(request: Request, env: Env, schema: S) =>
  (await readJsonBody(request, schema, maxBodyBytes(env.ROUTER_MAX_BODY_BYTES), { arrays: true })).body as z.infer<S>;

export const adminSlotsHandler = adminRoute(async () => ({ method: "GET", path: "/slots" }));

export const adminSlotActionHandler = adminRoute(async (request, env) => {
  const parsed = SlotParamsSchema.safeParse({ id: request.params.id, action: new URL(request.url).searchParams.get("action") });
  if (!parsed.success) throw badRequest("a slot action needs a slot number and ?action=save|restore|erase", "invalid_slot_action", "action");
  // save/restore name a file in the host's --slot-save-path; llama-server validates the name itself.
  const body = parsed.data.action === "erase" ? undefined : await jsonBody(request, env, z.looseObject({ filename: z.string().min(1).max(255) }));
  return { method: "POST", path: `/slots/${parsed.data.id}?action=${parsed.data.action}`, body };
});

export const adminPropsHandler = adminRoute(async (request, env) => ({ method: "POST", path: "/props", body: await jsonBody(request, env, AnyObjectSchema) }));

export const adminLoraGetHandler = adminRoute(async () => ({ method: "GET", path: "/lora-adapters" }));

export const adminLoraPostHandler = adminRoute(async (request, env) => ({ method: "POST", path: "/lora-adapters", body: await jsonBody(request, env, LoraBodySchema) }));

export function adminModelHandler(action: "load" | "unload"): Handler {
  return adminRoute(async (request, env) => ({ method: "POST", path: `/models/${action}`, body: await jsonBody(request, env, ModelBodySchema) }));
}
