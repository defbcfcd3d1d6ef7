#!/usr/bin/env node
// `npm run bench -- fleet [--quick] [--seed N] [--rounds N] [--out DIR]`: the fleet-routing benchmark
// (docs/benchmark.md, "Fleet routing"). Also runs as `node bench/fleet.mjs`.
//
// Three real llama-server hosts of unequal capacity serve the same generated model `coder`: A (1 slot), B (2 slots)
// and C in router mode (2 slots per model, `--models-max 1`, a second model `other` that evicts `coder` when asked
// for). The router runs as `npm start` (scripts/start.mjs) with client auth on, its providers config pushed to a
// private local KV state. Seeded agent-like traffic (bench/fleet-traffic.mjs) is replayed through the router once per
// policy, block by block in rotated order, round after round:
//   ordered      the alias `coder-ordered` ({"policy": "ordered"}): first healthy member
//   round-robin  the bench picks a/coder, b/coder, c/coder in turn
//   least-busy   the bench picks the host with the fewest of its own requests in flight per slot
//   rendezvous   the bench picks orderForSession(members, session)[0] (boocode-router/resolver), without a session
//                header the first member: the router's session affinity before fleet routing
//   fleet        the alias `coder` ({"policy": "replicas"}): the fleet router (src/routing/)
// so every policy crosses the same router process. Then the fault phase replays the same blocks with host B killed
// (SIGKILL) mid-block and restarted on its port a few seconds later.
//
// Writes bench/results/fleet-<stamp>.{md,json,svg} (+ .raw.json, every request, gitignored); --quick (CI) runs one
// round of short blocks and writes .cache/bench-results/fleet-quick-latest.*.
import { hasContent, sseData } from "./sse-client.mjs";
import { appendFileSync, existsSync, mkdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { spawnSync } from "node:child_process";
import { blockTraffic, compactionMessages, otherModelMessages, sharedTexts, systemPrompt, titleMessages } from "./fleet-traffic.mjs";
import { PHASES, POLICIES, renderMarkdown, renderSvg, summarise } from "./fleet-report.mjs";
import { LAUNCHER, ROOT, cleanup, ensureLlamaServer, ensureModel, freePort, pushConfig, setLogDir, startProcess, waitHealthy } from "./processes.mjs";
import { environment, median } from "./report.mjs";

const argv = process.argv.slice(2);
const QUICK = argv.includes("--quick");
const option = (name, fallback) => {
  const i = argv.indexOf(name);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1] : fallback;
};
const SEED = Number(option("--seed", "1"));
const OUT_DIR = resolve(ROOT, option("--out", QUICK ? ".cache/bench-results" : "bench/results"));
const WORK = join(ROOT, ".cache/bench-fleet");
const LOGS = join(WORK, "logs");
setLogDir(LOGS);
const CLIENT_KEY = "bench-fleet-client-key-7b2e";
const started = Date.now();
const log = (...a) => console.error(`[fleet ${((Date.now() - started) / 1000).toFixed(1).padStart(6)}s]`, ...a);
const now = () => performance.now();

/**
 * Traffic and run size. Full: ~12-15 min on an idle 2-core machine. Quick (CI: proves the bench works, too short for
 * conclusions): one round of 3 short sessions per block with a shorter system prompt, both phases.
 */
const PLANS = {
  full: {
    rounds: 2, agents: 4, sessionsPerAgent: 1, turns: [7, 9],
    systemTokens: 4400, altSystemTokens: 3000, firstUserTokens: [70, 110], userTokens: [30, 45], assistantTokens: [45, 60],
    maxTokens: [24, 64], thinkMs: [300, 1500], gapMs: [500, 2500], startStaggerMs: 3000,
    headerShare: 0.6, altShare: 0.25, titleShare: 0.6, compactionShare: 0.3, downMs: [2000, 5000],
    calibrationColdAt: [2, 5, 8],
  },
  quick: {
    rounds: 1, agents: 3, sessionsPerAgent: 1, turns: [2, 2],
    systemTokens: 800, altSystemTokens: 600, firstUserTokens: [70, 110], userTokens: [30, 45], assistantTokens: [45, 60],
    maxTokens: [16, 32], thinkMs: [100, 300], gapMs: [0, 200], startStaggerMs: 300,
    headerShare: 0.6, altShare: 0.25, titleShare: 0.6, compactionShare: 0.3, downMs: [1000, 2000],
    calibrationColdAt: [2],
  },
};
const PLAN = { ...PLANS[QUICK ? "quick" : "full"] };
if (argv.includes("--rounds")) PLAN.rounds = Number(option("--rounds", PLAN.rounds));

