// The connect-phase deadline (upstream/connect-watch.ts): a host that accepts no connection is given up after
// `connectMs`, not `firstByteMs`, unless its `GET /health` shows it is alive; a fast answer costs no probe.
// Hosts are scripted here; connect-real-socket.test.ts does the same against real loopback sockets.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { fakeHosts, hang, hostJson } from "../helpers/fake-hosts.js";
import { FIXTURES } from "../helpers/fixtures.js";
import { call, uniqueHost, useConfig } from "../helpers/worker.js";

let gpu: string;
let laptop: string;
let hosts: ReturnType<typeof fakeHosts> | undefined;
const CHAT = { messages: [{ role: "user", content: "hi" }], max_tokens: 6 };
// firstByteMs is much longer than connectMs: a 504 here must come from the connect deadline.
const TIMEOUTS = { connectMs: 300, firstByteMs: 2_500 };

beforeEach(async () => {
  gpu = uniqueHost("gpu");
  laptop = uniqueHost("laptop");
  await useConfig({
    version: 1,
    providers: [
      { id: "gpu", baseUrl: gpu, discover: false, timeouts: TIMEOUTS, models: [{ id: "big" }] },
      { id: "laptop", baseUrl: `${laptop}/llama`, discover: false, timeouts: TIMEOUTS, models: [{ id: "tiny" }] },
    ],
    aliases: { coder: ["gpu/big", "laptop/tiny"] },
  });
});
afterEach(() => hosts?.restore());

const paths = () => hosts!.calls.map((c) => `${c.method} ${c.url}`);

describe("connectMs", () => {
  it("a host that accepts no connection is 504 connect_timeout after connectMs, not after firstByteMs", async () => {
    hosts = fakeHosts({ [`${gpu}/v1/chat/completions`]: hang, [`${gpu}/health`]: hang });
    const res = await call("/v1/chat/completions", { json: { model: "gpu/big", ...CHAT } });
    expect(res.status).toBe(504);
    expect((await res.json<any>()).error).toMatchObject({ type: "timeout_error", code: "connect_timeout", message: expect.stringMatching(/accepted no connection within 300 ms/) });
    expect(paths()).toEqual([`POST ${gpu}/v1/chat/completions`, `GET ${gpu}/health`]);
  });

  it("a pool moves on to the next member after connectMs", async () => {
    hosts = fakeHosts({
      [`${gpu}/v1/chat/completions`]: hang,
      [`${gpu}/health`]: hang,
      [`${laptop}/llama/v1/chat/completions`]: () => hostJson(FIXTURES.chat),
    });
    const res = await call("/v1/chat/completions", { json: { model: "coder", ...CHAT } });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-boocode-route")).toBe("laptop/tiny");
    expect(paths()).toEqual([`POST ${gpu}/v1/chat/completions`, `GET ${gpu}/health`, `POST ${laptop}/llama/v1/chat/completions`]);
  });

  it("a slow answer from a live host is not cut: its /health answered (a 503 'loading' counts as alive)", async () => {
    let healthAsked!: () => void;
    const asked = new Promise<void>((resolve) => (healthAsked = resolve));
    hosts = fakeHosts({
      [`${laptop}/llama/health`]: () => (healthAsked(), hostJson({ error: { code: 503, message: "Loading model", type: "unavailable_error" } }, 503)),
      // The host is busy with a long prompt: it answers well after connectMs (3x), once the probe has been answered.
      [`${laptop}/llama/v1/chat/completions`]: () => asked.then(() => new Promise<Response>((resolve) => setTimeout(() => resolve(hostJson(FIXTURES.chat)), 3 * TIMEOUTS.connectMs))),
    });
    const res = await call("/v1/chat/completions", { json: { model: "laptop/tiny", ...CHAT } });
    expect(res.status).toBe(200);
    expect(paths()).toEqual([`POST ${laptop}/llama/v1/chat/completions`, `GET ${laptop}/llama/health`]);
  });

  it("a host that answers before half of connectMs gets no probe", async () => {
    await useConfig({ version: 1, providers: [{ id: "laptop", baseUrl: `${laptop}/llama`, discover: false, timeouts: { connectMs: 20_000, firstByteMs: 60_000 }, models: [{ id: "tiny" }] }] });
    hosts = fakeHosts({ [`${laptop}/llama/v1/chat/completions`]: () => hostJson(FIXTURES.chat) });
    expect((await call("/v1/chat/completions", { json: { model: "laptop/tiny", ...CHAT } })).status).toBe(200);
    expect(paths()).toEqual([`POST ${laptop}/llama/v1/chat/completions`]);
  });

  it("the probe carries the host's credentials and nothing of the client's", async () => {
    await useConfig({ version: 1, providers: [{ id: "gpu", baseUrl: gpu, discover: false, auth: { apiKeySecret: "GPU_KEY" }, timeouts: TIMEOUTS, models: [{ id: "big" }] }] });
    hosts = fakeHosts({ [`${gpu}/v1/chat/completions`]: hang, [`${gpu}/health`]: hang });
    await call("/v1/chat/completions", { json: { model: "gpu/big", ...CHAT }, headers: { "user-agent": "agent/1", cookie: "c=1" } });
    const probe = hosts.calls.find((c) => c.url.endsWith("/health"))!;
    expect(probe.headers.get("authorization")).toBe("Bearer sk-upstream-SECRET-gpu");
    expect([...probe.headers.keys()].sort()).toEqual(["authorization"]);
  });
});
