/**
 * What each discovering host serves, from its `GET /v1/models`, cached per isolate for a few seconds so a dead host
 * costs one short probe, not one per request. Concurrent requests share one in-flight probe. Each host's last good
 * list is remembered for the isolate's life: while the host is down its models stay known (listed as offline, and
 * counted when a bare name is checked for ambiguity), so a name means the same thing whether the host is up or not.
 */
import { isModelId, type Provider } from "../config/schema.js";
import type { Env } from "../env.js";
import type { HostReport } from "../resolver/resolve.js";
import { RouterError } from "../errors.js";
import { redactSecrets } from "../secrets.js";
import { readHostJson } from "./answer-body.js";
import { hostErrorToRouterError } from "./errors.js";
import { callHost } from "./fetch.js";
import { hostKey } from "./host-key.js";

export interface HostModel {
  /** The name the host answers to (its `/v1/models` id). */
  name: string;
  /** Other names the host accepts for it. */
  aliases: string[];
  created?: number;
  /** Per-slot window: what one request can use (single-model `meta.n_ctx`). */
  contextLength?: number;
  /** Trained window (`meta.n_ctx_train`, or router mode's `context_length`). */
  contextTrain?: number;
  /** Router mode: `loaded | unloaded | loading | ...`. */
  status?: string;
}

export type Probe =
  | { ok: true; models: HostModel[]; latencyMs: number }
  | { ok: false; error: string; status: number; code: string | null; latencyMs: number };

const PROBE_TIMEOUT_MS = 2_500;
/** `/v1/models`, `/props` and `/slots` are a few KB (a chat template is the largest part); more is not a llama-server. */
export const DISCOVERY_MAX_BYTES = 1024 * 1024;
const FRESH_MS = 5_000;

const cache = new Map<string, { at: number; probe: Promise<Probe> }>();
/** Each host's last successful model list, by id and address (a provider moved to a new URL starts afresh). */
const lastGood = new Map<string, HostModel[]>();

export function probeHost(provider: Provider, env: Env, now = Date.now()): Promise<Probe> {
  const key = hostKey(provider);
  const hit = cache.get(key);
  if (hit && now - hit.at < FRESH_MS) return hit.probe;
  const probe = fetchModels(provider, env).then((answer) => {
    if (answer.ok) lastGood.set(key, answer.models);
    return answer;
  });
  cache.set(key, { at: now, probe });
  return probe;
}

/** The host's last good model list this isolate saw, if any. */
function lastKnownModels(provider: Provider): HostModel[] | undefined {
  return lastGood.get(hostKey(provider));
}

async function fetchModels(provider: Provider, env: Env): Promise<Probe> {
  const answer = await getHostJson(provider, env, "/v1/models");
  return answer.ok ? { ok: true, models: parseModelList(answer.body, (name) => logDroppedName(provider, name)), latencyMs: answer.latencyMs } : answer;
}

/**
 * A host's JSON answer to a GET, or why there is none; never throws. `askedAt`: when the request left; the answer
 * describes the host somewhere between then and `askedAt + latencyMs`.
 */
export type HostAnswer = ({ ok: true; body: unknown } | { ok: false; error: string; status: number; code: string | null }) & { latencyMs: number; askedAt: number };

/** GETs a read-only host endpoint with the probe deadline; failures become a value (the catalog reports them). */
async function getHostJson(provider: Provider, env: Env, path: string): Promise<HostAnswer> {
  const started = Date.now();
  try {
    const response = await callHost(provider, env, { method: "GET", path, timeoutMs: Math.min(PROBE_TIMEOUT_MS, provider.timeouts.firstByteMs) });
    const latencyMs = Date.now() - started;
    if (!response.ok) {
      const error = await hostErrorToRouterError(provider.id, response);
      return { ok: false, error: error.message, status: error.status, code: error.code, latencyMs, askedAt: started };
    }
    return { ok: true, body: await readHostJson(provider.id, response, path.split("?")[0]!, DISCOVERY_MAX_BYTES), latencyMs, askedAt: started };
  } catch (err) {
    const known = err instanceof RouterError ? err : undefined;
    return { ok: false, error: known?.message ?? "probe failed", status: known?.status ?? 502, code: known?.code ?? null, latencyMs: Date.now() - started, askedAt: started };
  }
}

/**
 * llama-server's list: OpenAI `data[]` plus `aliases`, `meta` (single model) or `status` (router mode). A name that
 * breaks the model-id rule (config/schema.ts) is dropped, alias or model, and reported to `onDropped`: such a name
 * could not be sent in a header or written into a generated agent config safely, nor asked for by any valid request.
 */
export function parseModelList(body: unknown, onDropped: (name: unknown) => void = () => {}): HostModel[] {
  const data = (body as { data?: unknown })?.data;
  if (!Array.isArray(data)) return [];
  const valid = (name: unknown): name is string => isModelId(name) || (onDropped(name), false);
  return data.flatMap((entry): HostModel[] => {
    if (entry === null || typeof entry !== "object" || entry.id === undefined) return [];
    if (!valid(entry.id)) return [];
    const meta = entry.meta ?? {};
    const num = (v: unknown) => (typeof v === "number" && Number.isFinite(v) && v > 0 ? v : undefined);
    const args: unknown[] = Array.isArray(entry.status?.args) ? entry.status.args : [];
    const aliases: unknown[] = Array.isArray(entry.aliases) ? entry.aliases : [];
    return [{
      name: entry.id,
      aliases: aliases.filter((a): a is string => a !== entry.id && valid(a)),
      created: num(entry.created),
      contextLength: num(meta.n_ctx) ?? (args.length ? perSlotFromArgs(args, num(meta.n_ctx_train) ?? num(entry.context_length)) : undefined),
      contextTrain: num(meta.n_ctx_train) ?? num(entry.context_length),
      status: typeof entry.status?.value === "string" ? entry.status.value : undefined,
    }];
  });
}

