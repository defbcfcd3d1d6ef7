/**
 * Turns a host's non-2xx answer into the router's one error shape (DESIGN §6). llama-server's own errors
 * (`{"error":{"code":400,"message","type"}}`) pass through with their status, normalised (`param` and string `code`
 * added, extra facts such as `n_ctx` kept). What is not llama-server talking (a tunnel's HTML 502/530 page) means
 * the host is down; a 401/403 means the ROUTER's credentials for the host are wrong, which the client cannot fix.
 */
import { RouterError } from "../errors.js";

const BODY_PEEK_BYTES = 64 * 1024;

export async function hostErrorToRouterError(providerId: string, response: Response): Promise<RouterError> {
  const text = await response.text().then((t) => t.slice(0, BODY_PEEK_BYTES), () => "");
  if (response.status === 401 || response.status === 403) {
    return new RouterError(502, `provider "${providerId}" refused the router's credentials (HTTP ${response.status}); check its auth secrets`, "upstream_error", "upstream_unauthorized");
  }
  const hostError = parseHostError(text);
  if (!hostError) {
    return new RouterError(502, `provider "${providerId}" is down or not a llama-server (HTTP ${response.status}, non-JSON answer)`, "upstream_error", "host_unreachable", null, {}, text.slice(0, 300));
  }
  const { message, type, code, param, ...extra } = hostError;
  return new RouterError(
    response.status >= 400 && response.status <= 599 ? response.status : 502,
    typeof message === "string" && message ? message : `provider "${providerId}" answered HTTP ${response.status}`,
    typeof type === "string" ? type : "upstream_error",
    typeof code === "string" ? code : null,
    typeof param === "string" ? param : null,
    extra,
  );
}

function parseHostError(text: string): Record<string, unknown> | undefined {
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed !== "object" || parsed === null) return undefined;
    const error = (parsed as { error?: unknown }).error;
    if (typeof error === "object" && error !== null) return error as Record<string, unknown>;
    if (typeof error === "string") return { message: error };
    const message = (parsed as { message?: unknown }).message;
    return typeof message === "string" ? { message } : undefined;
  } catch {
    return undefined;
  }
}
