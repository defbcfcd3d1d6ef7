#!/usr/bin/env node
// `npm run bench -- continuation [--quick] [--streams N] [--out DIR]`: mid-stream continuation, judged on real hosts.
//
// Two llama-server hosts serve the same model file (the e2e tier's `slow` model: 768-dim, 8 layers, ~90 tokens/s on
// one thread, so a kill lands mid-answer) as the replicas alias `pool`, behind the router as people run it
// (`npm start`, client key on). First an uninterrupted reference answer per prompt (temperature 0, ignore_eos); then,
// for each of N streams, the same request through the router while the host serving it is killed with SIGKILL after a
// random number of content chunks (it is restarted before the next stream). Per stream: did it complete ([DONE], no
// error event), were characters duplicated or missing at the join, is the transcript identical to the reference, and
// how long the client waited at the join (the longest gap between two content chunks after the kill), against the
// continuation host's prefill of the continued prompt (the router's log line, `continued.prefillMs`). Then two more
// hosts with a Qwen3-style template that opens `<think>` and renders tools (bench/continuation-template.jinja): streams
// killed mid-reasoning (continued through the chat endpoint, verified), and runs with a tool call in flight (the
// answer is a prefilled `<tool_call>` whose arguments stream as tool_calls deltas) killed mid-arguments: each must end
// in a valid tool call or in one clean error event.
//
// Writes <out>/continuation-<stamp>.{md,json,svg} (default bench/results/; --quick: .cache/bench-results/
// continuation-quick.*). Installs llama-server and writes the model when missing. Method: docs/continuation-probe.md.
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import os from "node:os";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { sseEvents } from "./sse-client.mjs";

const ROOT = resolve(new URL("..", import.meta.url).pathname);
process.chdir(ROOT);
const argv = process.argv.slice(2).filter((a) => a !== "continuation");
const QUICK = argv.includes("--quick");
const option = (name, fallback) => (argv.indexOf(name) >= 0 ? argv[argv.indexOf(name) + 1] : fallback);
const STREAMS = Number(option("--streams", QUICK ? 6 : 100));
const TOOL_RUNS = QUICK ? 2 : 20;
const REASONING_STREAMS = QUICK ? 2 : 20;
const MESSAGES_STREAMS = Number(option("--messages-streams", QUICK ? 2 : 30));
// `--only messages`: the Anthropic part alone (a few minutes), written beside the full runs with an -messages suffix.
const ONLY_MESSAGES = option("--only", undefined) === "messages";
const OUT_DIR = resolve(option("--out", QUICK ? ".cache/bench-results" : "bench/results"));
const TOKENS = Number(option("--tokens", QUICK ? 64 : 160));
const PROMPTS = [
  "Write a short story about a lighthouse.",
  "Explain how a router picks a host.",
  "List ten things to pack for a hike.",
  "What is the capital of France?",
  "Describe the smell of rain.",
  "Summarise the plot of a heist film.",
  "Give me a recipe for pancakes.",
  "Why is the sky blue?",
  "Tell me about the history of tea.",
  "Plan a weekend in the mountains.",
].slice(0, QUICK ? 3 : 10);
const WORK = resolve(".cache/bench-continuation");
const CLIENT_KEY = "bench-continuation-key-5d1f";
const LAUNCHER = join(process.env.LLAMA_SERVER_DIR ?? resolve(".cache/llama-server"), "bin", "llama-server");
const MODEL_ARGS = { embd: 768, layers: 8, ctx: 65536, seed: 4 };
// --ubatch 1: the hosts compute a prompt one token at a time, as they decode (slow, not how a host is run): the
// continuation's prefill then has the reference's rounding, which shows how much of a difference is rounding.
const UBATCH = option("--ubatch", undefined);
const started = Date.now();
const log = (...a) => console.error(`[continuation ${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s]`, ...a);
// Deterministic kill points, so two runs of the bench cut at the same places.
let seed = 20261202;
const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);

// ---------------------------------------------------------------------------------------------------------------
// Processes

const children = new Set();

function spawnLogged(name, cmd, args) {
  mkdirSync(join(WORK, "logs"), { recursive: true });
  const logFile = join(WORK, "logs", `${name}.log`);
  const fd = openSync(logFile, "a");
  const child = spawn(cmd, args, { cwd: ROOT, detached: true, stdio: ["ignore", fd, fd], env: { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "1", FORCE_COLOR: "0" } });
  closeSync(fd);
  children.add(child);
  child.once("exit", () => children.delete(child));
  return { child, logFile };
}

function killGroup(child, signal) {
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

async function stopAll() {
  for (const child of children) killGroup(child, "SIGKILL");
}
process.on("exit", () => void stopAll());
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => process.exit(130));

