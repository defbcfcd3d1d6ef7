// GET / and GET /status.json: the public status page and its activity figures. They show health (and why a host is
// down), windows, slot use and live activity, make no host work for anonymous callers, and show nothing a stranger
// should not see.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import slotsBody from "../fixtures/llama-server/slots.body?raw";
import { fakeHosts, hang, hostJson, refused, sseEvents } from "../helpers/fake-hosts.js";
import { FIXTURES } from "../helpers/fixtures.js";
import { call, uniqueHost, useConfig } from "../helpers/worker.js";

let gpu: string, laptop: string, down: string, locked: string, slow: string;
let hosts: ReturnType<typeof fakeHosts> | undefined;

beforeEach(async () => {
  [gpu, laptop, down, locked, slow] = [uniqueHost("gpu"), uniqueHost("laptop"), uniqueHost("down"), uniqueHost("locked"), uniqueHost("slow")];
  await useConfig({
    version: 31,
    providers: [
      { id: "gpu", label: "GPU <workstation>", baseUrl: gpu, auth: { apiKeySecret: "GPU_KEY" }, models: [{ id: "qwen-32b", upstream: "tiny", contextLength: 32768 }] },
      { id: "laptop", baseUrl: `${laptop}/llama` },
      { id: "down", baseUrl: down, models: [{ id: "big", contextLength: 8192 }] },
    ],
    aliases: { coder: ["gpu/qwen-32b", "down/big"] },
  });
});
afterEach(() => {
  hosts?.restore();
  vi.restoreAllMocks();
});

/** The `<tr>` of one model, from its opening tag to its end. */
const rowOf = (html: string, id: string) => new RegExp(`<tr data-model="${id.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}"[\\s\\S]*?</tr>`).exec(html)?.[0] ?? "";
/** The card of one provider, by its `data-inflight` id. */
const cardOf = (html: string, id: string) => new RegExp(`<div class="card"><div class="head">(?:(?!<div class="card">)[\\s\\S])*?data-inflight="${id}"[\\s\\S]*?</div></div>`).exec(html)?.[0] ?? "";
const sha256 = async (text: string) => btoa(String.fromCharCode(...new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)))));
/** Words of the hosts' own error messages and of config internals that must never reach the public. */
const NEVER_PUBLIC = [".test", "SECRET", "GPU_KEY", "test-key-1", "127.0.0.1", "is unreachable", "did not answer within", "HTTP 401", "check its auth secrets", "Network connection", 'provider "'];

