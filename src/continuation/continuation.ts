/**
 * Mid-stream continuation of a chat answer (docs/continuation.md; docs/architecture.md, "Invariants"; the technique
 * measured in docs/continuation-probe.md). While the first host streams, TokenCapture relays its events and records
 * the generated token ids. If the stream breaks after its first byte, the relay asks `resume` for another body: the
 * answer goes on from exactly the same token state on another member of a replicas pool (ranked by the fleet router),
 * or on the same host if it answers again within SAME_HOST_WAIT_MS: plain text through llama-server's `/completion`
 * with the prompt as token ids (BOS + template ids + generated ids); a parsed format (reasoning, tools) through its
 * chat endpoint with `continue_final_message`, once the rendered prefill is proven to be those same ids. The
 * continuation's chunks are reshaped into the client's (reshape.ts), so the client reads one answer: one id, one
 * finish, usage that adds up. Where that cannot be exact or safe (capture stopped, a host's own error, no member could
 * take it) `resume` answers undefined and the stream ends with one error event, as before.
 */
import type { Env } from "../env.js";
import { RouterError, upstreamError } from "../errors.js";
import { withModel, type HostBody } from "../inference/host-body.js";
import type { RouterRequest } from "../request-context.js";
import type { ModelRoute } from "../resolver/resolve.js";
import { fleet, parseTimings, type Attempt, type Ranking } from "../routing/index.js";
import { hostRequestStarted, type HostRequestActivity } from "../upstream/activity.js";
import { healthyFirst, markFailed, markHealthy } from "../upstream/recent-failures.js";
import { completionBody, hostCalls, notExact, otherHost, promptIds, repairedIds } from "./host-calls.js";
import type { ContinuationPlan } from "./plan.js";
import { ChatChunkReshaper, CompletionReshaper, type AnswerSoFar } from "./reshape.js";
import { TokenCapture } from "./token-capture.js";

/**
 * How long the first host may take to answer again when no other member can continue (a restart, a tunnel
 * reconnect); at most half the provider's idleMs.
 */
export const SAME_HOST_WAIT_MS = 10_000;
/** Pause between two tries on a host that refused. */
const RETRY_MS = 250;
/** Deadline for a continuation host's answers before the `/completion` call (template, tokenizer): they are quick. */
const PREPARE_MS = 10_000;

/** What the pipeline knows when it sends the request: enough to continue the answer somewhere else. */
export interface ContinuationSetup {
  env: Env;
  /** The request's candidates and the fleet router's ranking of them. */
  candidates: readonly ModelRoute[];
  ranking: Ranking<ModelRoute>;
  /** The client's body as it went to the first host (rendered again by `/apply-template` on the next). */
  body: HostBody;
  plan: ContinuationPlan;
}

/** The first host's attempt, ended by the continuation when that host's stream breaks. */
export interface FirstAttempt {
  route: ModelRoute;
  activity: HostRequestActivity;
  attempt: Attempt;
}

/** The continuation host's attempt, from its first call to the end of the answer. */
interface ContinuingAttempt {
  route: ModelRoute;
  activity: HostRequestActivity;
  attempt: Attempt;
}

/** The last chunk of a `/completion` stream that reached its limit without a token more. */
const NOTHING_MORE = new TextEncoder().encode('data: {"content":"","tokens":[],"stop":true,"stop_type":"limit","tokens_predicted":0}\n\n');

const brokenEnd = () => upstreamError("the host's stream ended before the answer was complete", "upstream_stream_broken");

export class Continuation {
  readonly #request: RouterRequest;
  readonly #setup: ContinuationSetup;
  readonly #first: FirstAttempt;
  readonly #capture: TokenCapture;
  #reshaper?: CompletionReshaper | ChatChunkReshaper;
  #continuing?: ContinuingAttempt;
  #resumed = false;

  constructor(request: RouterRequest, setup: ContinuationSetup, first: FirstAttempt) {
    this.#request = request;
    this.#setup = setup;
    this.#first = first;
    this.#capture = new TokenCapture({ model: first.route.id, stripLogprobs: setup.plan.stripLogprobs, stripTimings: setup.plan.stripTimings, keepText: setup.plan.hasTools });
  }