function freePort() {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.once("error", fail);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
  });
}

async function waitHealthy(url, child, timeoutMs = 120_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${url}: the process exited`);
    try {
      const res = await fetch(`${url}/health`);
      await res.arrayBuffer();
      if (res.ok) return;
    } catch {}
    if (Date.now() > deadline) throw new Error(`${url} not healthy after ${timeoutMs} ms`);
    await sleep(100);
  }
}

/** A llama-server on a fixed port, restartable after a kill (same port, same arguments). */
function host(name, port, model, extra = []) {
  const url = `http://127.0.0.1:${port}`;
  const args = ["--host", "127.0.0.1", "--port", String(port), "-t", "1", "-np", "1", "-c", "8192", "-m", model, "--alias", "slow", ...(UBATCH ? ["-ub", UBATCH] : []), ...extra];
  const h = {
    name,
    url,
    child: undefined,
    async start() {
      for (let attempt = 1; ; attempt++) {
        h.child = spawnLogged(`host-${name}`, LAUNCHER, args).child;
        try {
          await waitHealthy(url, h.child);
          return;
        } catch (err) {
          // A port still in TIME_WAIT after a kill: the new process cannot bind; try again shortly.
          if (attempt >= 5) throw err;
          killGroup(h.child, "SIGKILL");
          await sleep(500);
        }
      }
    },
    kill() {
      killGroup(h.child, "SIGKILL");
    },
    async stop() {
      if (!h.child) return;
      const exited = new Promise((r) => (h.child.exitCode !== null || h.child.signalCode !== null ? r() : h.child.once("exit", r)));
      killGroup(h.child, "SIGKILL");
      await exited;
    },
  };
  return h;
}

// ---------------------------------------------------------------------------------------------------------------
// Setup

function ensureLlamaServer() {
  if (existsSync(LAUNCHER)) return;
  log("installing llama-server (scripts/install-llama-server.sh)");
  const r = spawnSync("bash", ["scripts/install-llama-server.sh"], { stdio: ["ignore", "ignore", "inherit"] });
  if (r.status !== 0 || !existsSync(LAUNCHER)) throw new Error("llama-server install failed");
}

/** The e2e tier's `slow` model (test/e2e/support/llama-server.ts ensureModel), reused when it is there. */
function ensureModel() {
  const path = resolve(".cache/models/slow.gguf");
  const wanted = JSON.stringify(MODEL_ARGS);
  if (existsSync(path) && existsSync(`${path}.args.json`) && readFileSync(`${path}.args.json`, "utf8") === wanted) return path;
  mkdirSync(resolve(".cache/models"), { recursive: true });
  const flags = Object.entries(MODEL_ARGS).flatMap(([k, v]) => [`--${k}`, String(v)]);
  execFileSync(process.execPath, ["scripts/make-tiny-gguf.mjs", path, ...flags], { stdio: ["ignore", "ignore", "inherit"] });
  writeFileSync(`${path}.args.json`, wanted);
  return path;
}

function pushConfig(config, stateDir) {
  const file = join(WORK, "llama-providers.json");
  writeFileSync(file, JSON.stringify(config, null, 2));
  const r = spawnSync(process.execPath, ["scripts/config.mjs", "push", "--local", "--persist-to", stateDir], {
    env: { ...process.env, LLAMA_PROVIDERS_PATH: file, WRANGLER_SEND_METRICS: "false", CI: "1" },
    encoding: "utf8",
  });
  if (r.status !== 0) throw new Error(`config push failed:\n${r.stdout}\n${r.stderr}`);
}

/** The router's log lines (npm start prints one JSON line per request), by request id. */
function routerLines(logFile) {
  const lines = new Map();
  for (const line of readFileSync(logFile, "utf8").split("\n")) {
    const at = line.indexOf('{"requestId"');
    if (at < 0) continue;
    try {
      const parsed = JSON.parse(line.slice(at));
      lines.set(parsed.requestId, parsed);
    } catch {}
  }
  return lines;
}

// ---------------------------------------------------------------------------------------------------------------
// Client

const headers = (id) => ({ "content-type": "application/json", authorization: `Bearer ${CLIENT_KEY}`, "x-request-id": id });

/** POSTs `body` to the router's `path`; the route that served, and the response (or its error text when not 200). */
async function post(router, path, body, id) {
  const res = await fetch(`${router}${path}`, { method: "POST", headers: headers(id), body: JSON.stringify(body) });
  const route = (res.headers.get("x-boocode-route") ?? "").split(";")[0];
  if (res.status !== 200) return { route, failed: { route, status: res.status, error: await res.text(), text: "", times: [], events: [] } };
  return { route, res };
}

