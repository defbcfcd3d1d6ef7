/**
 * The continuation's calls to a host: the prompt's token ids (`/apply-template`, then `/tokenize` with BOS), the ids a
 * multi-token character did not report (`/tokenize` behind a newline), and the `/completion` stream that continues
 * the answer from those ids. These are fixed llama-server endpoints the router calls itself, through the same
 * host-call path as inference (upstream/fetch.ts: allowlisted headers, the host's credentials, deadlines); no client
 * route reaches them. Method and measurements: docs/continuation-probe.md.
 */
import type { Env } from "../env.js";
import { badUpstream, RouterError, upstreamError } from "../errors.js";
import type { RouterRequest } from "../request-context.js";
import type { ModelRoute } from "../resolver/resolve.js";
import { readHostJson } from "../upstream/answer-body.js";
import { hostDown, hostErrorToRouterError } from "../upstream/errors.js";
import { callHost } from "../upstream/fetch.js";
import type { Gap } from "./token-capture.js";

/** The fields of the continuation host's last `/completion` chunk that the reshaping reads (the rest can be large). */
const RESPONSE_FIELDS = ["content", "tokens", "stop", "stop_type", "stopping_word", "tokens_predicted", "timings", "completion_probabilities"];

export interface HostCalls {
  /** POSTs JSON (text, or parts sent without joining them); answers the host's JSON object or throws its error. */
  json(path: string, body: string | Uint8Array[]): Promise<Record<string, unknown>>;
  /** POSTs JSON and answers the host's response once it is OK (a stream), or throws its error. */
  stream(path: string, body: string): Promise<Response>;
}

export function hostCalls(request: RouterRequest, env: Env, route: ModelRoute, signal: AbortSignal, timeoutMs?: number): HostCalls {
  const post = async (path: string, body: string | Uint8Array[]) => {
    const response = await callHost(route.provider, env, { method: "POST", path, clientHeaders: request.headers, body, signal, timeoutMs });
    if (!response.ok) throw await hostErrorToRouterError(route.provider.id, response);
    return response;
  };
  return {
    async json(path, body) {
      const parsed = await readHostJson(route.provider.id, await post(path, body), path);
      if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw badUpstream(`provider "${route.provider.id}" answered ${path} with something other than a JSON object`);
      return parsed as Record<string, unknown>;
    },
    stream: post,
  };
}

/**
 * The prompt as the host's chat endpoint builds it, in token ids: the client's body rendered by `/apply-template`
 * (the same parser and template as `/v1/chat/completions`), then `/tokenize` with `add_special` (BOS: a prompt of ids
 * gets none from llama-server, probe condition 1). `body` is the client's body as a host gets it, `model` first.
 */
export async function promptIds(host: HostCalls, body: string | Uint8Array[], model: string): Promise<number[]> {
  const { prompt } = await host.json("/apply-template", body);
  if (typeof prompt !== "string") throw badUpstream("/apply-template answered without a prompt");
  return tokensOf(await host.json("/tokenize", JSON.stringify({ model, content: prompt, add_special: true })));
}

/**
 * The generated ids with each gap filled: the chunk's text tokenised behind a newline, minus the newline's own ids
 * (which avoids the space SentencePiece puts in front of any text), must be exactly the missing ids followed by those
 * the chunk reported (probe condition 3). Anything else is not this vocabulary's doing: an error, not a guess.
 */
export async function repairedIds(host: HostCalls, ids: readonly number[], gaps: readonly Gap[], model: string): Promise<number[]> {
  if (!gaps.length) return [...ids];
  const tokenize = async (content: string) => tokensOf(await host.json("/tokenize", JSON.stringify({ model, content })));
  const [lead, ...texts] = await Promise.all([tokenize("\n"), ...gaps.map((gap) => tokenize(`\n${gap.text}`))]);
  const out: number[] = [];
  let from = 0;
  gaps.forEach((gap, g) => {
    const both = texts[g]!;
    const own = both.slice(lead!.length);
    const reported = ids.slice(gap.at, gap.at + gap.reported);
    const fits = lead!.every((id, i) => both[i] === id) && own.length === gap.missing + gap.reported && reported.every((id, i) => own[gap.missing + i] === id);
    if (!fits) throw notExact(`the ids of ${JSON.stringify(gap.text)} could not be recovered`);
    out.push(...ids.slice(from, gap.at), ...own);
    from = gap.at + gap.reported;
  });
  out.push(...ids.slice(from));
  return out;
}

/** The `/completion` body that continues the answer: the client's sampling fields, the ids, what is left of the limit. */
export function completionBody(options: { model: string; sampling: string; prompt: readonly number[]; nPredict: number; probs?: number; timings: boolean }): string {
  const members = [
    `"model":${JSON.stringify(options.model)}`,
    ...(options.sampling ? [options.sampling] : []),
    `"prompt":[${options.prompt.join(",")}]`,
    `"n_predict":${options.nPredict}`,
    '"stream":true',
    `"response_fields":${JSON.stringify(RESPONSE_FIELDS)}`,
    ...(options.probs ? [`"n_probs":${options.probs}`] : []),
    ...(options.timings ? ['"timings_per_token":true'] : []),
  ];
  return `{${members.join(",")}}`;
}

function tokensOf(answer: Record<string, unknown>): number[] {
  const tokens = answer.tokens;
  if (!Array.isArray(tokens) || !tokens.every((t) => Number.isInteger(t))) throw badUpstream("/tokenize answered without token ids");
  return tokens as number[];
}

/** This host cannot continue exactly (another member may: it is marked like a host failure). */
export const otherHost = (message: string): RouterError => hostDown(upstreamError(message, "continuation_not_exact"));
/** No host can continue exactly (the same would hold on every member). */
export const notExact = (message: string): RouterError => upstreamError(message, "continuation_not_exact");