describe("GET / (status page)", () => {
  it("is public HTML with providers, their health, models with windows and slot use, and the live config", async () => {
    const evil = '<img src=x onerror="alert(1)">';
    hosts = fakeHosts({
      [`${gpu}/v1/models`]: () => hostJson(FIXTURES.models),
      [`${gpu}/slots`]: () => hostJson(slotsBody.replace('"is_processing":false', '"is_processing":true')),
      [`${laptop}/llama/v1/models`]: () => hostJson(FIXTURES.routerModels.replace('"id":"beta"', `"id":${JSON.stringify(evil)}`)),
      [`${down}/v1/models`]: refused,
    });
    const res = await call("/", { key: null, headers: { accept: "text/html" } });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    const html = await res.text();
    expect(html).toMatch(/<meta name="viewport"/);
    // One script and one stylesheet, each allowed by its hash and nothing else; no inline attribute, no eval.
    const csp = res.headers.get("content-security-policy")!;
    const scripts = [...html.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((m) => m[1]!);
    const styles = [...html.matchAll(/<style>([\s\S]*?)<\/style>/g)].map((m) => m[1]!);
    expect([scripts.length, styles.length, (html.match(/<script/g) ?? []).length]).toEqual([1, 1, 1]);
    expect(csp).toBe(
      `default-src 'none'; style-src 'sha256-${await sha256(styles[0]!)}'; script-src 'sha256-${await sha256(scripts[0]!)}'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'`,
    );
    expect(html.replace(/"[^"]*"/g, '""')).not.toMatch(/<[^>]*\s(style|on[a-z]+)=|innerHTML|eval\(/i); // attribute names, values blanked
    // Providers and their health, escaped.
    expect(html).toContain("GPU &lt;workstation&gt;");
    for (const status of ["online", "offline"]) expect(html).toContain(`<span class="pill ${status}">${status}</span>`);
    // Models: the host's per-slot window beats the configured one; slot use; unloaded router-mode models.
    expect(rowOf(html, "gpu/qwen-32b")).toMatch(/1,024 <span class="dim">\/ 65,536 trained[\s\S]*?1\/4 busy/);
    expect(rowOf(html, "laptop/alpha")).toMatch(/not loaded[\s\S]*?2,048/);
    expect(rowOf(html, "down/big")).toMatch(/offline[\s\S]*?8,192/);
    // A name that breaks the model-id rule is dropped at discovery, so it reaches no page at all.
    expect(html).not.toContain("onerror");
    expect(html).toMatch(/config <b>kv<\/b> v<b>31<\/b>/);
    expect(html).toMatch(/auth <b>keys<\/b>/);
    // The model id is the most legible text of its row: the table's one monospace, bold, larger-than-cell text.
    expect(rowOf(html, "gpu/qwen-32b")).toContain('<td class="model-cell"><span class="model"><span class="p">gpu/</span><wbr>qwen-32b</span></td>');
    expect(styles[0]).toMatch(/th,td\{[^}]*font-size:14px/);
    expect(styles[0]).toMatch(/\.model\{[^}]*font-size:15px;font-weight:600/);
    // Ids may break after the provider's slash or, only when a part cannot fit, anywhere; never break-all.
    expect(styles[0]).not.toContain("break-all");
    // Each host's card: its busy slots over its loaded models, and which models those are (the router-mode host has none).
    expect(cardOf(html, "gpu")).toMatch(/loaded: <span class="model"><span class="p">gpu\/<\/span><wbr>qwen-32b<\/span>[\s\S]*<b>1\/4<\/b>slots busy/);
    expect(cardOf(html, "laptop")).toMatch(/loaded: none/);
    expect(cardOf(html, "laptop")).not.toContain("slots busy");
    for (const word of NEVER_PUBLIC) expect(html).not.toContain(word);
    // Slot use is asked of loaded models only, by name, never loading one.
    expect(hosts.calls.filter((c) => c.url.includes("/slots")).map((c) => c.url)).toEqual([`${gpu}/slots?model=tiny&autoload=false`]);
  });

  it("says why each offline provider is down (unreachable, unauthorized, timeout, error) without the host's error text", async () => {
    await useConfig({
      version: 2,
      providers: [
        { id: "down", baseUrl: down, models: [{ id: "big", contextLength: 8192 }] },
        { id: "locked", baseUrl: locked, auth: { apiKeySecret: "GPU_KEY" }, models: [{ id: "m" }] },
        { id: "slow", baseUrl: slow, timeouts: { firstByteMs: 200 }, models: [{ id: "m" }] },
        { id: "gpu", baseUrl: gpu, models: [{ id: "qwen-32b", upstream: "tiny" }] },
        { id: "broken", baseUrl: laptop, models: [{ id: "m" }] },
      ],
    });
    hosts = fakeHosts({
      [`${down}/v1/models`]: refused,
      [`${locked}/v1/models`]: () => hostJson(FIXTURES.error401, 401),
      [`${slow}/v1/models`]: hang,
      [`${gpu}/v1/models`]: () => hostJson(FIXTURES.models),
      [`${gpu}/slots`]: () => hostJson(slotsBody),
      [`${laptop}/v1/models`]: () => hostJson({ error: { code: 500, message: "model failed to load: /srv/models/m.gguf", type: "server_error" } }, 500),
    });
    const html = await (await call("/", { key: null })).text();
    expect(cardOf(html, "down")).toMatch(/pill offline[\s\S]*data-reason="unreachable">unreachable: no connection to the host</);
    expect(cardOf(html, "locked")).toMatch(/pill unauthorized[\s\S]*data-reason="unauthorized">unauthorized: the host refused the router&#39;s credentials</);
    expect(cardOf(html, "slow")).toMatch(/pill offline[\s\S]*data-reason="timeout">timeout: the host did not answer in time</);
    expect(cardOf(html, "broken")).toMatch(/pill offline[\s\S]*data-reason="error">error: the host answered with an error</);
    expect(html).not.toContain("/srv/models");
    expect(cardOf(html, "gpu")).toMatch(/pill online/);
    expect(cardOf(html, "gpu")).not.toContain("data-reason");
    for (const word of NEVER_PUBLIC) expect(html).not.toContain(word);
    // The same, machine-readable, from what the page already learned.
    const status = await (await call("/status.json", { key: null })).json<any>();
    expect(status.providers.map((p: any) => [p.id, p.status, p.reason])).toEqual([
      ["down", "offline", "unreachable"],
      ["locked", "unauthorized", "unauthorized"],
      ["slow", "offline", "timeout"],
      ["gpu", "online", null],
      ["broken", "offline", "error"],
    ]);
  });

  it("keeps the models of a down provider listed as offline, counted, and marks alias members that are down", async () => {
    hosts = fakeHosts({
      [`${gpu}/v1/models`]: () => hostJson(FIXTURES.models),
      [`${gpu}/slots`]: () => hostJson(slotsBody),
      [`${laptop}/llama/v1/models`]: () => hostJson(FIXTURES.routerModels),
      [`${down}/v1/models`]: refused,
    });
    const html = await (await call("/", { key: null })).text();
    expect(html).toContain("<h2>Models (4, 1 down)</h2>");
    expect(rowOf(html, "down/big")).toMatch(/^<tr data-model="down\/big" class="down">[\s\S]*<span class="pill offline">offline<\/span>[\s\S]*8,192[\s\S]*<span class="dim">–<\/span>/);
    expect(rowOf(html, "gpu/qwen-32b")).toMatch(/^<tr data-model="gpu\/qwen-32b"><td/);
    // The alias card: each member with its own status, the down one marked, and how many can serve.
    expect(html).toContain("1 of 2 members up");
    expect(html).toContain('<li data-member="gpu/qwen-32b"><span class="model"><span class="p">gpu/</span><wbr>qwen-32b</span><span class="pill online">online</span></li>');
    expect(html).toContain('<li data-member="down/big" class="down"><span class="model"><span class="p">down/</span><wbr>big</span><span class="pill offline">offline</span></li>');
  });

  it("still renders when no host answers and when the config has no models", async () => {
    await useConfig({ version: 1, providers: [{ id: "solo", baseUrl: down }] });
    hosts = fakeHosts({ [`${down}/v1/models`]: refused });
    const res = await call("/", { key: null });
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain("No models yet");
    expect(html).toContain('<span class="pill offline">offline</span>');
  });

  it("shows a replicas alias with each member and its policy; /status.json and /api/catalog give the policy too", async () => {
    const replicas = { members: ["gpu/qwen-32b", "down/big"], policy: "replicas" as const };
    await useConfig({ version: 2, providers: [{ id: "gpu", baseUrl: gpu, models: [{ id: "qwen-32b" }] }, { id: "down", baseUrl: down, models: [{ id: "big" }] }], aliases: { pool: replicas } });
    hosts = fakeHosts({ [`${gpu}/v1/models`]: () => hostJson(FIXTURES.models), [`${gpu}/slots`]: () => hostJson(slotsBody), [`${down}/v1/models`]: refused });
    const html = await (await call("/", { key: null })).text();
    expect(html).toContain("1 of 2 members up · replicas");
    expect(html).toContain('<li data-member="down/big" class="down">');
    const status = await (await call("/status.json", { key: null })).json<{ aliases: { name: string; policy: string; members: { id: string }[] }[] }>();
    expect(status.aliases.map((a) => [a.name, a.policy, a.members.map((m) => m.id)])).toEqual([["pool", "replicas", ["gpu/qwen-32b", "down/big"]]]);
    expect((await (await call("/api/catalog")).json<{ aliases: unknown }>()).aliases).toEqual({ pool: replicas });
  });

  it("answers only GET", async () => {
    const res = await call("/", { method: "POST", body: "x", key: null });
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toBe("GET");
  });
});
