// The connect deadline against real loopback sockets (test/helpers/loopback-hosts.ts): the Worker's own fetch, no
// fake hosts. A pool whose first member accepts no connection is served by the next one after connectMs.
import { describe, expect, inject, it } from "vitest";
import { call, useConfig } from "../helpers/worker.js";

const ports = inject("loopback");
const CHAT = { model: "pool", messages: [{ role: "user", content: "hi" }], max_tokens: 4 };
// firstByteMs is far beyond the test's own timeout: without the connect deadline the first member would hold it.
const TIMEOUTS = { connectMs: 1_000, firstByteMs: 30_000 };

async function poolWithFirst(port: number): Promise<void> {
  await useConfig({
    version: 1,
    providers: [
      { id: "dead", baseUrl: `http://127.0.0.1:${port}`, discover: false, timeouts: TIMEOUTS, models: [{ id: "m" }] },
      { id: "live", baseUrl: `http://127.0.0.1:${ports.live}`, discover: false, timeouts: TIMEOUTS, models: [{ id: "m" }] },
    ],
    aliases: { pool: ["dead/m", "live/m"] },
  });
}

describe("connectMs against real sockets", () => {
  it.each([
    ["accepts TCP but never answers HTTP", "silent"],
    ["never completes the TCP handshake (stopped, accept queue full)", "stopped"],
  ] as const)("a member that %s is given up after connectMs and the next one serves", async (_name, which) => {
    await poolWithFirst(ports[which]);
    const started = Date.now();
    const res = await call("/v1/chat/completions", { json: CHAT });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-boocode-route")).toBe("live/m");
    console.log(`${which}: served by the next member after ${Date.now() - started} ms (connectMs ${TIMEOUTS.connectMs})`);
  });
});
