/**
 * One way to call a host: allowlisted headers and credentials, a connect-phase deadline (connect-watch.ts), a
 * deadline for the answer's headers, the client's cancellation passed through, and one retry when a pooled
 * keep-alive connection turns out to be dead before any byte came back (llama-server closes idle connections; seen
 * as "Network connection lost" in workerd). Every failure here is the host's, so it is marked for failover.
 */
import type { Provider } from "../config/schema.js";
import type { Env } from "../env.js";
import { hostUnreachable, timedOut, upstreamTimeout } from "../errors.js";
import { watchConnect } from "./connect-watch.js";
import { hostDown } from "./errors.js";
import { hostRequestHeaders, hostUrl, providerAuthHeaders } from "./headers.js";

export interface HostCallOptions {
  method: "GET" | "POST";
  path: string;
  /** Client headers; only the allowlisted ones are forwarded. */
  clientHeaders?: Headers;
  /** Text, or parts sent as one body without being joined (a large body is never copied per attempt). */
  body?: string | Uint8Array[];
  /** The client's cancellation. */
  signal?: AbortSignal;
  /** Deadline for the response headers; defaults to the provider's `firstByteMs`. */
  timeoutMs?: number;
}

export async function callHost(provider: Provider, env: Env, options: HostCallOptions): Promise<Response> {
  const headers = hostRequestHeaders(options.clientHeaders ?? new Headers(), provider, env);
  if (options.body !== undefined && !headers.has("content-type")) headers.set("content-type", "application/json");
  const timeoutMs = options.timeoutMs ?? provider.timeouts.firstByteMs;
  const { connectMs } = provider.timeouts;
  const url = hostUrl(provider, options.path);
  // Only worth watching when it would fire before the first-byte deadline (discovery's short probes need none).
  const health = connectMs < timeoutMs ? { url: hostUrl(provider, "/health"), headers: new Headers(providerAuthHeaders(provider, env)) } : undefined;

  for (let attempt = 1; ; attempt++) {
    // The deadlines cover the answer's headers only: they are disarmed once those arrive, because a signal that
    // fires later would cut a long generation's body mid-stream (the body then belongs to the idle watchdog).
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(), timeoutMs);
    const connect = health && watchConnect(health.url, health.headers, connectMs, () => deadline.abort());
    const signal = options.signal ? AbortSignal.any([options.signal, deadline.signal]) : deadline.signal;
    try {
      return await fetch(url, { method: options.method, headers, body: requestBody(options.body), signal });
    } catch (err) {
      if (options.signal?.aborted) throw err;
      if (connect?.fired) throw connectTimeout(provider, connectMs);
      if (deadline.signal.aborted) throw hostDown(upstreamTimeout(`provider "${provider.id}" did not answer within ${timeoutMs} ms`));
      // workerd reports a dead pooled connection and a refused one alike ("Network connection lost"), so any
      // failure before the response gets one retry; a refused connection fails again at once.
      if (attempt === 1) continue;
      throw hostDown(hostUnreachable(`provider "${provider.id}" is unreachable`, err));
    } finally {
      clearTimeout(timer);
      connect?.stop();
    }
  }
}

/** Parts become a stream of known length, so the host still gets a Content-Length; a new one per attempt. */
function requestBody(body: string | Uint8Array[] | undefined): BodyInit | undefined {
  if (body === undefined || typeof body === "string") return body;
  const { readable, writable } = new FixedLengthStream(body.reduce((n, part) => n + part.byteLength, 0));
  const writer = writable.getWriter();
  void (async () => {
    for (const part of body) await writer.write(part);
    await writer.close();
  })().catch(() => {}); // the request failed or was aborted: its body is no longer read
  return readable;
}

const connectTimeout = (provider: Provider, connectMs: number) =>
  hostDown(timedOut(`provider "${provider.id}" accepted no connection within ${connectMs} ms (no answer, and no answer to GET /health)`, "connect_timeout"));
