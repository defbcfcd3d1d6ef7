// GET / for anonymous callers reuses the isolate's last snapshot for a few seconds: a stranger reloading the public
// page cannot make the hosts answer probes and `/slots`. Alone in its file because it moves the clock forward (a
// clock moved back afterwards would leave the config cache of later tests in this isolate "fresh" for that long).
import { afterEach, expect, it, vi } from "vitest";
import slotsBody from "../fixtures/llama-server/slots.body?raw";
import { fakeHosts, hostJson } from "../helpers/fake-hosts.js";
import { FIXTURES } from "../helpers/fixtures.js";
import { call, uniqueHost, useConfig } from "../helpers/worker.js";

let hosts: ReturnType<typeof fakeHosts> | undefined;
afterEach(() => {
  hosts?.restore();
  vi.restoreAllMocks();
});

it("makes no host work for anonymous loads within a few seconds, but does for a caller with a key", async () => {
  const gpu = uniqueHost("gpu");
  await useConfig({ version: 4, providers: [{ id: "gpu", baseUrl: gpu, models: [{ id: "qwen-32b", upstream: "tiny" }] }] });
  hosts = fakeHosts({ [`${gpu}/v1/models`]: () => hostJson(FIXTURES.models), [`${gpu}/slots`]: () => hostJson(slotsBody) });
  const rounds = () => [hosts!.calls.filter((c) => c.url.endsWith("/v1/models")).length, hosts!.calls.filter((c) => c.url.includes("/slots")).length];
  const start = Date.now();
  const clock = vi.spyOn(Date, "now").mockReturnValue(start);
  expect((await call("/", { key: null })).status).toBe(200);
  expect(rounds()).toEqual([1, 1]);
  // Past the catalog's own probe cache (5 s) but within the page's reuse: an anonymous load, then one with a wrong key.
  clock.mockReturnValue(start + 6_000);
  const second = await (await call("/", { key: null })).text();
  await call("/", { key: "not-a-key" });
  expect(rounds()).toEqual([1, 1]);
  expect(second).toMatch(/data-model="gpu\/qwen-32b"[\s\S]*?0\/4 busy/);
  // A caller with a valid key asks afresh.
  await call("/", {});
  expect(rounds()).toEqual([2, 2]);
  // Once the reuse window has passed, an anonymous load asks again.
  clock.mockReturnValue(start + 6_000 + 11_000);
  await call("/", { key: null });
  expect(rounds()).toEqual([3, 3]);
  // `/status.json` never asks a host, whoever calls and however old the snapshot is.
  await call("/status.json", { key: null });
  await call("/status.json", {});
  expect(rounds()).toEqual([3, 3]);
});