/**
 * One streamed request; `onChunk(count, route)` is called after each content (or tool-call) chunk and may kill the
 * serving host. Returns the text, chunk times, and how the stream ended.
 */
async function stream(router, body, id, onChunk = () => {}) {
  const t0 = performance.now();
  const { route, res, failed } = await post(router, "/v1/chat/completions", body, id);
  if (failed) return failed;
  let text = "";
  let args = "";
  let done = false;
  const errors = [];
  const finishes = [];
  const times = [];
  const chunks = [];
  const tokenIds = [];
  const ids = new Set();
  for await (const event of sseEvents(res.body)) {
    if (!event.startsWith("data: ")) continue;
    if (event === "data: [DONE]") {
      done = true;
      continue;
    }
    const data = JSON.parse(event.slice(6));
    if (data.error) {
      errors.push(data.error);
      continue;
    }
    ids.add(data.id);
    const choice = data.choices?.[0];
    if (choice?.finish_reason) finishes.push(choice.finish_reason);
    const piece = choice?.delta?.content ?? choice?.delta?.reasoning_content ?? "";
    const toolArgs = (choice?.delta?.tool_calls ?? []).map((c) => c.function?.arguments ?? "").join("");
    if (piece || toolArgs) {
      for (const p of choice?.logprobs?.content ?? []) tokenIds.push(p.id);
      chunks.push(piece);
      text += piece;
      args += toolArgs;
      times.push(performance.now() - t0);
      onChunk(times.length, route);
    }
  }
  return { route, status: 200, text, args, done, errors, finishes, times, chunks, tokenIds, ids: [...ids] };
}

/**
 * One streamed Anthropic request (`/v1/messages`, as Claude Code sends it), read like `stream`: text deltas are the
 * chunks; `done` is `message_stop`; `ids` the message ids of every `message_start`; `finishes` the stop reasons.
 */
async function streamMessages(router, body, id, onChunk = () => {}) {
  const t0 = performance.now();
  const { route, res, failed } = await post(router, "/v1/messages", body, id);
  if (failed) return failed;
  let text = "";
  let done = false;
  const errors = [];
  const finishes = [];
  const times = [];
  const chunks = [];
  const ids = [];
  for await (const event of sseEvents(res.body)) {
    const data = event.split("\n").find((line) => line.startsWith("data: "));
    if (!data) continue;
    const e = JSON.parse(data.slice(6));
    if (e.type === "error") errors.push(e.error);
    else if (e.type === "message_start") ids.push(e.message.id);
    else if (e.type === "message_delta") finishes.push(e.delta.stop_reason);
    else if (e.type === "message_stop") done = true;
    else if (e.type === "content_block_delta" && (e.delta.type === "text_delta" || e.delta.type === "thinking_delta")) {
      const piece = e.delta.text ?? e.delta.thinking;
      chunks.push(piece);
      text += piece;
      times.push(performance.now() - t0);
      onChunk(times.length, route);
    }
  }
  return { route, status: 200, text, done, errors, finishes, times, chunks, tokenIds: [], ids };
}

/**
 * The join, judged without the model's rounding: what the host itself continues from the reference's own first
 * `atToken` ids (BOS + template + ids, `/completion`, no cache, as the router asks) is the exact continuation; the
 * killed stream's text after the first host's part must be exactly that. A stream whose first host part already left
 * the reference cannot be judged this way (counted as such). Adds `join` to each run: exact, shifted (characters
 * duplicated or missing), differs, or unjudged.
 */
