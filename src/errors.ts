/**
 * One error shape everywhere (docs/api.md, "Errors"): `{"error":{"message","type","param","code"}}` with all four keys present,
 * as OpenAI's published `ErrorResponse` schema requires. Clients written against the OpenAI API read
 * `body.error.message`, so the envelope never degrades to a bare string. Handlers throw {@link RouterError};
 * {@link errorResponse} renders it in one place.
 */
import { redactSecrets } from "./secrets.js";

export type ErrorType =
  | "invalid_request_error"
  | "authentication_error"
  | "permission_error"
  | "not_found_error"
  | "upstream_error"
  | "service_unavailable_error"
  | "timeout_error"
  | "api_error"
  | (string & {});

export interface ErrorBody {
  message: string;
  type: ErrorType;
  param: string | null;
  code: string | null;
  /** Extra, machine-readable facts (e.g. `candidates`, `n_ctx`); never secrets. */
  [extra: string]: unknown;
}

export class RouterError extends Error {
  override name = "RouterError";
  /**
   * Why a pool may try its next member: the HOST failed (`host_down`: no connection, a timeout, a gateway's or a
   * loading answer), or a router-mode host was asked to answer only with the model already loaded and did not have it
   * (`not_loaded`: the host is fine). Set only by the upstream layer (upstream/errors.ts); a host's own verdict on the
   * request leaves it false.
   */
  failover: false | "host_down" | "not_loaded" = false;
  constructor(
    readonly status: number,
    message: string,
    readonly type: ErrorType,
    readonly code: string | null = null,
    readonly param: string | null = null,
    readonly extra: Record<string, unknown> = {},
    /** Logged, never sent: the underlying cause (may name internals). */
    readonly internal?: unknown,
  ) {
    super(redactSecrets(message));
  }

  body(): ErrorBody {
    const body = { message: this.message, type: this.type, param: this.param, code: this.code, ...this.extra };
    // `extra` holds facts a host reported (n_ctx, ...): a host's text is redacted like the message.
    return Object.keys(this.extra).length ? (JSON.parse(redactSecrets(JSON.stringify(body))) as ErrorBody) : body;
  }
}

export const badRequest = (message: string, code: string | null = null, param: string | null = null, extra?: Record<string, unknown>) =>
  new RouterError(400, message, "invalid_request_error", code, param, extra);
export const unauthorized = (message: string) => new RouterError(401, message, "authentication_error", "invalid_api_key");
export const notFound = (message: string, code: string | null = "not_found") => new RouterError(404, message, "invalid_request_error", code);
export const modelNotFound = (message: string, extra?: Record<string, unknown>) =>
  new RouterError(404, message, "invalid_request_error", "model_not_found", "model", extra);
/**
 * A model string nobody configured is the client's own text and is not quoted back: a guessed secret sent as the
 * model would come back redacted, confirming the guess.
 */
export const NO_SUCH_MODEL = "the requested model does not exist; GET /v1/models lists every model as provider/model";
export const hostUnreachable = (message: string, internal?: unknown) =>
  new RouterError(502, message, "upstream_error", "host_unreachable", null, {}, internal);
export const badUpstream = (message: string, internal?: unknown) => new RouterError(502, message, "upstream_error", "bad_upstream_response", null, {}, internal);
export const upstreamTimeout = (message: string) => new RouterError(504, message, "timeout_error", "upstream_timeout");
export const ambiguousModel = (message: string, candidates: string[]) =>
  new RouterError(400, message, "invalid_request_error", "ambiguous_model", "model", { candidates });
export const forbidden = (message: string, code: string) => new RouterError(403, message, "permission_error", code);
export const methodNotAllowed = (message: string) => new RouterError(405, message, "invalid_request_error", "method_not_allowed");
export const tooLarge = (message: string) => new RouterError(413, message, "invalid_request_error", "request_too_large");
/** The client went away: not a router failure (nginx's 499; an aborted host call must not become a 500). */
export const clientClosed = (message: string) => new RouterError(499, message, "api_error", "client_closed");
/** A setting this router cannot run with safely; the message says what to change. */
export const misconfigured = (problem: string) => new RouterError(500, `this router is misconfigured: ${problem}`, "api_error", "router_misconfigured");
/** The host (or its stream) failed in a way the `code` names; `internal` is logged, never sent. */
export const upstreamError = (message: string, code: string, internal?: unknown) => new RouterError(502, message, "upstream_error", code, null, {}, internal);
export const unavailable = (message: string, code: string, extra?: Record<string, unknown>) =>
  new RouterError(503, message, "service_unavailable_error", code, null, extra);
/** A deadline passed: the host's (504) or, with 408, the client's. */
export const timedOut = (message: string, code: string, status: 504 | 408 = 504) => new RouterError(status, message, "timeout_error", code);

/** Renders any thrown value; unknown errors become a generic 500 and their detail goes to the log only. */
export function toRouterError(err: unknown): RouterError {
  if (err instanceof RouterError) return err;
  return new RouterError(500, "internal router error", "api_error", "internal_error", null, {}, err);
}

/**
 * Anthropic clients (Claude Code) read `{"type":"error","error":{"type","message"}}` on the Anthropic paths;
 * everything else speaks OpenAI's shape.
 */
export type ErrorDialect = "openai" | "anthropic";

export function dialectFor(path: string): ErrorDialect {
  return path === "/v1/messages" || path.startsWith("/v1/messages/") ? "anthropic" : "openai";
}

/** Anthropic's error types by status (docs.anthropic.com/en/api/errors). */
export function anthropicType(status: number): string {
  if (status === 401) return "authentication_error";
  if (status === 403) return "permission_error";
  if (status === 404) return "not_found_error";
  if (status === 413) return "request_too_large";
  if (status === 429) return "rate_limit_error";
  if (status === 503 || status === 529) return "overloaded_error";
  if (status === 504) return "timeout_error";
  if (status >= 500) return "api_error";
  return "invalid_request_error";
}

export function errorPayload(err: RouterError, dialect: ErrorDialect = "openai"): unknown {
  if (dialect === "anthropic") return { type: "error", error: { type: anthropicType(err.status), message: err.message } };
  return { error: err.body() };
}

export function errorResponse(err: RouterError, headers?: HeadersInit, dialect: ErrorDialect = "openai"): Response {
  const h = new Headers(headers);
  h.set("content-type", "application/json");
  return new Response(JSON.stringify(errorPayload(err, dialect)), { status: err.status, headers: h });
}
