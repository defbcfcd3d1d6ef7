#!/usr/bin/env node
// `node bench/continuation-micro.mjs [--chunks N]`: what a stream that can be continued costs per chunk, in plain Node.
// src/continuation/token-capture.ts and src/stream/model-rewrite.ts are bundled with the esbuild wrangler installs,
// into a temp dir, then fed one SSE event per chunk, as llama-server sends them (recorded in
// test/fixtures/llama-server/chat-stream-ids.body):
//   rewrite            today's relay: the byte-level model rewrite of a plain chunk (no logprobs, no timings)
//   capture + strip    a continuable stream: the chunk the host sends when asked for n_probs 1 + timings_per_token,
//                      its ids and count recorded, both members cut (the client gets the plain chunk)
//   capture, kept      the client asked for logprobs and timings itself: ids recorded, nothing cut
//   + Anthropic events a /v1/messages stream asked of the chat endpoint: capture (timings kept, the router reads
//                      them), then each chat chunk parsed and written as Anthropic events (src/anthropic/events.ts)
// Prints the median of 20 batches in ns per chunk, and the bytes per chunk the host sends for each.
import { build } from "esbuild";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const argIndex = process.argv.indexOf("--chunks");
const CHUNKS = argIndex > 0 ? Number(process.argv[argIndex + 1]) : 200_000;
const BATCHES = 20;

const dir = mkdtempSync(join(tmpdir(), "continuation-micro-"));
try {
  const entry = join(dir, "entry.ts");
  writeFileSync(entry, `export { TokenCapture } from ${JSON.stringify(join(ROOT, "src/continuation/token-capture.ts"))};\nexport { ModelRewriter } from ${JSON.stringify(join(ROOT, "src/stream/model-rewrite.ts"))};\nexport { AnthropicEvents } from ${JSON.stringify(join(ROOT, "src/anthropic/events.ts"))};\n`);
  const outfile = join(dir, "bundle.mjs");
  await build({ entryPoints: [entry], bundle: true, format: "esm", platform: "neutral", outfile, logLevel: "error" });
  run(await import(pathToFileURL(outfile).href));
} finally {
  rmSync(dir, { recursive: true, force: true });
}

function run({ TokenCapture, ModelRewriter, AnthropicEvents }) {
  const enc = new TextEncoder();
  const events = readFileSync(join(ROOT, "test/fixtures/llama-server/chat-stream-ids.body"), "utf8").split(/(?<=\n\n)/);
  const head = events[0];
  const tokens = events.filter((e) => e.includes('"logprobs"'));
  // The same token events without the members the router asked for: what a host sends a plain request.
  const plain = tokens.map((e) => e.replace(/,"logprobs":\{.*?\]\}\]\}/, "").replace(/,"timings":\{[^}]*\}/, ""));
  const cases = [
    ["rewrite (today)", () => new ModelRewriter("a/tiny"), plain],
    ["capture + strip", () => new TokenCapture({ model: "a/tiny", stripLogprobs: true, stripTimings: true, keepText: false }), tokens],
    ["capture, kept", () => new TokenCapture({ model: "a/tiny", stripLogprobs: false, stripTimings: false, keepText: false }), tokens],
    ["capture + Anthropic events", () => {
      const capture = new TokenCapture({ model: "a/tiny", stripLogprobs: true, stripTimings: false, keepText: true });
      const events = new AnthropicEvents("a/tiny");
      return { push: (chunk) => events.push(capture.push(chunk)) };
    }, tokens],
  ];
  console.log(`| per chunk | host bytes/chunk | ns/chunk (median of ${BATCHES} batches of ${CHUNKS / BATCHES}) |`);
  console.log("|---|--:|--:|");
  const results = [];
  for (const [name, make, source] of cases) {
    const chunks = source.map((e) => enc.encode(e));
    // Whole streams of ~1,000 tokens, one transform per stream, as in the relay.
    const perStream = 1_000;
    const sample = () => {
      let transform = make();
      transform.push(enc.encode(head));
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < CHUNKS / BATCHES; i++) {
        if (i % perStream === 0) {
          transform = make();
          transform.push(enc.encode(head));
        }
        transform.push(chunks[i % chunks.length]);
      }
      return Number(process.hrtime.bigint() - t0) / (CHUNKS / BATCHES);
    };
    for (let w = 0; w < 3; w++) sample(); // warm-up
    const times = Array.from({ length: BATCHES }, sample).sort((a, b) => a - b);
    const bytes = chunks.reduce((n, c) => n + c.length, 0) / chunks.length;
    results.push({ name, ns: times[Math.floor(BATCHES / 2)], bytes });
    console.log(`| ${name} | ${bytes.toFixed(0)} | ${times[Math.floor(BATCHES / 2)].toFixed(0)} |`);
  }
  const [base, strip] = results;
  console.log(`\ncapture + strip costs ${(strip.ns - base.ns).toFixed(0)} ns more per chunk than today's rewrite (${(strip.ns / base.ns).toFixed(2)}×); ` +
    `at 100 tokens/s that is ${(((strip.ns - base.ns) * 100) / 1e3).toFixed(1)} µs of CPU per stream-second.`);
}