async function joinOracle(runs, reference, hostUrl, request, { ignoreEos = true } = {}) {
  const post = async (path, body) => (await fetch(`${hostUrl}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) })).json();
  for (const run of runs) {
    const at = run.continued?.atToken;
    const prompt = PROMPTS[run.prompt];
    const ref = reference.get(prompt);
    const sent = at === undefined ? undefined : ref.chunks.slice(0, at).join("");
    if (at === undefined) {
      run.join = "not continued";
      continue;
    }
    if (run.identical) {
      run.join = "exact"; // the whole transcript is the uninterrupted answer
      continue;
    }
    if (ref.tokenIds.length !== ref.chunks.length || !run.text.startsWith(sent)) {
      run.join = "unjudged";
      continue;
    }
    const got = run.text.slice(sent.length);
    const body = request(prompt);
    const template = (await post("/apply-template", body)).prompt;
    const ids = (await post("/tokenize", { content: template, add_special: true })).tokens;
    const oracle = await post("/completion", { prompt: [...ids, ...ref.tokenIds.slice(0, at)], n_predict: TOKENS - at, temperature: 0, ignore_eos: ignoreEos, cache_prompt: false });
    const verdict = compare(oracle.content, got);
    run.join = verdict.identical ? "exact" : verdict.at === 0 && (verdict.duplicated || verdict.missing) ? "shifted" : "differs";
    if (!verdict.identical) Object.assign(run, { oracle: oracle.content, joinAt: verdict.at });
  }
}

/** Where `got` leaves `ref`, and whether that is the reference shifted (characters duplicated or missing at a join). */
function compare(ref, got) {
  if (got === ref) return { identical: true };
  let i = 0;
  while (i < got.length && i < ref.length && got[i] === ref[i]) i++;
  const probe = got.slice(i, i + 24);
  for (let d = 1; d <= 32 && probe.length >= 8; d++) {
    if (i - d >= 0 && ref.slice(i - d).startsWith(probe)) return { identical: false, at: i, duplicated: d };
    if (ref.slice(i + d).startsWith(probe)) return { identical: false, at: i, missing: d };
  }
  return { identical: false, at: i };
}

// ---------------------------------------------------------------------------------------------------------------
// Main

async function main() {
  rmSync(WORK, { recursive: true, force: true });
  mkdirSync(WORK, { recursive: true });
  ensureLlamaServer();
  const model = ensureModel();
  const tools = ["--jinja", "--chat-template-file", resolve("bench/continuation-template.jinja")];
  const [pa, pb, pc, pd, routerPort] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
  const [pe, pf] = await Promise.all([freePort(), freePort()]);
  // No prompt cache on e and f: an Anthropic request cannot ask for cache_prompt: false (llama-server drops the field).
  const noCache = ["--no-cache-prompt"];
  const hosts = { a: host("a", pa, model), b: host("b", pb, model), c: host("c", pc, model, tools), d: host("d", pd, model, tools), e: host("e", pe, model, noCache), f: host("f", pf, model, noCache) };
  const stateDir = join(WORK, "state");
  const provider = (id, h) => ({ id, baseUrl: h.url, discover: false, models: [{ id: "slow" }] });
  pushConfig({
    version: 1,
    providers: ["a", "b", "c", "d", "e", "f"].map((id) => provider(id, hosts[id])),
    aliases: {
      pool: { members: ["a/slow", "b/slow"], policy: "replicas" },
      tools: { members: ["c/slow", "d/slow"], policy: "replicas" },
      messages: { members: ["e/slow", "f/slow"], policy: "replicas" },
    },
  }, stateDir);
  const routerProc = spawnLogged("router", process.execPath, ["scripts/start.mjs", "--port", String(routerPort), "--persist-to", stateDir, "--outdir", join(WORK, "worker"), "--var", `ROUTER_API_KEYS:${CLIENT_KEY}`]);
  const router = `http://127.0.0.1:${routerPort}`;
  await Promise.all([...(ONLY_MESSAGES ? [] : [hosts.a.start(), hosts.b.start()]), waitHealthy(router, routerProc.child)]);
  /** `count` streams, each killed after a random number of chunks; compared with the references; hosts restarted. */
  async function killedStreams(kind, count, request, references, read = stream) {
    const runs = [];
    for (let i = 0; i < count; i++) {
      const prompt = PROMPTS[i % PROMPTS.length];
      const ref = references.get(prompt);
      const killAt = 1 + Math.floor(random() * (ref.times.length - 2));
      let killed;
      const r = await read(router, request(prompt), `${kind}-${i}`, (n, route) => {
        if (n !== killAt || killed) return;
        killed = hosts[route.split("/")[0]];
        killed?.kill();
      });
      // The join, seen by the client: the longest wait between two content chunks from the kill on.
      const gaps = r.times.slice(killAt - 1).map((t, k, all) => (k ? t - all[k - 1] : 0));
      const stallMs = Math.max(0, ...gaps);
      const verdict = compare(ref.text, r.text);
      // A transcript that differs is kept whole, with the reference, to be looked at.
      const texts = verdict.identical ? {} : { text: r.text, reference: ref.text };
      runs.push({ i, prompt: i % PROMPTS.length, killAt, killed: killed?.name, completed: r.done && r.errors.length === 0 && r.finishes.length === 1, oneId: r.ids.length === 1, errors: r.errors.map((e) => e.code ?? e.message), ...verdict, stallMs, ...texts, chunkTexts: verdict.identical ? undefined : r.chunks, referenceChunks: verdict.identical ? undefined : ref.chunks });
      if (killed) await killed.stop().then(() => killed.start());
      if ((i + 1) % 10 === 0 || QUICK) log(`${kind} ${i + 1}/${count}: ${runs.at(-1).completed ? "completed" : "NOT completed"}${runs.at(-1).identical ? ", identical" : ""}`);
    }
    const lines = routerLines(routerProc.logFile);
    for (const run of runs) {
      const line = lines.get(`${kind}-${run.i}`);
      run.continued = line?.continued;
      run.notContinued = line?.notContinued;
      run.prefillMs = line?.continued?.prefillMs;
    }
    return runs;
  }

  let runs = [];
  let reasoningRuns = [];
  const toolRuns = [];
  if (!ONLY_MESSAGES) {
  log(`ready: router ${router}, pool a ${hosts.a.url} + b ${hosts.b.url}; ${STREAMS} streams of ${TOKENS} tokens, ${PROMPTS.length} prompts`);

  // No prompt cache: every answer is computed from a cold prefill, so the first host's part of a killed stream is the
  // reference's, token for token (a reused cache gives other rounding, and random weights have near-ties).
  const request = (prompt) => ({ model: "pool", messages: [{ role: "user", content: prompt }], stream: true, max_tokens: TOKENS, temperature: 0, ignore_eos: true, cache_prompt: false });
  const reference = new Map();
  for (const [i, prompt] of PROMPTS.entries()) {
    // The reference carries its token ids (the client's own logprobs, which the router keeps), for the join oracle.
    const r = await stream(router, { ...request(prompt), logprobs: true, top_logprobs: 1 }, `ref-${i}`);
    if (!r.done || r.errors.length) throw new Error(`reference ${i} did not complete: ${JSON.stringify(r).slice(0, 300)}`);
    reference.set(prompt, r);
  }
  log("references done");


  runs = await killedStreams("cont", STREAMS, request, reference);
  await joinOracle(runs, reference, hosts.a.url, request);

  // The pool of hosts whose chat format parses the output: reasoning, then tool calls in flight.
  await Promise.all([hosts.a.stop(), hosts.b.stop()]);
  await Promise.all([hosts.c.start(), hosts.d.start()]);
  const thinking = (prompt) => ({ ...request(prompt), model: "tools" });
  const reasoningReference = new Map();
  for (const [i, prompt] of PROMPTS.entries()) {
    const r = await stream(router, { ...thinking(prompt), logprobs: true, top_logprobs: 1 }, `reasoning-ref-${i}`);
    if (!r.done || r.errors.length) throw new Error(`reasoning reference ${i} did not complete: ${JSON.stringify(r).slice(0, 300)}`);
    reasoningReference.set(prompt, r);
  }
  reasoningRuns = await killedStreams("reasoning", REASONING_STREAMS, thinking, reasoningReference);
  // The oracle's raw /completion text is the reasoning itself: the template opens <think> and this model never closes it.
  await joinOracle(reasoningRuns, reasoningReference, hosts.c.url, thinking);
  const toolRequest = {
    model: "tools",
    stream: true,
    max_tokens: TOKENS,
    temperature: 0,
    ignore_eos: true,
    tools: [{ type: "function", function: { name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] } } }],
    messages: [{ role: "user", content: "What is the weather in Paris?" }, { role: "assistant", content: '<tool_call>\n{"name": "get_weather", "arguments": {"city": "' }],
  };
  for (let i = 0; i < TOOL_RUNS; i++) {
    const killAt = 1 + Math.floor(random() * (TOKENS / 2));
    let killed;
    const r = await stream(router, toolRequest, `tool-${i}`, (count, route) => {
      if (count !== killAt || killed) return;
      killed = hosts[route.split("/")[0]];
      killed?.kill();
    });
    let validCall = false;
    try {
      validCall = r.finishes.length === 1 && r.finishes[0] === "tool_calls" && typeof JSON.parse(r.args) === "object";
    } catch {}
    const cleanError = r.errors.length === 1 && r.finishes.length === 0 && !r.done;
    toolRuns.push({ i, killAt, killed: killed?.name, inFlight: Boolean(killed) && r.args.length > 0, validCall, cleanError, finishes: r.finishes, errors: r.errors.map((e) => e.code ?? e.message) });
    if (killed) await killed.stop().then(() => killed.start());
  }
  log("tool-call runs done");
  const toolLines = routerLines(routerProc.logFile);
  for (const run of toolRuns) run.notContinued = toolLines.get(`tool-${run.i}`)?.notContinued;
  await Promise.all([hosts.c.stop(), hosts.d.stop()]);
  }

  // Anthropic streams (Claude Code's API): the router asks the hosts' chat endpoint and writes Anthropic events. Only
  // the fields llama-server's Anthropic endpoint reads pass, so no ignore_eos: an answer may end before the limit.
  await Promise.all([hosts.e.start(), hosts.f.start()]);
  const anthropic = (prompt) => ({ model: "messages", max_tokens: TOKENS, temperature: 0, stream: true, messages: [{ role: "user", content: prompt }] });
  const messagesReference = new Map();
  for (const [i, prompt] of PROMPTS.entries()) {
    const r = await streamMessages(router, anthropic(prompt), `messages-ref-${i}`);
    if (!r.done || r.errors.length || r.chunks.length < 3) throw new Error(`messages reference ${i} did not complete with 3 chunks: ${JSON.stringify(r).slice(0, 300)}`);
    messagesReference.set(prompt, r);
  }
  const messagesRuns = await killedStreams("messages", MESSAGES_STREAMS, anthropic, messagesReference, streamMessages);
  // An Anthropic stream carries no token ids, so the join is judged from the chat request the router made of each
  // prompt (the same body): its stream, with ids, asked of the same no-cache hosts, must be the Anthropic reference's
  // text; then the host's own /completion from its first atToken ids is the exact continuation (joinOracle).
  const chatTwin = (prompt) => ({ model: "messages", max_tokens: TOKENS, temperature: 0, stream: true, messages: [{ role: "user", content: prompt }] });
  const twins = new Map();
  for (const [i, prompt] of PROMPTS.entries()) {
    const twin = await stream(router, { ...chatTwin(prompt), logprobs: true, top_logprobs: 1 }, `messages-twin-${i}`);
    if (twin.text === messagesReference.get(prompt).text) twins.set(prompt, twin);
    else twins.set(prompt, { ...twin, tokenIds: [] }); // not the same answer: its runs stay unjudged
  }
  await joinOracle(messagesRuns, twins, hosts.e.url, chatTwin, { ignoreEos: false });
  log("messages runs done");

  await stopAll();
  write(runs, reasoningRuns, toolRuns, messagesRuns, model);
}

