/**
 * What this isolate's inference traffic is doing right now, per provider: requests in flight (counted from the
 * moment the router sends one to a host until its answer has ended, however it ends) and the recent generation speed
 * (tokens/s) read from the answers' own `timings` or usage. For the public status page, so it must cost the hosts
 * nothing: it is counted on the way past, never asked of a host.
 *
 * Per isolate by nature (a Worker has many); within one `npm start` / `wrangler dev` process it is the whole router.
 * Keyed by provider id AND base URL, so a provider pointed elsewhere starts from zero.
 */
import { hostKey, type HostRef } from "./host-key.js";

/** How far back the tokens/s figure looks, and how many answers per provider it keeps for it. */
const RECENT_MS = 60_000;
const MAX_SAMPLES = 64;
/** A wall-clock decode time shorter than this says nothing about speed (a whole JSON answer arrives at once). */
const MIN_DECODE_MS = 50;

interface Sample {
  at: number;
  tokens: number;
  ms: number;
}

interface ProviderActivity {
  inFlight: number;
  samples: Sample[];
}

const state = new Map<string, ProviderActivity>();

function entry(provider: HostRef): ProviderActivity {
  const key = hostKey(provider);
  let found = state.get(key);
  if (!found) state.set(key, (found = { inFlight: 0, samples: [] }));
  return found;
}

/** One request to one host, in flight until `end`. */
export interface HostRequestActivity {
  /** The host's answer headers arrived: generation time is measured from here when the answer has no `timings`. */
  answered(): void;
  /** The answer ended (or failed); `answer` is `{ usage?, timings? }` (a JSON body is one), read for token counts. Idempotent. */
  end(answer?: unknown): void;
}

/** Counts a request to `provider` as in flight; the caller must `end` it on every path. */
export function hostRequestStarted(provider: HostRef): HostRequestActivity {
  const activity = entry(provider);
  activity.inFlight++;
  let answeredAt: number | undefined;
  let ended = false;
  return {
    answered: () => void (answeredAt ??= Date.now()),
    end: (answer) => {
      if (ended) return;
      ended = true;
      activity.inFlight--;
      const sample = speedSample(answer, answeredAt === undefined ? undefined : Date.now() - answeredAt);
      if (sample) {
        activity.samples.push(sample);
        if (activity.samples.length > MAX_SAMPLES) activity.samples.shift();
      }
    },
  };
}

/**
 * Runs one request to `provider` counted in flight: `run` hands `activity` on to whatever ends the answer (a stream's
 * end, a JSON body read); if `run` fails instead, the request ends here.
 */
export async function countedInFlight<T>(provider: HostRef, run: (activity: HostRequestActivity) => Promise<T>): Promise<T> {
  const activity = hostRequestStarted(provider);
  try {
    return await run(activity);
  } catch (err) {
    activity.end();
    throw err;
  }
}

/**
 * Generated tokens and the time they took: the host's own `timings` (`predicted_n` over `predicted_ms`, llama-server's
 * JSON answers and final chunks) when present, else the usage's completion/output tokens over the time from the
 * answer's first byte to its end (llama-server sends a stream's headers only once the prompt is processed).
 */
function speedSample(answer: unknown, decodeMs: number | undefined): Sample | undefined {
  const a = answer as { usage?: Record<string, unknown>; timings?: Record<string, unknown> } | undefined;
  const positive = (v: unknown) => (typeof v === "number" && Number.isFinite(v) && v > 0 ? v : undefined);
  const at = Date.now();
  const hostTokens = positive(a?.timings?.predicted_n);
  const hostMs = positive(a?.timings?.predicted_ms);
  if (hostTokens && hostMs) return { at, tokens: hostTokens, ms: hostMs };
  const tokens = positive(a?.usage?.completion_tokens) ?? positive(a?.usage?.output_tokens);
  if (tokens && decodeMs !== undefined && decodeMs >= MIN_DECODE_MS) return { at, tokens, ms: decodeMs };
  return undefined;
}

export interface ActivityFigures {
  inFlight: number;
  /** Tokens generated per second over the answers of the last minute, token-weighted; null without any. */
  tokensPerSecond: number | null;
  /** Answers that finished in the last minute with a token count. */
  recentAnswers: number;
}

export function activityOf(provider: HostRef, now = Date.now()): ActivityFigures {
  const activity = state.get(hostKey(provider));
  if (!activity) return { inFlight: 0, tokensPerSecond: null, recentAnswers: 0 };
  while (activity.samples.length && now - activity.samples[0]!.at > RECENT_MS) activity.samples.shift();
  const tokens = activity.samples.reduce((sum, s) => sum + s.tokens, 0);
  const ms = activity.samples.reduce((sum, s) => sum + s.ms, 0);
  return { inFlight: activity.inFlight, tokensPerSecond: ms > 0 ? Math.round((tokens / ms) * 10_000) / 10 : null, recentAnswers: activity.samples.length };
}
