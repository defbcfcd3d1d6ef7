/**
 * What each discovering host serves, from its `GET /v1/models`, cached per isolate for a few seconds so a dead host
 * costs one short probe, not one per request. Concurrent requests share one in-flight probe.
 */
import type { Provider } from "../config/schema.js";
import type { Env } from "../env.js";
import type { DiscoveredModels } from "../resolver/resolve.js";
import { RouterError } from "../errors.js";
import { readHostJson } from "./answer-body.js";
import { hostErrorToRouterError } from "./errors.js";
import { callHost } from "./fetch.js";

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

export function probeHost(provider: Provider, env: Env, now = Date.now()): Promise<Probe> {
  const key = `${provider.id} ${provider.baseUrl}`;
  const hit = cache.get(key);
  if (hit && now - hit.at < FRESH_MS) return hit.probe;
  const probe = fetchModels(provider, env);
  cache.set(key, { at: now, probe });
  return probe;
}

async function fetchModels(provider: Provider, env: Env): Promise<Probe> {
  const answer = await getHostJson(provider, env, "/v1/models");
  return answer.ok ? { ok: true, models: parseModelList(answer.body), latencyMs: answer.latencyMs } : answer;
}

/** A host's JSON answer to a GET, or why there is none; never throws. */
export type HostAnswer =
  | { ok: true; body: unknown; latencyMs: number }
  | { ok: false; error: string; status: number; code: string | null; latencyMs: number };

/** GETs a read-only host endpoint with the probe deadline; failures become a value (the catalog reports them). */
async function getHostJson(provider: Provider, env: Env, path: string): Promise<HostAnswer> {
  const started = Date.now();
  try {
    const response = await callHost(provider, env, { method: "GET", path, timeoutMs: Math.min(PROBE_TIMEOUT_MS, provider.timeouts.firstByteMs) });
    const latencyMs = Date.now() - started;
    if (!response.ok) {
      const error = await hostErrorToRouterError(provider.id, response);
      return { ok: false, error: error.message, status: error.status, code: error.code, latencyMs };
    }
    return { ok: true, body: await readHostJson(provider.id, response, path.split("?")[0]!, DISCOVERY_MAX_BYTES), latencyMs };
  } catch (err) {
    const known = err instanceof RouterError ? err : undefined;
    return { ok: false, error: known?.message ?? "probe failed", status: known?.status ?? 502, code: known?.code ?? null, latencyMs: Date.now() - started };
  }
}

/** llama-server's list: OpenAI `data[]` plus `aliases`, `meta` (single model) or `status` (router mode). */
export function parseModelList(body: unknown): HostModel[] {
  const data = (body as { data?: unknown })?.data;
  if (!Array.isArray(data)) return [];
  return data.flatMap((entry): HostModel[] => {
    if (typeof entry?.id !== "string" || entry.id === "") return [];
    const meta = entry.meta ?? {};
    const num = (v: unknown) => (typeof v === "number" && Number.isFinite(v) && v > 0 ? v : undefined);
    const args: unknown[] = Array.isArray(entry.status?.args) ? entry.status.args : [];
    return [{
      name: entry.id,
      aliases: Array.isArray(entry.aliases) ? entry.aliases.filter((a: unknown): a is string => typeof a === "string" && a !== entry.id) : [],
      created: num(entry.created),
      contextLength: num(meta.n_ctx) ?? (args.length ? perSlotFromArgs(args, num(meta.n_ctx_train) ?? num(entry.context_length)) : undefined),
      contextTrain: num(meta.n_ctx_train) ?? num(entry.context_length),
      status: typeof entry.status?.value === "string" ? entry.status.value : undefined,
    }];
  });
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

/**
 * Probes the given providers in parallel and returns what the resolver needs: names (and aliases) per reachable host.
 * Only discovering providers are probed unless `all` (the catalog also wants health and windows of the others).
 */
export async function discover(providers: Provider[], env: Env, options: { all?: boolean } = {}): Promise<{ names: DiscoveredModels; probes: Map<string, Probe> }> {
  const probes = new Map<string, Probe>();
  const names = new Map<string, string[]>();
  await Promise.all(
    providers.filter((p) => options.all || p.discover).map(async (p) => {
      const probe = await probeHost(p, env);
      probes.set(p.id, probe);
      if (probe.ok) names.set(p.id, probe.models.flatMap((m) => [m.name, ...m.aliases]));
    }),
  );
  return { names, probes };
}

/** What one model's read-only host endpoints say: `/props` (settings, window, template) or `/slots` (slot use). */
export type ModelInfoEndpoint = "/props" | "/slots";

const infoCache = new Map<string, { at: number; answer: Promise<HostAnswer> }>();

/**
 * `GET /props` or `GET /slots` about one model, as `?model=NAME&autoload=false`: a router-mode host then answers
 * for that model WITHOUT loading it (400 "model is not loaded" instead; a plain `/slots` is a 400 there), and a
 * single-model host ignores both parameters. Never `/slots?action=...` or `POST /props` (DESIGN §7): this asks only.
 * Cached like the model list; `maxAgeMs` shortens that for what changes fast (slot use).
 */
export function probeModelInfo(provider: Provider, env: Env, endpoint: ModelInfoEndpoint, upstream: string, options: { maxAgeMs?: number; now?: number } = {}): Promise<HostAnswer> {
  const now = options.now ?? Date.now();
  const path = `${endpoint}?${new URLSearchParams({ model: upstream, autoload: "false" })}`;
  const key = `${provider.id} ${provider.baseUrl} ${path}`;
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
}
