#!/usr/bin/env node
// A synthetic OpenAI-compatible upstream for `npm run bench`: it answers like llama-server (same chunk shape, a
// `model` member in every chunk, same headers and keep-alive limits) but generates nothing, so it streams as fast as
// Node can write. Each chunk is its own write, and the loop yields to the event loop between chunks so that
// concurrent streams interleave as they do on a real host (one token per write), rather than leaving as one blob.
//
//   node bench/synthetic-upstream.mjs [--port N] [--chunks N]     prints {"port":N} on stdout once listening
//
// POST /v1/chat/completions: `stream` true -> role chunk, max_tokens content chunks (default --chunks, 64), a
// finish chunk, a usage chunk when stream_options.include_usage, then [DONE]. Otherwise one chat.completion JSON.
// As llama-server does, `n_probs` adds a `logprobs` member (one candidate) and `timings_per_token` a `timings` member
// to each content chunk: what the router asks for of a stream it may continue (src/continuation/).
// GET /v1/models, GET /health as llama-server answers them.
import { createServer } from "node:http";

const args = process.argv.slice(2);
const flag = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const PORT = flag("--port", 0);
const DEFAULT_CHUNKS = flag("--chunks", 64);
const MODEL = "tiny";
const PIECES = [" the", " router", " is", " fast", ",", " and", " so", " is", " this", " host", "."];

const SSE_HEADERS = {
  "Content-Type": "text/event-stream",
  "X-Accel-Buffering": "no",
  Server: "llama.cpp",
  "Access-Control-Allow-Origin": "",
  "Keep-Alive": "timeout=5, max=100",
};

let next = 0;
const yieldToLoop = () => new Promise((r) => setImmediate(r));

async function chat(req, res, body) {
  const n = Number.isInteger(body.max_tokens) && body.max_tokens > 0 ? body.max_tokens : DEFAULT_CHUNKS;
  const id = `chatcmpl-synthetic${(next++).toString(36).padStart(22, "0")}`;
  const created = Math.floor(Date.now() / 1000);
  const tail = `"created":${created},"id":"${id}","model":${JSON.stringify(body.model ?? MODEL)},"system_fingerprint":"b11669-Debian","object":"chat.completion.chunk"}\n\n`;
  if (!body.stream) {
    let content = "";
    for (let i = 0; i < n; i++) content += PIECES[i % PIECES.length];
    const answer = {
      choices: [{ finish_reason: "length", index: 0, message: { role: "assistant", content } }],
      created, model: body.model ?? MODEL, system_fingerprint: "b11669-Debian", object: "chat.completion",
      usage: { completion_tokens: n, prompt_tokens: 26, total_tokens: n + 26, prompt_tokens_details: { cached_tokens: 0 } }, id,
      timings: { cache_n: 0, prompt_n: 26, prompt_ms: 0, predicted_n: n, predicted_ms: 0 },
    };
    const text = JSON.stringify(answer);
    res.writeHead(200, { "Content-Type": "application/json; charset=utf-8", Server: "llama.cpp", "Keep-Alive": "timeout=5, max=100", "Content-Length": Buffer.byteLength(text) });
    res.end(text);
    return;
  }
  res.writeHead(200, SSE_HEADERS);
  let closed = false;
  res.on("close", () => (closed = true));
  const write = async (s) => {
    if (!res.write(s)) await new Promise((r) => res.once("drain", r));
  };
  await write(`data: {"choices":[{"finish_reason":null,"index":0,"delta":{"role":"assistant","content":null}}],${tail}`);
  const probs = Number.isInteger(body.n_probs) && body.n_probs > 0;
  const timings = body.timings_per_token === true;
  for (let i = 0; i < n && !closed; i++) {
    await yieldToLoop();
    const piece = JSON.stringify(PIECES[i % PIECES.length]);
    const logprobs = probs ? `,"logprobs":{"content":[{"id":${300 + (i % PIECES.length)},"token":${piece},"bytes":${JSON.stringify([...Buffer.from(PIECES[i % PIECES.length])])},"logprob":-1.9665199518203735,"top_logprobs":[{"id":${300 + (i % PIECES.length)},"token":${piece},"bytes":${JSON.stringify([...Buffer.from(PIECES[i % PIECES.length])])},"logprob":-1.9665199518203735}]}]}` : "";
    const perToken = timings ? `,"timings":{"cache_n":0,"prompt_n":26,"prompt_ms":1.898,"prompt_per_token_ms":0.073,"prompt_per_second":13698.630136986303,"predicted_n":${i + 1},"predicted_ms":${(i * 0.7).toFixed(3)},"predicted_per_token_ms":0.692,"predicted_per_second":1445.0867052023123}` : "";
    await write(`data: {"choices":[{"finish_reason":null,"index":0,"delta":{"content":${piece}}${logprobs}}],${timings ? tail.replace(/}\n\n$/, `${perToken}}\n\n`) : tail}`);
  }
  if (closed) return;
  await write(`data: {"choices":[{"finish_reason":"length","index":0,"delta":{}}],${tail}`);
  if (body.stream_options?.include_usage) {
    await write(`data: {"choices":[],"usage":{"completion_tokens":${n},"prompt_tokens":26,"total_tokens":${n + 26}},${tail}`);
  }
  res.end("data: [DONE]\n\n");
}

const server = createServer({ keepAliveTimeout: 5_000 }, (req, res) => {
  if (req.method === "GET" && req.url === "/health") return void res.writeHead(200, { "Content-Type": "application/json" }).end('{"status":"ok"}');
  if (req.method === "GET" && req.url === "/v1/models") {
    return void res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify({
      object: "list",
      data: [{ id: MODEL, aliases: [], object: "model", owned_by: "llamacpp", created: 0, meta: { n_ctx: 4096, n_ctx_train: 65536 } }],
    }));
  }
  if (req.method !== "POST" || !req.url.endsWith("/chat/completions")) {
    return void res.writeHead(404, { "Content-Type": "application/json" }).end('{"error":{"code":404,"message":"File Not Found","type":"not_found_error"}}');
  }
  const parts = [];
  req.on("data", (d) => parts.push(d));
  req.on("end", () => {
    let body;
    try {
      body = JSON.parse(Buffer.concat(parts).toString("utf8"));
    } catch {
      return void res.writeHead(400, { "Content-Type": "application/json" }).end('{"error":{"code":400,"message":"bad json","type":"invalid_request_error"}}');
    }
    chat(req, res, body).catch(() => res.destroy());
  });
});
// llama-server (cpp-httplib) closes a keep-alive connection after 100 requests; so does this host.
server.maxRequestsPerSocket = 100;
server.listen(PORT, "127.0.0.1", () => {
  process.stdout.write(JSON.stringify({ port: server.address().port }) + "\n");
});
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => process.exit(0));