// ---------------------------------------------------------------------------------------------------------------
// Report

function write(runs, reasoningRuns, toolRuns, messagesRuns, model) {
  const pct = (n, d) => (d ? `${((100 * n) / d).toFixed(1)}%` : "–");
  const completed = runs.filter((r) => r.completed).length;
  const joinDefects = runs.filter((r) => r.join !== "exact" && r.join !== "not continued");
  const judged = runs.filter((r) => r.join === "exact" || r.join === "shifted" || r.join === "differs");
  const identical = runs.filter((r) => r.identical).length;
  const withPrefill = runs.filter((r) => r.completed && typeof r.prefillMs === "number");
  const stallOk = withPrefill.filter((r) => r.stallMs <= r.prefillMs + 1000).length;
  const stalls = runs.map((r) => r.stallMs).sort((x, y) => x - y);
  const median = (v) => (v.length ? v[Math.floor(v.length / 2)] : NaN);
  const p95 = (v) => (v.length ? v[Math.min(v.length - 1, Math.ceil(0.95 * v.length) - 1)] : NaN);
  const inFlight = toolRuns.filter((r) => r.inFlight);
  const toolOk = inFlight.filter((r) => r.validCall || r.cleanError).length;
  const met = (ok) => (ok ? "met" : "**missed**");
  const messagesDefects = messagesRuns.filter((r) => r.join !== "exact" && r.join !== "not continued" && r.join !== "unjudged");
  const llama = /version: .*/.exec(spawnSync(LAUNCHER, ["--version"], { encoding: "utf8" }).stderr ?? "")?.[0] ?? "?";
  const commit = (() => {
    try {
      return execFileSync("git", ["rev-parse", "--short", "HEAD"], { encoding: "utf8" }).trim();
    } catch {
      return "?";
    }
  })();
  const date = new Date().toISOString();
  const md = [
    `## Continuation bench ${QUICK ? "(--quick) " : ""}${date.slice(0, 16).replace("T", " ")} UTC, commit ${commit}`,
    "",
    `Machine: ${os.cpus()[0]?.model}, ${os.cpus().length} cores, load ${os.loadavg().map((x) => x.toFixed(2)).join(" ")}. llama-server ${llama}. ` +
      `Model: ${model.split("/").slice(-1)[0]} (${JSON.stringify(MODEL_ARGS)}, random weights), two hosts \`-t 1 -np 1 -c 8192${UBATCH ? ` -ub ${UBATCH}` : ""}\` as the replicas alias \`pool\`, ` +
      `router \`npm start\`. ${ONLY_MESSAGES ? `Only the Anthropic part: ${messagesRuns.length}` : runs.length} streams of ${TOKENS} tokens (temperature 0, ignore_eos; ${PROMPTS.length} prompts), the serving host killed with SIGKILL ` +
      `after a random number of content chunks and restarted before the next. Wall time ${((Date.now() - started) / 1000).toFixed(0)} s.`,
    "",
    "| figure | result | target | |",
    "|---|---|---|---|",
    ...(runs.length ? [
      `| streams completed (one finish, [DONE], no error event) | ${completed}/${runs.length} (${pct(completed, runs.length)}) | 100% | ${met(completed === runs.length)} |`,
      `| duplicated or missing characters at the join (the continuation vs the host's own /completion from the reference's ids) | ${joinDefects.length} streams (exact ${judged.filter((r) => r.join === "exact").length}/${runs.length}` +
      `${runs.some((r) => r.join === "unjudged") ? `, unjudged ${runs.filter((r) => r.join === "unjudged").length}` : ""}) | 0 | ${met(joinDefects.length === 0)} |`,
      `| transcripts identical to the uninterrupted reference | ${identical}/${runs.length} (${pct(identical, runs.length)}) | ≥ 90% | ${met(identical >= 0.9 * runs.length)} |`,
      `| stall at the join ≤ the continuation's prefill + 1 s | ${stallOk}/${withPrefill.length}; stall p50 ${median(stalls).toFixed(0)} ms, p95 ${p95(stalls).toFixed(0)} ms, max ${stalls.at(-1)?.toFixed(0)} ms; prefill p50 ${median(withPrefill.map((r) => r.prefillMs).sort((x, y) => x - y))} ms | every stream | ${met(withPrefill.length > 0 && stallOk === withPrefill.length)} |`,
      `| reasoning streams (a Qwen3-style template: every delta is reasoning_content), continued through the chat endpoint: completed / joins exact / transcripts identical | ${reasoningRuns.filter((r) => r.completed).length}/${reasoningRuns.length} / ${reasoningRuns.filter((r) => r.join === "exact").length}/${reasoningRuns.length} / ${reasoningRuns.filter((r) => r.identical).length}/${reasoningRuns.length} | – | |`,
    ] : []),
    ...(messagesRuns.length ? [
      `| Anthropic \`/v1/messages\` streams (no ignore_eos, hosts \`--no-cache-prompt\`): completed (one message_start, message_stop, no error event) / joins not exact (the continuation vs the host's own /completion from the chat twin's ids) | ${messagesRuns.filter((r) => r.completed && r.oneId).length}/${messagesRuns.length} / ${messagesDefects.length}${messagesRuns.some((r) => r.join === "unjudged") ? ` (unjudged ${messagesRuns.filter((r) => r.join === "unjudged").length})` : ""} | 100% / 0 | ${met(messagesRuns.every((r) => r.completed && r.oneId) && messagesDefects.length === 0)} |`,
      `| Anthropic \`/v1/messages\` transcripts identical to the uninterrupted reference | ${messagesRuns.filter((r) => r.identical).length}/${messagesRuns.length} (${pct(messagesRuns.filter((r) => r.identical).length, messagesRuns.length)}) | ≥ 90% | ${met(messagesRuns.filter((r) => r.identical).length >= 0.9 * messagesRuns.length)} |`,
    ] : []),
    ...(toolRuns.length ? [
      `| tool call in flight at the kill: a valid tool call or one clean error event | ${toolOk}/${inFlight.length} (${toolRuns.length - inFlight.length} of ${toolRuns.length} runs ended before the kill) | 100% | ${met(inFlight.length > 0 && toolOk === inFlight.length)} |`,
    ] : []),
    "",
    ...(messagesRuns.some((r) => !r.identical)
      ? [`Anthropic transcripts that differ from the reference: ${messagesRuns.filter((r) => !r.identical).map((r) => `#${r.i} (join at token ${r.continued?.atToken ?? "?"}, first difference at character ${r.at}, join ${r.join})`).join(", ")}.`, ""]
      : []),
    ...(runs.length ? [`One id and one created in every stream: ${runs.filter((r) => r.oneId).length}/${runs.length}. Continued on the other member: ` +
      `${runs.filter((r) => r.continued?.to && r.continued.to !== r.continued.from).length}; not continued: ${runs.filter((r) => r.notContinued).length}` +
      `${runs.some((r) => r.notContinued) ? ` (${[...new Set(runs.filter((r) => r.notContinued).map((r) => r.notContinued))].join("; ")})` : ""}.`] : []),
    ...(runs.some((r) => !r.identical)
      ? [`Transcripts that differ from the reference: ${runs.filter((r) => !r.identical).map((r) => `#${r.i} (join at token ${r.continued?.atToken ?? "?"}, first difference at character ${r.at}, join ${r.join})`).join(", ")}. ` +
          "A join judged exact whose transcript still differs is the model's rounding: the continuation host prefills the generated tokens as one batch, the reference decoded them one by one, and with random weights two candidates are often within rounding of each other."]
      : []),
    "",
    `Stall: the longest wait between two content chunks from the kill on, as the client saw it; prefill: \`timings.prompt_ms\` of the continuation host for the continued prompt (router log, \`continued.prefillMs\`). Chart: continuation-${QUICK ? "quick" : "<stamp>"}.svg (stall per stream against the kill point).`,
  ].join("\n");
  mkdirSync(OUT_DIR, { recursive: true });
  const stamp = (QUICK ? "continuation-quick" : `continuation-${date.slice(0, 16).replace(/[-:]/g, "").replace("T", "-")}`) + (UBATCH ? `-ub${UBATCH}` : "") + (ONLY_MESSAGES ? "-messages" : "");
  writeFileSync(join(OUT_DIR, `${stamp}.md`), md + "\n");
  writeFileSync(join(OUT_DIR, `${stamp}.json`), JSON.stringify({ date, commit, quick: QUICK, tokens: TOKENS, model: MODEL_ARGS, runs, reasoningRuns, toolRuns, messagesRuns }, null, 2) + "\n");
  writeFileSync(join(OUT_DIR, `${stamp}.svg`), chart(runs));
  console.log(md);
  log(`wrote ${join(OUT_DIR, stamp)}.{md,json,svg}`);
}

/** Stall at the join per stream (y, ms) against the chunk after which the host was killed (x); prefill + 1 s as a tick. */
function chart(runs) {
  const W = 640, H = 320, L = 56, B = 40, T = 20, R = 16;
  const maxX = Math.max(...runs.map((r) => r.killAt), 1);
  const maxY = Math.max(...runs.map((r) => Math.max(r.stallMs, (r.prefillMs ?? 0) + 1000)), 1);
  const x = (v) => L + ((W - L - R) * v) / maxX;
  const y = (v) => H - B - ((H - B - T) * v) / maxY;
  const dots = runs.map((r) => {
    const colour = !r.completed || (r.join && r.join !== "exact") ? "#d33" : r.identical ? "#2b7" : "#e90";
    const limit = typeof r.prefillMs === "number" ? `<line x1="${x(r.killAt) - 4}" x2="${x(r.killAt) + 4}" y1="${y(r.prefillMs + 1000)}" y2="${y(r.prefillMs + 1000)}" stroke="#999"/>` : "";
    return `${limit}<circle cx="${x(r.killAt).toFixed(1)}" cy="${y(r.stallMs).toFixed(1)}" r="3" fill="${colour}"><title>#${r.i}: kill after chunk ${r.killAt}, stall ${r.stallMs.toFixed(0)} ms</title></circle>`;
  });
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => `<text x="${L - 6}" y="${y(f * maxY) + 4}" text-anchor="end">${Math.round(f * maxY)}</text><line x1="${L}" x2="${W - R}" y1="${y(f * maxY)}" y2="${y(f * maxY)}" stroke="#eee"/>`);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="11">
<rect width="${W}" height="${H}" fill="#fff"/>
${ticks.join("\n")}
<line x1="${L}" x2="${L}" y1="${T}" y2="${H - B}" stroke="#333"/><line x1="${L}" x2="${W - R}" y1="${H - B}" y2="${H - B}" stroke="#333"/>
${dots.join("\n")}
<text x="${(W + L) / 2}" y="${H - 8}" text-anchor="middle">content chunk after which the serving host was killed</text>
<text x="14" y="${(H - B) / 2}" transform="rotate(-90 14 ${(H - B) / 2})" text-anchor="middle">stall at the join (ms)</text>
<text x="${W - R}" y="${T - 6}" text-anchor="end">green: identical; orange: exact join, later rounding; red: not completed or a bad join; grey: prefill + 1 s</text>
</svg>
`;
}

// `--redraw FILE.json`: the chart again from a run's figures (its runs), without running anything.
const redraw = option("--redraw", undefined);
if (redraw) {
  writeFileSync(redraw.replace(/\.json$/, ".svg"), chart(JSON.parse(readFileSync(redraw, "utf8")).runs));
  process.exit(0);
}

// Run as a module of bench/run.mjs (`npm run bench -- continuation`), which waits: this process ends here.
main().then(
  () => process.exit(0),
  async (err) => {
    console.error(err);
    await stopAll();
    process.exit(1);
  },
);
