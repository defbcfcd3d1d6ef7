/**
 * `POST /api/arena` `{ models: [2..6 ids], messages, ...params }`: the same chat sent to every model AT ONCE (the
 * wall time is about the slowest model's, not the sum), answered as one SSE stream:
 *   event: chunk   {"model","index","chunk"}   the OpenAI chunk, model rewritten to the composite id
 *   event: result  {"model","index","route","ttftMs","completionTokens","tokensPerSecond","finishReason","error"?}
 *   event: done    {"models","wallMs"}
 * Each model goes through `proxyInference`, the one inference path, under a sub-request of its own (its own log line,
 * `arenaIndex`, same request id), so one failing model yields its `result` with `error` while the others go on.
 */
import * as z from "zod";
import type { Handler, RouterRequest } from "../request-context.js";
import { writeLog } from "../request-context.js";
import type { Env } from "../env.js";
import { maxBodyBytes, readJsonBody } from "../http.js";
import { InferenceBodySchema } from "../inference/body.js";
import { hostBody, type HostBody } from "../inference/host-body.js";
import { proxyInference } from "../inference/proxy.js";
import { ArenaLane } from "./arena-lane.js";
import { mergeLanes } from "./arena-stream.js";

export const ARENA_MIN_MODELS = 2;
export const ARENA_MAX_MODELS = 6;

/** The chat fields are checked as for any inference request (token limits, types); `models` replaces `model`. */
const ArenaBodySchema = InferenceBodySchema.omit({ model: true }).extend({
  models: z
    .array(InferenceBodySchema.shape.model)
    .min(ARENA_MIN_MODELS, `an Arena run needs at least ${ARENA_MIN_MODELS} models`)
    .max(ARENA_MAX_MODELS, `an Arena run takes at most ${ARENA_MAX_MODELS} models`),
  messages: z.array(z.unknown()).min(1, "messages must not be empty"),
  stream_options: z.looseObject({}).nullish(),
});

export const arenaHandler: Handler = async (request, env) => {
  const { models, chat } = await readArena(request, env);
  request.log.purpose = "arena";
  request.log.models = models;

  const startedAt = Date.now();
  const lanes = models.map(
    (model, index) =>
      new ArenaLane(index, model, startedAt, (signal) =>
        proxyInference(laneRequest(request, index, signal), env, chat, model, { hostPath: "/v1/chat/completions", purpose: "arena", readByScript: true }),
      ),
  );
  request.logDeferred = true;
  const stream = mergeLanes(lanes, {
    startedAt,
    onEnd: (outcome) => {
      request.log.outcome = outcome;
      request.log.results = lanes.map((l) => l.result && { route: l.result.route, tokens: l.result.completionTokens, error: l.result.error?.code ?? l.result.error?.type });
      writeLog(request);
    },
  });
  return new Response(stream, { headers: { "content-type": "text/event-stream", "cache-control": "no-cache", "x-accel-buffering": "no" } });
};

/**
 * Reads and checks the body and serialises the chat ONCE for every lane (the lanes share that one string); the
 * parsed object does not outlive this call.
 */
async function readArena(request: RouterRequest, env: Env): Promise<{ models: string[]; chat: HostBody }> {
  const { raw, body } = await readJsonBody(request, ArenaBodySchema, maxBodyBytes(env.ROUTER_MAX_BODY_BYTES));
  const { models: _models, model: _model, ...params } = raw;
  // Always a stream with final usage: the router measures every model the same way.
  return { models: body.models, chat: hostBody({ ...params, stream: true, stream_options: { ...body.stream_options, include_usage: true } }, false) };
}

/**
 * A request of its own for one model: the client's headers (for the allowlisted ones and its session), the Arena's
 * request id, its own log line, and a signal that fires when the client goes away or the lane is cancelled.
 */
function laneRequest(parent: RouterRequest, index: number, signal: AbortSignal): RouterRequest {
  const lane = new Request(parent.url, { method: "POST", headers: parent.headers, signal: AbortSignal.any([parent.signal, signal]) });
  return Object.assign(lane, {
    requestId: parent.requestId,
    startedAt: parent.startedAt,
    log: { ...parent.log, arenaIndex: index },
    params: {},
    query: {},
    route: parent.route,
  }) as unknown as RouterRequest;
}