const HOST_IDS = ["a", "b", "c"];
/** Slots per host (C: per model). */
const SLOTS = { a: 1, b: 2, c: 2 };
/** Context per host (-c), split over its slots: room for the longest session plus a compaction. */
const CTX = { a: 16384, b: 32768, c: 32768 };
/** The client retries a failed request once, after this pause (as agents do). */
const RETRY_DELAY_MS = 1_000;
/** The bench's own policies skip a host whose request failed this recently (the router's recent-failure window). */
const FAILED_HOST_MS = 15_000;
const REQUEST_TIMEOUT_MS = 300_000;
const POLL_MS = 100;

// ---------------------------------------------------------------------------------------------------------------
// Hosts and router

function hostArgs(id, port, modelsDir, model) {
  const common = ["--host", "127.0.0.1", "--port", String(port), "-t", "1", "-np", String(SLOTS[id]), "-c", String(CTX[id])];
  return id === "c" ? [...common, "--models-dir", modelsDir, "--models-max", "1"] : [...common, "-m", model, "--alias", "coder"];
}

async function startHost(id, port, setup, tag = "") {
  const proc = startProcess(`host-${id}${tag}`, LAUNCHER, hostArgs(id, port, setup.modelsDir, setup.model));
  const url = `http://127.0.0.1:${port}`;
  await waitHealthy(proc, `${url}/health`, 60_000);
  if (id === "c") await waitHealthy(proc, `${url}/v1/models`, 60_000);
  return proc;
}

