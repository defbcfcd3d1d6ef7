/**
 * What each discovering host serves, from its `GET /v1/models`, cached per isolate for a few seconds so a dead host
 * costs one short probe, not one per request. Concurrent requests share one in-flight probe.
 */
import type { Provider } from "../config/schema.js";
import type { Env } from "../env.js";
import type { DiscoveredModels } from "../resolver/resolve.js";
import { RouterError } from "../errors.js";
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
  const started = Date.now();
  try {
    const response = await callHost(provider, env, { method: "GET", path: "/v1/models", timeoutMs: Math.min(PROBE_TIMEOUT_MS, provider.timeouts.firstByteMs) });
    const latencyMs = Date.now() - started;
    if (!response.ok) {
      const error = await hostErrorToRouterError(provider.id, response);
      return { ok: false, error: error.message, status: error.status, code: error.code, latencyMs };
    }
    return { ok: true, models: parseModelList(await response.json()), latencyMs };
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
      contextLength: num(meta.n_ctx) ?? perSlotFromArgs(args),
      contextTrain: num(meta.n_ctx_train) ?? num(entry.context_length),
      status: typeof entry.status?.value === "string" ? entry.status.value : undefined,
    }];
  });
}

/**
 * Router mode lists each model's launch arguments; the per-slot window is `--ctx-size / --parallel`, which is what
 * one request can use (a loaded model's `/props` says the same). Unknown when either flag is absent.
 */
function perSlotFromArgs(args: unknown[]): number | undefined {
  const flag = (...names: string[]) => {
    const i = args.findIndex((a) => typeof a === "string" && names.includes(a));
    const value = i >= 0 ? Number(args[i + 1]) : NaN;
    return Number.isInteger(value) && value > 0 ? value : undefined;
  };
  const ctx = flag("--ctx-size", "-c");
  const parallel = flag("--parallel", "-np");
  return ctx && parallel ? Math.floor(ctx / parallel) : undefined;
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

/** For tests. */
export function resetDiscoveryCache(): void {
  cache.clear();
}