/** Names already reported, so a host that keeps listing a bad name costs one log line per isolate, not one a probe. */
const droppedLogged = new Set<string>();
const MAX_LOGGED_NAME = 120;
/** A host inventing a new bad name on every probe must not grow the isolate's memory without bound. */
const MAX_REMEMBERED_DROPS = 1_000;

function logDroppedName(provider: Provider, name: unknown): void {
  const shown = printable(typeof name === "string" ? name : JSON.stringify(name) ?? String(name));
  const key = `${hostKey(provider)} ${shown}`;
  if (droppedLogged.has(key) || droppedLogged.size >= MAX_REMEMBERED_DROPS) return;
  droppedLogged.add(key);
  console.warn(redactSecrets(JSON.stringify({ level: "warn", message: "discovery dropped a model name that is not a valid model id", provider: provider.id, name: shown })));
}

/** ASCII only: controls and non-ASCII as `\uXXXX`, cut to a bounded length, so the log line shows the name as data. */
function printable(name: string): string {
  const cut = name.length > MAX_LOGGED_NAME ? `${name.slice(0, MAX_LOGGED_NAME)}...` : name;
  return cut.replace(/[^\x20-\x7e]/g, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/**
 * Router mode lists each model's launch arguments instead of `meta.n_ctx`; the per-slot window follows from them as
 * llama-server computes it (checked against its `/slots` on b11669): `--ctx-size` (absent or 0: the trained length)
 * split over the `--parallel` slots, unless the KV cache is unified (`--kv-unified`, or no `--parallel` at all,
 * whose auto mode unifies), when each slot may use all of it; capped at the trained length. A loaded model's
 * `/props` says the same exactly (the catalog asks it); unknown when the flags leave it open.
 */
function perSlotFromArgs(args: unknown[], train?: number): number | undefined {
  const has = (...names: string[]) => args.some((a) => typeof a === "string" && names.includes(a));
  const flag = (...names: string[]) => {
    const i = args.findIndex((a) => typeof a === "string" && names.includes(a));
    const value = i >= 0 ? Number(args[i + 1]) : NaN;
    return Number.isInteger(value) && value >= 0 ? value : undefined;
  };
  const ctx = flag("--ctx-size", "-c") || train;
  const parallel = flag("--parallel", "-np");
  if (!ctx) return undefined;
  const unified = has("--kv-unified", "-kvu") || (parallel === undefined && !has("--no-kv-unified", "-no-kvu"));
  const perSlot = unified ? ctx : parallel ? Math.floor(ctx / parallel) : undefined;
  return perSlot && train ? Math.min(perSlot, train) : perSlot;
}

/** What one round of probes found: each answer, and the models to go by (fresh, or the last good list). */
export interface Discovery {
  probes: Map<string, Probe>;
  /** What the resolver needs, by provider id: fresh lists, and last good ones marked `stale` for hosts that are down. */
  names: Map<string, HostReport>;
  /** The host models behind `names` (windows, load state), fresh or last known. */
  hostModels: Map<string, HostModel[]>;
}

/**
 * Probes the given providers in parallel and returns what the resolver and the catalog need. Only discovering
 * providers are probed unless `all` (the catalog also wants health and windows of the others).
 */
export async function discover(providers: Provider[], env: Env, options: { all?: boolean } = {}): Promise<Discovery> {
  const found: Discovery = { probes: new Map(), names: new Map(), hostModels: new Map() };
  await Promise.all(
    providers.filter((p) => options.all || p.discover).map(async (p) => {
      const probe = await probeHost(p, env);
      found.probes.set(p.id, probe);
      const models = probe.ok ? probe.models : lastKnownModels(p);
      if (!models) return;
      found.hostModels.set(p.id, models);
      found.names.set(p.id, { models, stale: !probe.ok });
    }),
  );
  return found;
}

/** What one model's read-only host endpoints say: `/props` (settings, window, template) or `/slots` (slot use). */
export type ModelInfoEndpoint = "/props" | "/slots";

const infoCache = new Map<string, { at: number; answer: Promise<HostAnswer> }>();

/**
 * `GET /props` or `GET /slots` about one model, as `?model=NAME&autoload=false`: a router-mode host then answers
 * for that model WITHOUT loading it (400 "model is not loaded" instead; a plain `/slots` is a 400 there), and a
 * single-model host ignores both parameters. Never `/slots?action=...` or `POST /props`: this asks only.
 * Cached like the model list; `maxAgeMs` shortens that for what changes fast (slot use).
 */
export function probeModelInfo(provider: Provider, env: Env, endpoint: ModelInfoEndpoint, upstream: string, options: { maxAgeMs?: number; now?: number } = {}): Promise<HostAnswer> {
  const now = options.now ?? Date.now();
  const path = `${endpoint}?${new URLSearchParams({ model: upstream, autoload: "false" })}`;
  const key = `${hostKey(provider)} ${path}`;
  const hit = infoCache.get(key);
  if (hit && now - hit.at < Math.min(options.maxAgeMs ?? FRESH_MS, FRESH_MS)) return hit.answer;
  const answer = getHostJson(provider, env, path);
  infoCache.set(key, { at: now, answer });
  return answer;
}

/** For tests. */
export function resetDiscoveryCache(): void {
  cache.clear();
  infoCache.clear();
  lastGood.clear();
  droppedLogged.clear();
}
