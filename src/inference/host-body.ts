/**
 * The client's body as it goes to a host, serialised and encoded ONCE per client request: the parsed object and its
 * text are dropped as soon as these bytes exist, and a pool's members (or an Arena's lanes) share them; each attempt
 * only puts its own model name in front (fetch.ts sends the parts without joining them). So a large request is held
 * as one buffer while it waits for a host, not as the parsed object plus a string per attempt.
 */
import { continuationPlan, type ContinuationPlan } from "../continuation/plan.js";
import type { PrefixChain } from "../routing/index.js";

const encoder = new TextEncoder();

export interface HostBody {
  /** The UTF-8 JSON object without `model` and without its opening `{`. */
  readonly rest: Uint8Array;
  /** The client's object had no key but `model`. */
  readonly empty: boolean;
  /** A non-streaming request asked of the host as a stream and assembled by the router (inference/answer.ts). */
  readonly assembled: boolean;
  /** Hashes of the conversation's prefixes, for the fleet router's prompt-cache match (routing/prefix.ts). */
  readonly chain?: PrefixChain;
  /** The host honours `id_slot` on this endpoint and the client set none: the router may pin a slot (routing/slots.ts). */
  readonly pinnable?: boolean;
  /** How its answer could be continued if its stream broke (continuation/plan.ts); undefined: it cannot. */
  readonly continuation?: ContinuationPlan;
  /**
   * The client asked `/v1/messages`; this is the chat request llama-server would have made of it, sent to the chat
   * endpoint, and the router writes the answer as Anthropic events (src/anthropic/).
   */
  readonly answerAs?: "anthropic";
}

/**
 * Everything the client sent except `model`; an assembled request is turned into a stream with final usage. Keys
 * the router does not know pass through untouched.
 */
export function hostBody(raw: Record<string, unknown>, assembled: boolean, hostPath = ""): HostBody {
  const { model: _model, ...rest } = raw;
  const json = JSON.stringify(assembled ? { ...rest, stream: true, stream_options: { include_usage: true } } : rest);
  const continuation = continuationPlan(raw, hostPath, assembled);
  return { rest: encoder.encode(json).subarray(1), empty: json === "{}", assembled, ...(continuation && { continuation }) };
}

/**
 * What one attempt sends, in parts: `model` set to the host's name for it, first, then `id_slot` when the fleet
 * router pinned a slot (routing/slots.ts) and the `extra` members a continuable stream needs (continuation/plan.ts),
 * then the rest as the client sent it.
 */
export function withModel(body: HostBody, model: string, extra = "", slot?: number): Uint8Array[] {
  const members = (slot === undefined ? "" : `"id_slot":${slot},`) + extra;
  const more = members && !body.empty ? members : members.replace(/,$/, "");
  return [encoder.encode(`{"model":${JSON.stringify(model)}${body.empty && !more ? "" : ","}${more}`), body.rest];
}
