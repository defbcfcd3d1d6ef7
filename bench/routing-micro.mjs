#!/usr/bin/env node
// `node bench/routing-micro.mjs [--iterations N]`: what choosing a host costs one request, in plain Node.
// The routing module (src/routing, pure TypeScript) is bundled with the esbuild that wrangler already installs, into a
// temp dir, then timed on an 8-turn agent conversation of about 20k tokens of JSON against a pool of 5 hosts that
// already hold other conversations. Prints p50/p99 of: building the prefix chain (one pass over the text), rank()
// alone, and both (the whole per-request cost). Target: both <= 0.2 ms p50.
// Also a module: `npm run bench` (bench/run.mjs) reports measureRouting()'s figures as a row of its table.
import { build } from "esbuild";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** The target for the whole per-request cost (prefix chain + rank), p50, in ms. */
export const ROUTING_TARGET_P50_MS = 0.2;

/**
 * Times prefixChain, rank and both on the request described above; `iterations` timed after `warmup` untimed.
 * Returns p50/p99 (ms) of each, and what the request and the choice were.
 */
export async function measureRouting({ iterations = 5_000, warmup = 1_000 } = {}) {
  const dir = mkdtempSync(join(tmpdir(), "routing-micro-"));
  try {
    const outfile = join(dir, "routing.mjs");
    await build({ entryPoints: [join(ROOT, "src/routing/index.ts")], bundle: true, format: "esm", platform: "neutral", outfile, logLevel: "error" });
    return run(await import(pathToFileURL(outfile).href), iterations, warmup);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const argIndex = process.argv.indexOf("--iterations");
  const r = await measureRouting({ iterations: argIndex > 0 ? Number(process.argv[argIndex + 1]) : 5_000 });
  console.log(`request: ${r.request.messages} messages + tools, ${r.request.jsonChars} chars of JSON (~${r.request.approxTokens} tokens), ${r.request.blocks} blocks; pool of ${r.request.hosts} hosts`);
  console.log(`chosen: ${r.chosen.reason} (predicted cached tokens ${r.chosen.predictedCachedTokens} of ${r.chosen.promptTokens})`);
  console.log(`node ${process.version}, ${r.iterations} iterations after ${r.warmup} warm-up`);
  for (const [name, t] of [["prefixChain", r.chain], ["rank", r.rank], ["prefixChain + rank", r.both]]) {
    console.log(`${name.padEnd(20)} p50 ${t.p50.toFixed(4)} ms   p99 ${t.p99.toFixed(4)} ms`);
  }
}

function run({ FleetRouter, prefixChain }, iterations, warmup) {
  const hosts = ["a", "b", "c", "d", "e"].map((id) => ({ id: `${id}/coder`, provider: { id, baseUrl: `http://${id}.test` }, upstream: "coder" }));
  const turns = 8;
  const body = conversation("main", turns);
  const json = JSON.stringify(body);
  const router = new FleetRouter();
  // Every host has served a few other conversations (same system prompt and tools); one has this one's earlier turns.
  hosts.forEach((route, i) => {
    router.recordSlots(route.provider, route.upstream, [{ is_processing: i % 2 === 0 }, { is_processing: false }], 0);
    for (let k = 0; k < 6; k++) finish(router, prefixChain, route, conversation(`other-${i}-${k}`, 8));
  });
  finish(router, prefixChain, hosts[3], conversation("main", 7));

  const chainTimes = [];
  const rankTimes = [];
  const bothTimes = [];
  let first;
  for (let i = 0; i < warmup + iterations; i++) {
    const t0 = process.hrtime.bigint();
    const chain = prefixChain("chat", body);
    const t1 = process.hrtime.bigint();
    const ranking = router.rank({ candidates: hosts, policy: "replicas", session: "session-1", chain }, 1_000);
    const t2 = process.hrtime.bigint();
    first = ranking.order[0];
    if (i >= warmup) {
      chainTimes.push(Number(t1 - t0) / 1e6);
      rankTimes.push(Number(t2 - t1) / 1e6);
      bothTimes.push(Number(t2 - t0) / 1e6);
    }
  }
  const chain = prefixChain("chat", body);
  const stats = (times) => ({ p50: quantile(times, 0.5), p99: quantile(times, 0.99) });
  return {
    request: { turns, messages: body.messages.length, jsonChars: json.length, approxTokens: Math.round(json.length / 4), blocks: chain.hashes.length, hosts: hosts.length },
    chosen: { reason: first.reason, predictedCachedTokens: first.predictedCachedTokens, promptTokens: first.promptTokens },
    iterations,
    warmup,
    chain: stats(chainTimes),
    rank: stats(rankTimes),
    both: stats(bothTimes),
  };
}

function finish(router, prefixChain, route, body) {
  const ranking = router.rank({ candidates: [route], policy: "replicas", chain: prefixChain("chat", body) }, 0);
  router.end(router.begin(ranking, route, 0), { ok: true }, 500);
}

/** An agent conversation: tools, a long system prompt, then `turns` user turns with assistant answers and tool calls. */
function conversation(name, turns) {
  const tools = Array.from({ length: 12 }, (_, i) => ({
    type: "function",
    function: { name: `tool_${i}`, description: `Tool number ${i}. `.repeat(20), parameters: { type: "object", properties: { path: { type: "string", description: "A path." }, text: { type: "string" } }, required: ["path"] } },
  }));
  const messages = [{ role: "system", content: "You are a coding agent working in a repository. Follow the rules. ".repeat(200) }];
  for (let t = 0; t < turns; t++) {
    messages.push({ role: "user", content: `${name}: request ${t}. ${"Please change the function and explain. ".repeat(40)}` });
    if (t < turns - 1) {
      messages.push({ role: "assistant", content: null, tool_calls: [{ id: `call_${t}`, type: "function", function: { name: "tool_1", arguments: JSON.stringify({ path: `src/file${t}.ts` }) } }] });
      messages.push({ role: "tool", tool_call_id: `call_${t}`, content: `export function f${t}() {\n  return ${t};\n}\n`.repeat(150) });
      messages.push({ role: "assistant", content: `Done with ${t}. ${"I changed the code as asked. ".repeat(30)}` });
    }
  }
  return { model: "coder", stream: true, tools, messages };
}

function quantile(values, q) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}
