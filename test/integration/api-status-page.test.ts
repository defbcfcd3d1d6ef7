// GET /: the public status page. It shows health, windows and slot use, and nothing a stranger should not see.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import slotsBody from "../fixtures/llama-server/slots.body?raw";
import { fakeHosts, hostJson, refused } from "../helpers/fake-hosts.js";
import { FIXTURES } from "../helpers/fixtures.js";
import { call, uniqueHost, useConfig } from "../helpers/worker.js";

let gpu: string, laptop: string, down: string;
let hosts: ReturnType<typeof fakeHosts> | undefined;

beforeEach(async () => {
  [gpu, laptop, down] = [uniqueHost("gpu"), uniqueHost("laptop"), uniqueHost("down")];
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
afterEach(() => hosts?.restore());

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
    expect(res.headers.get("content-security-policy")).toMatch(/default-src 'none'; style-src 'sha256-[A-Za-z0-9+/=]+'/);
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    const html = await res.text();
    expect(html).toMatch(/<meta name="viewport"/);
    expect(html).not.toMatch(/<script|style="/i);
    // Providers and their health, escaped.
    expect(html).toContain("GPU &lt;workstation&gt;");
    for (const status of ["online", "offline"]) expect(html).toContain(`<span class="pill ${status}">${status}</span>`);
    // Models: the host's per-slot window beats the configured one; slot use; unloaded router-mode models.
    expect(html).toMatch(/gpu\/qwen-32b<\/td>[\s\S]*?1,024 <span class="dim">\/ 65,536 trained[\s\S]*?1\/4 busy/);
    expect(html).toMatch(/laptop\/alpha<\/td>[\s\S]*?not loaded[\s\S]*?2,048/);
    expect(html).toMatch(/down\/big<\/td>[\s\S]*?offline[\s\S]*?8,192/);
    // A name that breaks the model-id rule is dropped at discovery, so it reaches no page at all.
    expect(html).not.toContain("onerror");
    expect(html).toMatch(/config <b>kv<\/b> v<b>31<\/b>/);
    expect(html).toMatch(/auth <b>keys<\/b>/);
    expect(html).toContain("gpu/qwen-32b, down/big");
    // Nothing a stranger should see: base URLs, secrets or their names, host error text.
    for (const secret of [".test", "SECRET", "GPU_KEY", "test-key-1", "unreachable", "127.0.0.1"]) expect(html).not.toContain(secret);
    // Slot use is asked of loaded models only, by name, never loading one.
    expect(hosts.calls.filter((c) => c.url.includes("/slots")).map((c) => c.url)).toEqual([`${gpu}/slots?model=tiny&autoload=false`]);
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

  it("answers only GET", async () => {
    const res = await call("/", { method: "POST", body: "x", key: null });
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toBe("GET");
  });
});
