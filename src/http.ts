/** Small HTTP helpers shared by every route: bounded JSON bodies, JSON answers. */
import type { z } from "zod";
import { declaredLength, readAtMost } from "./bounded-read.js";
import { badRequest, tooLarge } from "./errors.js";
import { describeJsonSyntaxError } from "./json-syntax.js";

/**
 * 2 MiB. A real agent request is 40-100 KB of JSON (9-20k tokens; Claude Code's first is ~17,500), a full 256k-token
 * context about 1 MB, a pasted screenshot 1-2 MB. A body is read, decoded, parsed and serialised again for the host,
 * so while it is read it costs several times its size (measured under `npm start`: +25 MiB of workerd's peak RSS per
 * concurrent 4 MB request), and an isolate has 128 MB, shared by every stream in it: at 2 MiB, several requests at
 * the limit fit at once. Raise it with ROUTER_MAX_BODY_BYTES if a client needs more.
 */
export const DEFAULT_MAX_BODY_BYTES = 2 * 1024 * 1024;

export function json(value: unknown, init: ResponseInit = {}): Response {
  const headers = new Headers(init.headers);
  headers.set("content-type", "application/json");
  return new Response(JSON.stringify(value), { ...init, headers });
}

const overLimit = (limit: number) => tooLarge(`request body is larger than the router's limit of ${limit} bytes`);

/** Reads the body as text, refusing (413) anything over `limit` bytes without buffering more than the limit. */
export async function readBodyText(request: Request, limit: number): Promise<string> {
  const declared = declaredLength(request.headers);
  if (declared !== undefined && declared > limit) throw overLimit(limit);
  const { bytes, complete } = await readAtMost(request.body, limit, declared);
  if (!complete) throw overLimit(limit);
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    throw badRequest("request body is not valid UTF-8", "invalid_json");
  }
}

/** Parses a JSON body and validates it; zod's issues go into the 400 message with their paths. */
export async function readJsonBody<S extends z.ZodType>(request: Request, schema: S, limit: number, options: { arrays?: boolean } = {}): Promise<{ raw: Record<string, unknown>; body: z.infer<S> }> {
  const text = await readBodyText(request, limit);
  if (text.trim() === "") throw badRequest("request body is empty; expected a JSON object", "invalid_json");
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw badRequest(`request body is ${describeJsonSyntaxError(text, err)}`, "invalid_json");
  }
  if (typeof raw !== "object" || raw === null || (Array.isArray(raw) && !options.arrays)) throw badRequest("request body must be a JSON object", "invalid_body");
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    const detail = parsed.error.issues
      .slice(0, 5)
      .map((i) => `${i.path.length ? i.path.join(".") : "(body)"}: ${i.message}`)
      .join("; ");
    throw badRequest(`invalid request body: ${detail}`, "invalid_body", first?.path.join(".") || null);
  }
  return { raw: raw as Record<string, unknown>, body: parsed.data };
}

export function maxBodyBytes(setting: string | undefined): number {
  const n = Number(setting);
  return Number.isInteger(n) && n > 0 ? n : DEFAULT_MAX_BODY_BYTES;
}
