// Hosts and HTTP for bench/continuation-probe.mjs: real llama-server processes in their own process groups (always
// killed on exit), and POSTs on fresh connections (one JSON answer, or the parsed events of an SSE stream).
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { join } from 'node:path';

const hosts = [];
process.on('exit', stopAll);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130));

export function stopAll() {
  for (const h of hosts.splice(0)) {
    try {
      process.kill(-h.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

function freePort() {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.once('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
  });
}

/** Starts `llama-server -t 1 -np 1 -c 8192` on a free loopback port (log in workDir); resolves with its URL once /health is 200. */
export async function startHost(launcher, model, workDir, name, extra = []) {
  const port = await freePort();
  const log = join(workDir, `host-${name}.log`);
  const fd = openSync(log, 'w');
  const args = ['--host', '127.0.0.1', '--port', String(port), '-t', '1', '-np', '1', '-c', '8192', '-m', model,
    '--alias', 'tiny', ...extra];
  const child = spawn(launcher, args, { stdio: ['ignore', fd, fd], detached: true });
  closeSync(fd);
  child.unref();
  hosts.push(child);
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) throw new Error(`host ${name} exited: ${readFileSync(log, 'utf8').slice(-2000)}`);
    try {
      const status = await new Promise((ok) => {
        request(`${url}/health`, { agent: false }, (res) => ok(res.resume().statusCode)).on('error', () => ok(0)).end();
      });
      if (status === 200) return url;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`host ${name} not ready in 30 s`);
}

/**
 * POST on a fresh connection: llama-server closes idle keep-alive connections, and a pooled one then fails with
 * "other side closed" before any answer.
 */
function send(url, body) {
  return new Promise((ok, fail) => {
    const req = request(url, { method: 'POST', agent: false, headers: { 'content-type': 'application/json' } }, (res) => {
      if (res.statusCode === 200) return ok(res);
      let text = '';
      res.setEncoding('utf8').on('data', (d) => (text += d)).on('end', () => fail(new Error(`${url} -> ${res.statusCode} ${text}`)));
    });
    req.on('error', fail);
    req.end(JSON.stringify(body));
  });
}

export async function post(url, body) {
  const res = await send(url, body);
  let text = '';
  for await (const part of res.setEncoding('utf8')) text += part;
  return JSON.parse(text);
}

/** POSTs a streaming request; returns the parsed `data:` events and the time to the first event with text. */
export async function stream(url, body) {
  const t0 = performance.now();
  const res = await send(url, body);
  const events = [];
  let firstMs;
  let timings;
  let buf = '';
  const dec = new TextDecoder();
  for await (const part of res) {
    buf += dec.decode(part, { stream: true });
    let nl;
    while ((nl = buf.indexOf('\n\n')) >= 0) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 2);
      if (!line.startsWith('data: ') || line === 'data: [DONE]') continue;
      const ev = JSON.parse(line.slice(6));
      const text = ev.choices ? ev.choices[0]?.delta?.content : ev.content;
      if (text && firstMs === undefined) firstMs = performance.now() - t0;
      if (ev.timings) timings = ev.timings;
      events.push(ev);
    }
  }
  return { events, firstMs, timings };
}

/** Host A's reference answer as a chat stream: one entry per content chunk, with the ids and token count it carries. */
