/**
 * vitest globalSetup (runs in Node, before the Worker's tests): real loopback sockets for the connect deadline,
 * reached by the Worker's real fetch (no fake hosts in connect-real-socket.test.ts).
 * - `silent`: accepts at the TCP level and never answers HTTP. Models a host whose kernel still completes the
 *   handshake but whose server is hung or stopped, or a tunnel connector that took the connection and has no origin.
 * - `stopped`: a listening process that is stopped (SIGSTOP) with its accept queue full, so a new SYN is dropped and
 *   the connection is never established. Models a blackholed address or a machine gone from the LAN.
 * - `live`: a tiny llama-server stand-in answering `/health` and `/v1/chat/completions` (JSON; asked for a stream, it
 *   streams LIVE_STREAM_CHUNKS content chunks as fast as it can, each its own write, as the bench's synthetic host).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import type { TestProject } from "vitest/node";

declare module "vitest" {
  export interface ProvidedContext {
    loopback: { silent: number; stopped: number; live: number };
    /** How many content chunks `live` streams (`t0 `, `t1 `, ...) when asked for a stream. */
    liveStreamChunks: number;
  }
}

const listen = (server: net.Server) => new Promise<number>((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as net.AddressInfo).port)));

export default async function setup(project: TestProject) {
  const held: net.Socket[] = [];
  const silent = net.createServer({ pauseOnConnect: true }, (socket) => void held.push(socket));
  const silentPort = await listen(silent);

  const child: ChildProcess = spawn(process.execPath, ["-e", "const s=require('net').createServer();s.listen({port:0,host:'127.0.0.1',backlog:1},()=>console.log(s.address().port))"], { stdio: ["ignore", "pipe", "inherit"] });
  const stoppedPort = await new Promise<number>((resolve) => child.stdout!.once("data", (d) => resolve(Number(String(d).trim()))));
  process.kill(child.pid!, "SIGSTOP");
  // Fill the accept queue (backlog 1 holds two) so that every later SYN is dropped.
  const fillers = [0, 1].map(() => net.connect(stoppedPort, "127.0.0.1"));
  await Promise.all(fillers.map((s) => new Promise((resolve) => s.once("connect", resolve))));

  const chat = readFileSync("test/fixtures/llama-server/chat.body", "utf8");
  const live = http.createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on("data", (d: Buffer) => parts.push(d)).on("end", () => {
      if (req.url === "/health") return res.writeHead(200, { "content-type": "application/json" }).end('{"status":"ok"}');
      if (req.url === "/v1/chat/completions") {
        let stream = false;
        try {
          stream = JSON.parse(Buffer.concat(parts).toString("utf8")).stream === true;
        } catch {}
        if (stream) return void streamChat(res);
        return res.writeHead(200, { "content-type": "application/json" }).end(chat);
      }
      res.writeHead(404).end();
    });
  });
  const livePort = await listen(live);

  project.provide("loopback", { silent: silentPort, stopped: stoppedPort, live: livePort });
  project.provide("liveStreamChunks", LIVE_STREAM_CHUNKS);
  return () => {
    for (const s of [...held, ...fillers]) s.destroy();
    silent.close();
    live.close();
    child.kill("SIGKILL");
  };
}

const LIVE_STREAM_CHUNKS = 300;

/** llama-server's chunk shape, one write per chunk, yielding between writes so that they leave as separate segments. */
async function streamChat(res: http.ServerResponse): Promise<void> {
  const tail = `"created":1795606040,"id":"chatcmpl-live","model":"m","system_fingerprint":"b11669-Debian","object":"chat.completion.chunk"}\n\n`;
  const chunk = (choice: string) => `data: {"choices":[${choice}],${tail}`;
  res.writeHead(200, { "content-type": "text/event-stream", server: "llama.cpp" });
  res.write(chunk('{"finish_reason":null,"index":0,"delta":{"role":"assistant","content":null}}'));
  for (let i = 0; i < LIVE_STREAM_CHUNKS; i++) {
    await new Promise((r) => setImmediate(r));
    res.write(chunk(`{"finish_reason":null,"index":0,"delta":{"content":"t${i} "}}`));
  }
  res.write(chunk('{"finish_reason":"length","index":0,"delta":{}}'));
  res.write(`data: {"choices":[],"usage":{"completion_tokens":${LIVE_STREAM_CHUNKS},"prompt_tokens":26,"total_tokens":${LIVE_STREAM_CHUNKS + 26}},${tail}`);
  res.end("data: [DONE]\n\n");
}