  /** The relay's transform: the first host's events (captured and stripped), then the continuation's (reshaped). */
  readonly transform = {
    push: (chunk: Uint8Array): Uint8Array => (this.#reshaper ? this.#reshaper.push(chunk) : this.#capture.push(chunk)),
    flush: (): Uint8Array => {
      if (this.#reshaper) return this.#reshaper.flush();
      const rest = this.#capture.flush();
      // A body that closed before [DONE] is a break like a reset; a host's own error event is its answer.
      if (!this.#capture.sawDone && !this.#capture.sawError) throw brokenEnd();
      return rest;
    },
  };

  /** The relay's resume: the body to read on from, or undefined (the stream then ends with `failure`). */
  resume = async (failure: RouterError, signal: AbortSignal): Promise<ReadableStream<Uint8Array> | undefined> => {
    if (this.#resumed) return undefined;
    this.#resumed = true;
    const brokeAt = Date.now();
    this.#endFirst();
    const capture = this.#capture;
    const why = capture.sawError ? "the host sent its own error event" : capture.blocked ?? (capture.identity ? undefined : "the stream broke before its first event");
    if (why) return this.#notContinued(why);
    const from = this.#first.route.id;
    const atToken = capture.generated;
    // `to` is null when no host was needed: the first host had sent every token, only the last chunks were missing.
    const onFirstText = () => (this.#request.log.continued = { from, to: this.#continuing?.route.id ?? null, atToken, stallMs: Date.now() - brokeAt });

    const limit = this.#setup.plan.maxTokens;
    if (capture.finishReason !== undefined || (limit !== undefined && atToken >= limit)) {
      // The answer had all its tokens; only its last chunks are missing: the end of a /completion stream that
      // generated nothing more makes the reshaping write them (the finish only if it was not sent).
      this.#reshaper = new CompletionReshaper(this.#soFar(), onFirstText);
      return streamOf(NOTHING_MORE);
    }
    let last: RouterError = failure;
    // Within half the idle bound, so that a host that does not come back still ends the stream with its own error.
    const sameHostUntil = brokeAt + Math.min(SAME_HOST_WAIT_MS, this.#first.route.provider.timeouts.idleMs / 2);
    for (const route of this.#order()) {
      const sameHost = route === this.#first.route;
      for (;;) {
        try {
          const until = sameHost ? sameHostUntil : undefined;
          if (capture.mode === "chat") {
            const body = await this.#continueChatOn(route, signal, until);
            this.#reshaper = new ChatChunkReshaper(this.#soFar(), onFirstText);
            return body;
          }
          const body = await this.#continueOn(route, signal, until);
          this.#reshaper = new CompletionReshaper(this.#soFar(), onFirstText);
          return body;
        } catch (err) {
          if (signal.aborted) return undefined;
          if (!(err instanceof RouterError) || !err.failover) return this.#notContinued(err instanceof RouterError ? err.message : "the continuation failed");
          last = err;
          if (!sameHost || Date.now() + RETRY_MS >= sameHostUntil) break;
          await pause(RETRY_MS, signal);
        }
      }
    }
    return this.#notContinued(`no host could continue: ${last.message}`);
  };

  /** The relay ended: the continuation host's attempt ends with its own figures (what the fleet router learns from). */
  ended(ok: boolean): void {
    const continuing = this.#continuing;
    if (!continuing) return;
    const timings = this.#reshaper?.hostTimings;
    // The continuation host's prefill of the continued prompt: what the stall at the join is measured against.
    const continued = this.#request.log.continued as { prefillMs?: number } | undefined;
    if (continued && typeof timings?.prompt_ms === "number") continued.prefillMs = Math.round(timings.prompt_ms * 10) / 10;
    continuing.activity.end(timings ? { timings } : undefined);
    fleet.end(continuing.attempt, { ok, timings: parseTimings({ timings }) }, Date.now());
  }

  /** Other members best first (replicas only: an ordered chain's members may be other models), then the same host. */
  #order(): ModelRoute[] {
    const { candidates, ranking } = this.#setup;
    const first = this.#first.route;
    if (ranking.policy !== "replicas") return [first];
    const others = candidates.filter((route) => route !== first);
    const ranked = fleet.rank({ candidates: others, policy: "replicas", session: ranking.session, chain: ranking.chain }, Date.now());
    return [...healthyFirst(ranked.order.map((e) => e.route)), first];
  }

  /** Plain text: `/completion` from BOS + template ids + generated ids, exact by construction (probe, technique (b)). */
  async #continueOn(route: ModelRoute, signal: AbortSignal, until: number | undefined): Promise<ReadableStream<Uint8Array>> {
    const { env, body, plan } = this.#setup;
    const capture = this.#capture;
    return this.#attemptOn(route, async (attempt) => {
      const prepare = hostCalls(this.#request, env, route, signal, prepareMs(until));
      const [prompt, generated] = await Promise.all([
        promptIds(prepare, withModel(body, route.upstream), route.upstream),
        repairedIds(prepare, capture.ids, capture.gaps, route.upstream),
      ]);
      this.#samePrompt(route, prompt);
      const nPredict = plan.maxTokens === undefined ? -1 : plan.maxTokens - capture.generated;
      const request = completionBody({ model: route.upstream, sampling: plan.sampling, prompt: [...prompt, ...generated], nPredict, probs: plan.clientProbs, timings: !plan.stripTimings });
      return attempt(() => hostCalls(this.#request, env, route, signal).stream("/completion", request));
    });
  }

  /**
   * One try on `route`, counted in flight and by the fleet router from its first call; `run` prepares the request
   * and passes the call that streams the answer to `attempt`. A failure ends the bookkeeping and marks a host failure.
   */
  async #attemptOn(route: ModelRoute, run: (attempt: (call: () => Promise<Response>) => Promise<ReadableStream<Uint8Array>>) => Promise<ReadableStream<Uint8Array>>): Promise<ReadableStream<Uint8Array>> {
    const activity = hostRequestStarted(route.provider);
    const attempt = fleet.begin(this.#setup.ranking, route, Date.now());
    try {
      return await run(async (call) => {
        const response = await call();
        activity.answered();
        markHealthy(route.provider);
        this.#continuing = { route, activity, attempt };
        return response.body ?? streamOf(new Uint8Array(0));
      });
    } catch (err) {
      activity.end();
      fleet.end(attempt, { ok: false }, Date.now());
      if (err instanceof RouterError && err.failover) markFailed(route.provider);
      throw err;
    }
  }

  /** The same prompt, counted the same: the same model file and template (what `replicas` promises). */
  #samePrompt(route: ModelRoute, prompt: readonly number[]): void {
    const expected = this.#capture.promptTokens;
    if (expected !== undefined && prompt.length !== expected) {
      throw otherHost(`provider "${route.provider.id}" renders the prompt as ${prompt.length} tokens, the first host as ${expected}`);
    }
  }

  /**
   * A parsed chat format (reasoning, tools): the host's chat endpoint continues the answer so far, given back as the
   * final assistant message with `continue_final_message`, so that its own parser goes on from where the first
   * host's was (reasoning stays reasoning, a tool call comes back as one). Text is not tokens, so this is done only
   * when the host renders that conversation as exactly the first host's prompt ids plus the generated ids; otherwise
   * the answer would go on from another state (docs/continuation-probe.md, technique (a)), and it is not continued.
   */
  async #continueChatOn(route: ModelRoute, signal: AbortSignal, until: number | undefined): Promise<ReadableStream<Uint8Array>> {
    const { env, body, plan } = this.#setup;
    const capture = this.#capture;
    return this.#attemptOn(route, async (attempt) => {
      const prepare = hostCalls(this.#request, env, route, signal, prepareMs(until));
      const original = withModel(body, route.upstream);
      const client = JSON.parse(new TextDecoder().decode(concat(original))) as Record<string, unknown> & { messages: unknown[] };
      const request: Record<string, unknown> = { ...client };
      if (capture.generated > 0) {
        const { reasoning, content } = capture.sentText();
        request.messages = [...client.messages, { role: "assistant", content, ...(reasoning && { reasoning_content: reasoning }) }];
        request.continue_final_message = content ? "content" : "reasoning_content";
        request.add_generation_prompt = false;
      }
      for (const limit of ["max_tokens", "max_completion_tokens", "n_predict"]) {
        if (typeof client[limit] === "number" && plan.maxTokens !== undefined) request[limit] = plan.maxTokens - capture.generated;
      }
      const text = JSON.stringify(request);
      const [prompt, continued, generated] = await Promise.all([
        promptIds(prepare, original, route.upstream),
        capture.generated > 0 ? promptIds(prepare, text, route.upstream) : Promise.resolve(undefined),
        repairedIds(prepare, capture.ids, capture.gaps, route.upstream),
      ]);
      this.#samePrompt(route, prompt);
      if (continued && !sameIds(continued, prompt, generated)) {
        throw notExact(`provider "${route.provider.id}" renders the answer so far as other tokens than the first host generated`);
      }
      return attempt(() => hostCalls(this.#request, env, route, signal).stream("/v1/chat/completions", text));
    });
  }

  /** The first host's attempt is over (its stream broke): counted as failed, and the host as failed recently. */
  #endFirst(): void {
    const { route, activity, attempt } = this.#first;
    activity.end();
    fleet.end(attempt, { ok: false }, Date.now());
    markFailed(route.provider);
  }

  #soFar(): AnswerSoFar {
    const capture = this.#capture;
    const { plan } = this.#setup;
    const timings = capture.lastTimings();
    return {
      identity: capture.identity!,
      model: this.#first.route.id,
      includeUsage: plan.includeUsage,
      clientLogprobs: plan.clientProbs !== undefined,
      clientTimings: !plan.stripTimings,
      generated: capture.generated,
      promptTokens: capture.promptTokens,
      cachedTokens: capture.cachedTokens,
      timings,
      finishSent: capture.finishReason !== undefined,
      usageSent: capture.sawUsage,
    };
  }

  #notContinued(why: string): undefined {
    this.#request.log.notContinued = why;
    return undefined;
  }
}

const prepareMs = (until: number | undefined) => (until === undefined ? PREPARE_MS : Math.max(1, Math.min(PREPARE_MS, until - Date.now())));

/** `ids` is exactly `prompt` followed by `generated`. */
function sameIds(ids: readonly number[], prompt: readonly number[], generated: readonly number[]): boolean {
  if (ids.length !== prompt.length + generated.length) return false;
  for (let i = 0; i < prompt.length; i++) if (ids[i] !== prompt[i]) return false;
  for (let i = 0; i < generated.length; i++) if (ids[prompt.length + i] !== generated[i]) return false;
  return true;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

function streamOf(bytes: Uint8Array): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      if (bytes.length) controller.enqueue(bytes);
      controller.close();
    },
  });
}

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => (clearTimeout(timer), resolve()), { once: true });
  });
}
