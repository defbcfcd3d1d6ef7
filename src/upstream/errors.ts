/**
 * Turns a host's non-2xx answer into the router's one error shape, and says whether the HOST failed (a pool then
 * tries its next member) or answered (the error is final). llama-server's own errors
 * (`{"error":{"code":400,"message","type"}}`) pass through with their status, normalised (`param` and string `code`
 * added, extra facts such as `n_ctx` kept): a 500 about a template or a grammar is the request's fault and every
 * member would say the same. Host-down signals: a gateway's or a loading answer (502/503/504), anything that is not
 * llama-server talking (a tunnel's HTML page), and a 401/403, which means the ROUTER's credentials for that host are
 * wrong, something the client cannot fix and another member may not share.
 */
import { readAtMost } from "../bounded-read.js";
import { badUpstream, RouterError, upstreamError } from "../errors.js";

/** The most of a host's error body the router reads; llama-server's errors are a few hundred bytes. */
export const ERROR_BODY_MAX_BYTES = 64 * 1024;

const HOST_DOWN_STATUSES = new Set([502, 503, 504]);

/** Marks an error as the host's failure rather than its answer (see RouterError.failover). */
export function hostDown<E extends RouterError>(error: E): E {
  error.failover = "host_down";
  return error;
}

/**
 * llama-server in router mode, asked with `?autoload=false`, refuses a model it has not loaded with this 400 instead
 * of loading it first. Only a request the router sent that way can get it, so the text is unambiguous.
 */
const NOT_LOADED_MESSAGE = "model is not loaded";

/** The host's refusal of an `?autoload=false` request, if `error` is one: a pool moves on; the host is not failed. */
export function notLoaded(error: RouterError): RouterError | undefined {
  if (error.status !== 400 || error.message !== NOT_LOADED_MESSAGE) return undefined;
  const refusal = new RouterError(503, error.message, "service_unavailable_error", "model_not_loaded");
  refusal.failover = "not_loaded";
  return refusal;
}

export async function hostErrorToRouterError(providerId: string, response: Response): Promise<RouterError> {
  const { status } = response;
  const read = await readAtMost(response.body, ERROR_BODY_MAX_BYTES).catch(() => ({ bytes: new Uint8Array(0), complete: true }));
  if (status === 401 || status === 403) {
    return hostDown(upstreamError(`provider "${providerId}" refused the router's credentials (HTTP ${status}); check its auth secrets`, "upstream_unauthorized"));
  }
  const downIfGateway = (error: RouterError) => (HOST_DOWN_STATUSES.has(status) ? hostDown(error) : error);
  if (!read.complete) return downIfGateway(badUpstream(`provider "${providerId}" answered HTTP ${status} with an error body over ${ERROR_BODY_MAX_BYTES} bytes`));
  const text = new TextDecoder().decode(read.bytes);
  const hostError = parseHostError(text);
  if (!hostError) {
    return hostDown(upstreamError(`provider "${providerId}" is down or not a llama-server (HTTP ${status}, non-JSON answer)`, "host_unreachable", text.slice(0, 300)));
  }
  return downIfGateway(fromHostError(providerId, status >= 400 && status <= 599 ? status : 502, hostError));
}

/**
 * A 200 whose JSON carries an error object (after a whole generation): the host's answer, reported as a 502 in the
 * router's shape, never retried elsewhere.
 */
export function errorInAnswer(providerId: string, body: object): RouterError {
  return fromHostError(providerId, 502, errorObject(body) ?? { message: `provider "${providerId}" answered with an error` });
}

function fromHostError(providerId: string, status: number, hostError: Record<string, unknown>): RouterError {
  const { message, type, code, param, ...extra } = hostError;
  return new RouterError(
    status,
    typeof message === "string" && message ? message : `provider "${providerId}" answered HTTP ${status}`,
    typeof type === "string" ? type : "upstream_error",
    typeof code === "string" ? code : null,
    typeof param === "string" ? param : null,
    extra,
  );
}

function parseHostError(text: string): Record<string, unknown> | undefined {
  try {
    const parsed: unknown = JSON.parse(text);
    return typeof parsed === "object" && parsed !== null ? errorObject(parsed) : undefined;
  } catch {
    return undefined;
  }
}

function errorObject(parsed: object): Record<string, unknown> | undefined {
  const error = (parsed as { error?: unknown }).error;
  if (typeof error === "object" && error !== null) return error as Record<string, unknown>;
  if (typeof error === "string") return { message: error };
  const message = (parsed as { message?: unknown }).message;
  return typeof message === "string" ? { message } : undefined;
}
