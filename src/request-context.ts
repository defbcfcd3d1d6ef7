/**
 * Per-request facts the router carries from the first middleware to the log line: the request id, and
 * the fields of the one structured JSON log line each request writes.
 */
import type { IRequest } from "itty-router";
import type { Env } from "./env.js";
import { redactSecrets } from "./secrets.js";

export interface LogFields {
  requestId: string;
  method: string;
  path: string;
  status?: number;
  route?: string;
  purpose?: string;
  ttfbMs?: number;
  durationMs?: number;
  outcome?: string;
  error?: string;
  [field: string]: unknown;
}

export type RouterRequest = IRequest & {
  requestId: string;
  startedAt: number;
  log: LogFields;
  /** The allowed browser Origin of a cross-origin request (src/cors.ts). */
  corsOrigin?: string;
  /** Set by a handler whose response body writes the log line itself when the stream ends. */
  logDeferred?: boolean;
  /** The log line was written; a request writes exactly one. */
  logged?: boolean;
  /** Work that may outlive the answer (the fleet router's background refresh of host reports). */
  waitUntil: (work: Promise<unknown>) => void;
};

export type Handler = (request: RouterRequest, env: Env, ctx: ExecutionContext) => Promise<Response> | Response;

/** Ids from clients are kept only when they are short and plain, so they cannot forge log lines. */
const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export function requestIdFor(request: Request): string {
  const given = request.headers.get("x-request-id");
  return given && SANE_REQUEST_ID.test(given) ? given : crypto.randomUUID();
}

/** Writes the request's one log line; later calls (a path that ends after another already logged) do nothing. */
export function writeLog(request: RouterRequest): void {
  if (request.logged) return;
  request.logged = true;
  request.log.durationMs = Date.now() - request.startedAt;
  console.log(redactSecrets(JSON.stringify(request.log)));
}