/** boocode-router/resolver's orderForSession, built (npm run build:resolver) when dist/ is missing or older than its source. */
async function loadOrderForSession() {
  const built = join(ROOT, "dist/resolver/affinity.js");
  const source = join(ROOT, "src/resolver/affinity.ts");
  if (!existsSync(built) || statSync(built).mtimeMs < statSync(source).mtimeMs) {
    log("building the resolver package (npm run build:resolver)");
    const r = spawnSync(process.execPath, [join(ROOT, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.resolver.json"], { cwd: ROOT, encoding: "utf8" });
    if (r.status !== 0) throw new Error(`npm run build:resolver failed:\n${r.stdout}\n${r.stderr}`);
  }
  return (await import("boocode-router/resolver")).orderForSession;
}

// ---------------------------------------------------------------------------------------------------------------
// Host state, polled in the background: each host's /slots (C: /slots?model=coder&autoload=false, which answers 400
// instead of loading the model) and C's /v1/models residency, every POLL_MS.

class Poller {
  constructor(urls) {
    this.urls = urls;
    this.running = false;
    this.reset();
  }

  reset() {
    this.slots = { a: [], b: [], c: [] };
    this.residency = [];
  }

  start() {
    this.running = true;
    this.loops = [
      ...HOST_IDS.map((id) => this.loop(() => this.slots[id], id === "c" ? `${this.urls.c}/slots?model=coder&autoload=false` : `${this.urls[id]}/slots`, parseSlotsSnapshot)),
      this.loop(() => this.residency, `${this.urls.c}/v1/models`, parseResidencySnapshot),
    ];
  }

  async stop() {
    this.running = false;
    await Promise.all(this.loops ?? []);
  }

  /** `list()`: where the snapshot goes (read at push time: reset() replaces the lists). */
  async loop(list, url, parse) {
    while (this.running) {
      const t0 = now();
      let snap;
      try {
        const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
        snap = parse(res.status, await res.text());
      } catch {
        snap = { up: false };
      }
      list().push({ ...snap, at: now(), tookMs: now() - t0 });
      const wait = POLL_MS - (now() - t0);
      if (wait > 0) await sleep(wait);
    }
  }

  /** The latest snapshot received before `t`, or undefined. */
  static before(list, t) {
    let lo = 0;
    let hi = list.length - 1;
    let found;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (list[mid].at <= t) {
        found = list[mid];
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  }
}

function parseSlotsSnapshot(status, text) {
  if (status === 400 && /not loaded/i.test(text)) return { up: true, loaded: false, free: 0, total: 0 };
  if (status !== 200) return { up: false };
  try {
    const slots = JSON.parse(text);
    const busy = slots.filter((s) => s.is_processing === true).length;
    return { up: true, loaded: true, free: slots.length - busy, total: slots.length };
  } catch {
    return { up: false };
  }
}

function parseResidencySnapshot(status, text) {
  if (status !== 200) return { up: false };
  try {
    const coder = JSON.parse(text).data.find((m) => m.id === "coder");
    return { up: true, coder: coder?.status?.value ?? "unknown" };
  } catch {
    return { up: false };
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Client: one streamed request through the router, and the bench's own policies.

/**
 * One attempt: POST /v1/chat/completions streamed with usage. TTFT = request start to the first SSE event with
 * content; the host is the first part of `x-boocode-route`; cache figures from the final chunk's `timings`.
 */
async function attempt(routerUrl, model, messages, maxTokens, session) {
  const headers = { "content-type": "application/json", authorization: `Bearer ${CLIENT_KEY}`, ...(session && { "x-session-id": session }) };
  const body = JSON.stringify({ model, messages, max_tokens: maxTokens, ignore_eos: true, stream: true, stream_options: { include_usage: true } });
  const sentAt = now();
  const a = { model, sentAt, status: 0, route: null, host: null, ok: false, failure: undefined, midStream: false, firstContentAt: NaN, endAt: NaN, cacheN: NaN, promptN: NaN };
  let contentSeen = false;
  try {
    const res = await fetch(`${routerUrl}/v1/chat/completions`, { method: "POST", headers, body, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
    a.status = res.status;
    a.route = res.headers.get("x-boocode-route");
    a.host = a.route ? a.route.split(";")[0].trim().split("/")[0] : null;
    if (res.status !== 200) {
      a.failure = `HTTP ${res.status}: ${(await res.text()).slice(0, 200)}`;
    } else {
      let done = false;
      for await (const data of sseData(res.body)) {
        if (data === "[DONE]") { done = true; continue; }
        if (data.startsWith('{"error"')) { a.failure = `stream error: ${data.slice(0, 200)}`; continue; }
        if (!contentSeen && hasContent(data)) {
          contentSeen = true;
          a.firstContentAt = now();
        }
        if (data.includes('"timings"')) {
          try {
            const t = JSON.parse(data).timings;
            a.cacheN = t.cache_n;
            a.promptN = t.prompt_n;
          } catch {}
        }
      }
      if (!done && !a.failure) a.failure = "stream ended without [DONE]";
    }
  } catch (err) {
    a.failure = `network: ${err.cause?.message ?? err.message}`;
  }
  a.endAt = now();
  a.ok = !a.failure;
  a.midStream = !a.ok && contentSeen;
  return a;
}

/** The bench's own policies (round-robin, least-busy, rendezvous) pick a composite id; ordered and fleet name an alias. */
class Chooser {
  constructor(policy, orderForSession) {
    this.policy = policy;
    this.orderForSession = orderForSession;
    this.inFlight = { a: 0, b: 0, c: 0 };
    this.next = 0;
    this.failedAt = {};
  }

  /** Hosts whose last request did not fail in the last FAILED_HOST_MS (all of them if none is left). */
  healthy() {
    const t = now();
    const ok = HOST_IDS.filter((h) => !(this.failedAt[h] !== undefined && t - this.failedAt[h] < FAILED_HOST_MS));
    return ok.length ? ok : HOST_IDS;
  }

  choose(session) {
    if (this.policy === "ordered") return { model: "coder-ordered" };
    if (this.policy === "fleet") return { model: "coder" };
    const ok = this.healthy();
    let host;
    if (this.policy === "round-robin") {
      for (let i = 0; i < HOST_IDS.length && !host; i++) {
        const h = HOST_IDS[(this.next + i) % HOST_IDS.length];
        if (ok.includes(h)) {
          host = h;
          this.next = (this.next + i + 1) % HOST_IDS.length;
        }
      }
    } else if (this.policy === "least-busy") {
      // Fewest in flight per slot after this request; ties go to the earlier host in config order.
      host = ok.reduce((best, h) => ((this.inFlight[h] + 1) / SLOTS[h] < (this.inFlight[best] + 1) / SLOTS[best] ? h : best));
    } else {
      const members = HOST_IDS.map((h) => ({ id: `${h}/coder`, host: h }));
      host = this.orderForSession(members, session).map((m) => m.host).find((h) => ok.includes(h));
    }
    return { model: `${host}/coder`, host };
  }
}

// ---------------------------------------------------------------------------------------------------------------
// A block: one policy replays one round's traffic.

async function send(block, kind, messages, maxTokens, session) {
  const rec = { kind, session: session !== undefined, attempts: [] };
  for (let i = 0; i < 2; i++) {
    if (i > 0) await sleep(RETRY_DELAY_MS);
    const { model, host } = block.chooser.choose(session);
    if (host) block.chooser.inFlight[host]++;
    const a = await attempt(block.routerUrl, model, messages, maxTokens, session);
    if (host) {
      block.chooser.inFlight[host]--;
      a.chosen = host;
      if (!a.ok) block.chooser.failedAt[host] = now();
    }
    rec.attempts.push(a);
    if (a.ok) break;
  }
  const last = rec.attempts.at(-1);
  rec.ok = last.ok;
  rec.retried = rec.attempts.length > 1;
  // What the user waits: from the first attempt's start to the first content of the answer that arrived.
  rec.ttftMs = rec.ok ? last.firstContentAt - rec.attempts[0].sentAt : NaN;
  block.records.push(rec);
  return rec;
}

async function runAgent(block, agent) {
  await sleep(agent.startMs);
  for (const [k, s] of agent.sessions.entries()) {
    if (k > 0) await sleep(s.gapMs);
    const session = s.header ? `${block.salt}-s${s.index}` : undefined;
    const history = [{ role: "system", content: systemPrompt(block.texts, s.system, block.salt) }];
    for (const [t, turn] of s.turns.entries()) {
      history.push({ role: "user", content: turn.user });
      await send(block, "turn", history, turn.maxTokens, session);
      block.turnDone();
      // The agent's answer as scripted (not the model's text), so every policy replays the same conversation.
      history.push({ role: "assistant", content: turn.assistant });
      if (t === 0 && s.title) block.background.push(send(block, "title", titleMessages(turn.user, block.salt), 12, undefined));
      if (t < s.turns.length - 1) await sleep(turn.thinkMs);
    }
    if (s.compaction) await send(block, "compaction", compactionMessages(history), 48, session);
  }
}

/** A request for `other` straight to host C (not through any policy): with --models-max 1 it evicts `coder`. */
async function otherModel(urls, salt, k) {
  const t0 = now();
  try {
    const res = await fetch(`${urls.c}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model: "other", messages: otherModelMessages(salt, k), max_tokens: 8 }), signal: AbortSignal.timeout(120_000) });
    await res.arrayBuffer();
    return { ok: res.ok, status: res.status, at: t0, ms: now() - t0 };
  } catch (err) {
    return { ok: false, failure: err.message, at: t0, ms: now() - t0 };
  }
}

/** Unloads both models on C directly and waits until its /v1/models says `coder` is unloaded. */
async function unloadC(urls) {
  for (const model of ["coder", "other"]) {
    await fetch(`${urls.c}/models/unload`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model }) }).then((r) => r.arrayBuffer()).catch(() => {});
  }
  const deadline = Date.now() + 30_000;
  for (;;) {
    const models = await fetch(`${urls.c}/v1/models`).then((r) => r.json()).catch(() => undefined);
    const status = models?.data?.map((m) => m.status?.value) ?? [];
    if (status.length && status.every((s) => s === "unloaded")) return;
    if (Date.now() > deadline) throw new Error(`host C still has a model loaded 30 s after /models/unload: ${JSON.stringify(status)}`);
    await sleep(100);
  }
}

function saltFor(phase, round, policy) {
  let h = 0x811c9dc5;
  for (const ch of `${SEED}/${phase}/${round}/${policy}`) h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193) >>> 0;
  return h.toString(16).padStart(8, "0");
}

async function runBlock(ctx, phase, round, policy, traffic) {
  const { urls, poller } = ctx;
  const unloadStart = now();
  await unloadC(urls);
  if (now() - unloadStart > 2_000) log(`  (host C took ${((now() - unloadStart) / 1000).toFixed(1)} s to unload its model)`);
  poller.reset();
  await sleep(500); // the poller takes fresh snapshots of the idle hosts
  const salt = saltFor(phase, round, policy);
  const thirds = [Math.ceil(traffic.turns / 3), Math.ceil((2 * traffic.turns) / 3)];
  const killAt = phase === "fault" ? Math.max(1, Math.round(traffic.fault.atShare * traffic.turns)) : Infinity;
  const block = {
    phase, round, policy, salt, texts: ctx.texts, routerUrl: ctx.routerUrl, chooser: new Chooser(policy, ctx.orderForSession),
    records: [], background: [], others: [], turnsFinished: 0, fault: undefined,
    turnDone() {
      this.turnsFinished++;
      thirds.forEach((n, k) => {
        if (this.turnsFinished === n) this.others.push(otherModel(urls, salt, k + 1));
      });
      if (this.turnsFinished === killAt) this.fault = faultOnB(ctx, traffic.fault.downMs);
    },
  };
  const t0 = now();
  await Promise.all(traffic.agents.map((agent) => runAgent(block, agent)));
  await Promise.all(block.background);
  const others = await Promise.all(block.others);
  const wallMs = now() - t0;
  const fault = block.fault ? await block.fault : undefined;
  const records = block.records.map((r) => judgeLoadWait(r, poller));
  const result = { phase, round, policy, salt, t0, wallMs, turns: traffic.turns, records, others, fault, pollStats: pollStats(records, poller) };
  poller.reset();
  return result;
}

/** Kills host B's process group with SIGKILL, restarts it on the same port `downMs` later and waits until it serves. */
async function faultOnB(ctx, downMs) {
  const killedAt = now();
  ctx.hosts.b.kill("SIGKILL");
  await ctx.hosts.b.exited;
  log(`  host B killed (SIGKILL); restarting in ${(downMs / 1000).toFixed(1)} s`);
  await sleep(downMs);
  ctx.restarts++;
  ctx.hosts.b = await startHost("b", ctx.ports.b, ctx.setup, `-restart-${ctx.restarts}`);
  return { killedAt, downMs, servingAgainAt: now() };
}

/**
 * Whether a request waited on a model load while a member with the model loaded had a free slot: it went to C while
 * C's `coder` was not `loaded` (C's /v1/models) and A or B had a free slot (their /slots), in the latest snapshots
 * taken before it was sent.
 */
function judgeLoadWait(rec, poller) {
  for (const a of rec.attempts) {
    const residency = Poller.before(poller.residency, a.sentAt);
    const freeA = Poller.before(poller.slots.a, a.sentAt);
    const freeB = Poller.before(poller.slots.b, a.sentAt);
    a.cAtSend = residency?.up ? residency.coder : "unknown";
    a.freeAtSend = { a: freeA?.up ? freeA.free : 0, b: freeB?.up ? freeB.free : 0 };
    a.snapshotAgeMs = Math.max(residency ? a.sentAt - residency.at : Infinity, freeA ? a.sentAt - freeA.at : Infinity, freeB ? a.sentAt - freeB.at : Infinity);
    a.toUnloadedC = a.host === "c" && a.cAtSend !== "loaded";
    a.waitedOnLoad = a.toUnloadedC && a.freeAtSend.a + a.freeAtSend.b > 0;
  }
  rec.toUnloadedC = rec.attempts.some((a) => a.toUnloadedC);
  rec.waitedOnLoad = rec.attempts.some((a) => a.waitedOnLoad);
  return rec;
}

/** How fresh the host snapshots were: the interval between snapshots per host, and their age when a request was sent. */
function pollStats(records, poller) {
  const gaps = (list) => list.slice(1).map((s, i) => s.at - list[i].at);
  return {
    intervalP50: Object.fromEntries([...HOST_IDS.map((h) => [h, median(gaps(poller.slots[h]))]), ["cModels", median(gaps(poller.residency))]]),
    intervalMax: Object.fromEntries([...HOST_IDS.map((h) => [h, Math.max(0, ...gaps(poller.slots[h]))]), ["cModels", Math.max(0, ...gaps(poller.residency))]]),
    ageAtSend: records.flatMap((r) => r.attempts.map((a) => a.snapshotAgeMs)).filter(Number.isFinite),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Calibration: what a cache miss costs against a hit, for the replay's own prompts, on B with the fleet idle.

async function calibrate(ctx, traffic) {
  const session = traffic.sessions.find((s) => s.system === "main" && s.turns.length >= Math.max(...PLAN.calibrationColdAt)) ?? traffic.sessions.find((s) => s.system === "main");
  const salt = `calibration-${SEED}`;
  const history = [{ role: "system", content: systemPrompt(ctx.texts, "main", salt) }];
  const pairs = [];
  let first;
  for (const [t, turn] of session.turns.entries()) {
    if (t + 1 > Math.max(...PLAN.calibrationColdAt)) break;
    history.push({ role: "user", content: turn.user });
    const hit = await attempt(ctx.routerUrl, "b/coder", history, turn.maxTokens);
    if (!hit.ok) throw new Error(`calibration request failed: ${hit.failure}`);
    if (t === 0) first = hit;
    if (PLAN.calibrationColdAt.includes(t + 1)) {
      // The same prompt behind another salt: nothing of it is cached anywhere.
      const missHistory = [{ role: "system", content: systemPrompt(ctx.texts, "main", `${salt}-miss-${t + 1}`) }, ...history.slice(1)];
      const miss = await attempt(ctx.routerUrl, "b/coder", missHistory, turn.maxTokens);
      if (!miss.ok) throw new Error(`calibration request failed: ${miss.failure}`);
      pairs.push({ turn: t + 1, hit: pick(hit), miss: pick(miss) });
    }
    history.push({ role: "assistant", content: turn.assistant });
  }
  const hitMs = median(pairs.map((p) => p.hit.ttftMs));
  const missMs = median(pairs.map((p) => p.miss.ttftMs));
  return { host: "b", pairs, firstTurn: pick(first), hitMs, missMs, ratio: missMs / hitMs, minPairRatio: Math.min(...pairs.map((p) => p.miss.ttftMs / p.hit.ttftMs)) };

  function pick(a) {
    return { ttftMs: a.firstContentAt - a.sentAt, cacheN: a.cacheN, promptN: a.promptN };
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Main

async function main() {
  rmSync(WORK, { recursive: true, force: true });
  mkdirSync(LOGS, { recursive: true });
  ensureLlamaServer(log);
  const modelArgs = { embd: 256, layers: 4, ctx: 65536 };
  const modelsDir = join(ROOT, ".cache/models/fleet");
  const model = ensureModel(".cache/models/fleet/coder.gguf", { ...modelArgs, seed: 1 });
  ensureModel(".cache/models/fleet/other.gguf", { ...modelArgs, seed: 2 });
  const orderForSession = await loadOrderForSession();

  const ports = { a: await freePort(), b: await freePort(), c: await freePort(), router: await freePort() };
  const urls = Object.fromEntries(HOST_IDS.map((h) => [h, `http://127.0.0.1:${ports[h]}`]));
  const setup = { modelsDir, model };
  const stateDir = join(WORK, "state");
  const members = HOST_IDS.map((h) => `${h}/coder`);
  pushConfig({
    version: 1,
    providers: [
      { id: "a", label: "A (1 slot)", baseUrl: urls.a, discover: false, models: [{ id: "coder" }] },
      { id: "b", label: "B (2 slots)", baseUrl: urls.b, discover: false, models: [{ id: "coder" }] },
      // Router mode: the router learns which models are loaded from its /v1/models, so it discovers.
      { id: "c", label: "C (router mode)", baseUrl: urls.c, discover: true, models: [{ id: "coder" }] },
    ],
    aliases: { coder: { members, policy: "replicas" }, "coder-ordered": { members, policy: "ordered" } },
  }, stateDir, WORK);

  const router = startProcess("npm-start", process.execPath, ["scripts/start.mjs", "--port", String(ports.router), "--persist-to", stateDir, "--outdir", join(WORK, "worker"), "--var", `ROUTER_API_KEYS:${CLIENT_KEY}`]);
  const [a, b, c] = await Promise.all(HOST_IDS.map((h) => startHost(h, ports[h], setup)));
  const routerUrl = `http://127.0.0.1:${ports.router}`;
  await waitHealthy(router, `${routerUrl}/health`);
  log(`ready: A ${urls.a} (1 slot), B ${urls.b} (2 slots), C ${urls.c} (router mode), router ${routerUrl}`);

  // The router must check keys and route the aliases, or the comparison is meaningless.
  const unauth = await fetch(`${routerUrl}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model: "coder", messages: [{ role: "user", content: "hi" }], max_tokens: 2 }) });
  await unauth.arrayBuffer();
  if (unauth.status !== 401) throw new Error(`the router accepted a request without a key (${unauth.status})`);
  for (const m of ["a/coder", "b/coder", "c/coder", "coder-ordered", "coder"]) {
    const w = await attempt(routerUrl, m, [{ role: "user", content: "Warm up." }], 4);
    if (!w.ok || !w.route || !Number.isFinite(w.cacheN)) throw new Error(`warm-up request for ${m} failed or lacked the route header or timings: ${w.failure ?? JSON.stringify(w)}`);
  }

  const texts = sharedTexts(SEED, PLAN);
  const ctx = { urls, ports, setup, routerUrl, texts, orderForSession, hosts: { a, b, c }, restarts: 0, poller: new Poller(urls) };
  const plans = Array.from({ length: PLAN.rounds }, (_, r) => blockTraffic(SEED, r, PLAN));

  // Every block's records also go to .cache/bench-fleet/progress.jsonl as they finish, for a run stopped early.
  const progress = join(WORK, "progress.jsonl");
  log("calibration: miss against hit on B, fleet idle");
  const calibration = await calibrate(ctx, plans[0]);
  appendFileSync(progress, JSON.stringify({ calibration }) + "\n");
  log(`  miss ${calibration.missMs.toFixed(0)} ms vs hit ${calibration.hitMs.toFixed(0)} ms: ${calibration.ratio.toFixed(1)}x`);

  ctx.poller.start();
  const blocks = [];
  try {
    for (const phase of PHASES) {
      for (let round = 0; round < PLAN.rounds; round++) {
        const order = POLICIES.map((_, i) => POLICIES[(i + round + (phase === "fault" ? 2 : 0)) % POLICIES.length]);
        for (const policy of order) {
          const traffic = plans[round];
          log(`${phase} round ${round + 1}/${PLAN.rounds}: ${policy} (${traffic.sessions.length} sessions, ${traffic.turns} turns)`);
          const result = await runBlock(ctx, phase, round, policy, traffic);
          const failed = result.records.filter((r) => !r.ok).length;
          const ok = result.records.filter((r) => r.ok);
          const finals = ok.map((r) => r.attempts.at(-1));
          const cached = finals.reduce((t, a) => t + a.cacheN, 0) / finals.reduce((t, a) => t + a.cacheN + a.promptN, 0);
          const share = HOST_IDS.map((h) => finals.filter((a) => a.host === h).length).join("/");
          log(`  ${(result.wallMs / 1000).toFixed(1)} s, TTFT p50 ${median(ok.map((r) => r.ttftMs)).toFixed(0)} ms, cache ratio ${cached.toFixed(2)}, requests on A/B/C ${share}, ${result.records.filter((r) => r.retried).length} retried, ${failed} lost`);
          appendFileSync(progress, JSON.stringify(result) + "\n");
          blocks.push(result);
          if (result.fault) {
            // The router orders a host that failed in the last 15 s last until it answers again
            // (src/upstream/recent-failures.ts): one request to b/coder, between blocks, so the next block starts clean.
            const reset = await attempt(routerUrl, "b/coder", [{ role: "user", content: "Back?" }], 2);
            if (!reset.ok) throw new Error(`host B does not answer through the router after its restart: ${reset.failure}`);
          }
        }
      }
    }
  } finally {
    await ctx.poller.stop();
  }

  // A bench that measured nothing is broken, whatever the targets say.
  for (const b of blocks) {
    const okTurns = b.records.filter((r) => r.kind === "turn" && r.ok);
    if (okTurns.length === 0) throw new Error(`${b.phase} ${b.policy} round ${b.round + 1}: no turn completed`);
    const missing = b.records.filter((r) => r.ok && !Number.isFinite(r.attempts.at(-1).cacheN));
    if (missing.length) throw new Error(`${b.phase} ${b.policy}: ${missing.length} answers without timings in their final chunk`);
    const unrouted = b.records.filter((r) => r.ok && !r.attempts.at(-1).host);
    if (unrouted.length) throw new Error(`${b.phase} ${b.policy}: ${unrouted.length} answers without an x-boocode-route header`);
  }

  const env = environment();
  await cleanup();
  const meta = {
    ...env,
    mode: QUICK ? "quick" : "full",
    seed: SEED,
    wallSeconds: Math.round((Date.now() - started) / 100) / 10,
    setup: {
      hosts: { a: `-np 1 -c ${CTX.a}`, b: `-np 2 -c ${CTX.b}`, c: `router mode, --models-max 1, -np 2 -c ${CTX.c} per model, models coder + other` },
      model: `scripts/make-tiny-gguf.mjs --embd ${modelArgs.embd} --layers ${modelArgs.layers} --ctx ${modelArgs.ctx} (coder: --seed 1, other: --seed 2), -t 1 everywhere`,
      plan: PLAN,
      client: "Node fetch (undici), keep-alive, in the bench process; streamed with stream_options.include_usage",
    },
  };
  const summary = summarise(blocks);
  const stamp = QUICK ? "fleet-quick-latest" : `fleet-${meta.date.slice(0, 16).replace(/[-:]/g, "").replace("T", "-")}`;
  const { md, targets } = renderMarkdown(meta, calibration, summary, `${stamp}.svg`);
  mkdirSync(OUT_DIR, { recursive: true });
  writeFileSync(join(OUT_DIR, `${stamp}.md`), md + "\n");
  writeFileSync(join(OUT_DIR, `${stamp}.svg`), renderSvg(summary, meta));
  writeFileSync(join(OUT_DIR, `${stamp}.json`), JSON.stringify({ ...meta, calibration, summary, targets }, null, 2) + "\n");
  if (!QUICK) writeFileSync(join(OUT_DIR, `${stamp}.raw.json`), JSON.stringify({ ...meta, calibration, blocks }) + "\n");
  console.log(md);
  log(`wrote ${join(OUT_DIR, stamp)}.{md,json,svg}${QUICK ? "" : " (+ .raw.json)"}`);
}

main().catch(async (err) => {
  console.error(err);
  await cleanup();
  process.exit(1);
});
