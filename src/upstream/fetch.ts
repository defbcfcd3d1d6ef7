/**
 * One way to call a host: allowlisted headers and credentials, a deadline for the answer's headers, the client's
 * cancellation passed through, and one retry when a pooled keep-alive connection turns out to be dead before any
 * byte came back (llama-server closes idle connections; seen as "Network connection lost" in workerd).
 */
import type { Provider } from "../config/schema.js";
import type { Env } from "../env.js";
import { hostUnreachable, upstreamTimeout } from "../errors.js";
import { hostRequestHeaders, hostUrl } from "./headers.js";

export interface HostCallOptions {
  method: "GET" | "POST";
  path: string;
  /** Client headers; only the allowlisted ones are forwarded. */
  clientHeaders?: Headers;
  body?: string;
  /** The client's cancellation. */
  signal?: AbortSignal;
  /** Deadline for the response headers; defaults to the provider's `firstByteMs`. */
  timeoutMs?: number;
}

export async function callHost(provider: Provider, env: Env, options: HostCallOptions): Promise<Response> {
  const headers = hostRequestHeaders(options.clientHeaders ?? new Headers(), provider, env);
  if (options.body !== undefined && !headers.has("content-type")) headers.set("content-type", "application/json");
  const timeoutMs = options.timeoutMs ?? provider.timeouts.firstByteMs;
  const url = hostUrl(provider, options.path);

  for (let attempt = 1; ; attempt++) {
    // The deadline covers the answer's headers only: it is disarmed once they arrive, because a signal that fires
    // later would cut a long generation's body mid-stream (the body then belongs to the idle watchdog).
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(), timeoutMs);
    const signal = options.signal ? AbortSignal.any([options.signal, deadline.signal]) : deadline.signal;
    try {
      return await fetch(url, { method: options.method, headers, body: options.body, signal });
    } catch (err) {
      if (options.signal?.aborted) throw err;
      if (deadline.signal.aborted) throw upstreamTimeout(`provider "${provider.id}" did not answer within ${timeoutMs} ms`);
      // workerd reports a dead pooled connection and a refused one alike ("Network connection lost"), so any
      // failure before the response gets one retry; a refused connection fails again at once.
      if (attempt === 1) continue;
      throw hostUnreachable(`provider "${provider.id}" is unreachable`, err);
    } finally {
      clearTimeout(timer);
    }
  }
}
