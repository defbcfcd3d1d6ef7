// The status page over time: anonymous loads reuse the isolate's last snapshot for a few seconds (a stranger
// reloading the public page cannot make the hosts answer probes and `/slots`), and a host that goes down keeps its
// models on the page, offline. These tests move the clock, so they share this file's clock, which only ever moves
// forward (a clock moved back would leave the config cache of the next test "fresh" for that long).
import { afterAll, afterEach, beforeAll, expect, it, vi } from "vitest";
import slotsBody from "../fixtures/llama-server/slots.body?raw";
import { fakeHosts, hostJson, refused, type HostHandler } from "../helpers/fake-hosts.js";
import { FIXTURES } from "../helpers/fixtures.js";
import { call, uniqueHost, useConfig } from "../helpers/worker.js";

let hosts: ReturnType<typeof fakeHosts> | undefined;
let now = Date.now();
const advance = (ms: number) => void (now += ms);
let clock: ReturnType<typeof vi.spyOn>;
beforeAll(() => void (clock = vi.spyOn(Date, "now").mockImplementation(() => now)));
afterEach(() => hosts?.restore());
afterAll(() => clock.mockRestore());

it("makes no host work for anonymous loads within a few seconds, but does for a caller with a key", async () => {
  const gpu = uniqueHost("gpu");
  await useConfig({ version: 4, providers: [{ id: "gpu", baseUrl: gpu, models: [{ id: "qwen-32b", upstream: "tiny" }] }] });
  hosts = fakeHosts({ [`${gpu}/v1/models`]: () => hostJson(FIXTURES.models), [`${gpu}/slots`]: () => hostJson(slotsBody) });
  const rounds = () => [hosts!.calls.filter((c) => c.url.endsWith("/v1/models")).length, hosts!.calls.filter((c) => c.url.includes("/slots")).length];
  expect((await call("/", { key: null })).status).toBe(200);
  expect(rounds()).toEqual([1, 1]);
  // Past the catalog's own probe cache (5 s) but within the page's reuse: an anonymous load, then one with a wrong key.
  advance(6_000);
  const second = await (await call("/", { key: null })).text();
  await call("/", { key: "not-a-key" });
  expect(rounds()).toEqual([1, 1]);
  expect(second).toMatch(/data-model="gpu\/qwen-32b"[\s\S]*?0\/4 busy/);
  // A caller with a valid key asks afresh.
  await call("/", {});
  expect(rounds()).toEqual([2, 2]);
  // Once the reuse window has passed, an anonymous load asks again.
  advance(11_000);
  await call("/", { key: null });
  expect(rounds()).toEqual([3, 3]);
  // `/status.json` never asks a host, whoever calls and however old the snapshot is.
  advance(60_000);
  await call("/status.json", { key: null });
  await call("/status.json", {});
  expect(rounds()).toEqual([3, 3]);
});

it("keeps the models a host served listed as offline, with the reason, once the host is down", async () => {
  const laptop = uniqueHost("laptop");
  await useConfig({ version: 5, providers: [{ id: "laptop", baseUrl: laptop }] });
  let models: HostHandler = () => hostJson(FIXTURES.routerModels);
  hosts = fakeHosts({ [`${laptop}/v1/models`]: (request, body) => models(request, body) });
  const before = await (await call("/", {})).text();
  expect(before).toContain("<h2>Models (2)</h2>");
  models = refused;
  advance(6_000);
  const after = await (await call("/", {})).text();
  expect(after).toContain("<h2>Models (2, 2 down)</h2>");
  for (const id of ["laptop/alpha", "laptop/beta"]) expect(after).toMatch(new RegExp(`<tr data-model="${id}" class="down">[\\s\\S]*?<span class="pill offline">offline</span>`));
  expect(after).toContain('data-reason="unreachable"');
});
