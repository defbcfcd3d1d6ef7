// Which providers config is live (src/config/load.ts), with a scripted KV binding: what /health reports comes from here.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { liveConfig, resetConfigCache } from "../../src/config/load.js";
import type { Env } from "../../src/env.js";

const config = (version: number) => JSON.stringify({ version, providers: [{ id: "gpu", baseUrl: "http://gpu.test", discover: false, models: [{ id: "tiny" }] }] });

/** A KV binding whose next answers are scripted: a text, null (no key) or an Error to throw. */
function scriptedKv(...answers: (string | null | Error)[]) {
  const get = vi.fn(async () => {
    const next = answers.length > 1 ? answers.shift()! : answers[0]!;
    if (next instanceof Error) throw next;
    return next;
  });
  return { get, env: (extra: Partial<Env> = {}): Env => ({ LLAMA_PROVIDERS: { get } as unknown as KVNamespace, CONFIG_REFRESH_MS: "0", ...extra }) };
}

let errors: string[];
beforeEach(() => {
  resetConfigCache();
  errors = [];
  vi.spyOn(console, "error").mockImplementation((line: unknown) => void errors.push(String(line)));
});
afterEach(() => vi.restoreAllMocks());

describe("liveConfig", () => {
  it("without a KV binding serves the bundled config", async () => {
    expect(await liveConfig({})).toMatchObject({ source: "bundled", version: 1 });
  });

  it("KV without the key: the bundled config, no error", async () => {
    const live = await liveConfig(scriptedKv(null).env());
    expect(live).toMatchObject({ source: "bundled", version: 1 });
    expect(live.kvError).toBeUndefined();
  });

  it("a valid KV copy is live", async () => {
    const live = await liveConfig(scriptedKv(config(7)).env());
    expect(live).toMatchObject({ source: "kv", version: 7 });
    expect(live.config.providers.map((p) => p.id)).toEqual(["gpu"]);
    expect(live.kvError).toBeUndefined();
  });

  it("an invalid KV copy keeps the last good one live and says why, without quoting the text", async () => {
    const kv = scriptedKv(config(7), "{ sk-not-json", JSON.stringify({ version: 8, providers: [{ id: "BAD", baseUrl: "http://x.test" }] }), config(9));
    const env = kv.env();
    await liveConfig(env, 1);
    const syntax = await liveConfig(env, 2);
    expect(syntax).toMatchObject({ source: "kv", version: 7, kvError: "KV copy rejected, still serving the kv config v7: not valid JSON at line 1 column 3" });
    const schema = await liveConfig(env, 3);
    expect(schema).toMatchObject({ source: "kv", version: 7 });
    expect(schema.kvError).toMatch(/^KV copy rejected, still serving the kv config v7: invalid providers config:\n {2}\$\.providers\[0\]\.id: must be a slug/);
    const fixed = await liveConfig(env, 4);
    expect(fixed).toMatchObject({ source: "kv", version: 9 });
    expect(fixed.kvError).toBeUndefined();
  });

  it("an invalid first KV copy falls back to the bundled config", async () => {
    expect(await liveConfig(scriptedKv("[1,").env())).toMatchObject({ source: "bundled", version: 1, kvError: "KV copy rejected, still serving the bundled config v1: not valid JSON (it ends too early)" });
  });

  it("a KV read error is reported until the next good read, then forgotten", async () => {
    const kv = scriptedKv(config(7), new Error("down"), config(7));
    const env = kv.env();
    expect((await liveConfig(env, 1)).kvError).toBeUndefined();
    expect((await liveConfig(env, 2)).kvError).toMatch(/^KV read failed/);
    // The same text as before the outage: still the same config, and the error is gone.
    const recovered = await liveConfig(env, 3);
    expect(recovered).toMatchObject({ source: "kv", version: 7 });
    expect(recovered.kvError).toBeUndefined();
    expect(kv.get).toHaveBeenCalledTimes(3);
  });

  it("a KV read error is shown generically and logged in full once per outage", async () => {
    const boom = new Error("binding exploded near https://user:hunter2@kv.internal/");
    const env = scriptedKv(config(7), boom, boom).env();
    await liveConfig(env, 1);
    expect(await liveConfig(env, 2)).toMatchObject({ source: "kv", version: 7, kvError: "KV read failed, still serving the kv config v7" });
    await liveConfig(env, 3);
    expect(errors.map((line) => JSON.parse(line))).toEqual([{ level: "error", message: "KV read of the providers config failed", cause: `Error: ${boom.message}` }]);
  });

  it("a KV read error before any good read serves the bundled config", async () => {
    expect(await liveConfig(scriptedKv(new Error("down")).env())).toMatchObject({ source: "bundled", kvError: "KV read failed, still serving the bundled config v1" });
  });

  it("reads KV at most once per CONFIG_REFRESH_MS (default 2000 ms)", async () => {
    const kv = scriptedKv(config(1), config(2), config(3));
    const env = kv.env({ CONFIG_REFRESH_MS: "1000" });
    expect((await liveConfig(env, 10_000)).version).toBe(1);
    expect((await liveConfig(env, 10_999)).version).toBe(1);
    expect(kv.get).toHaveBeenCalledTimes(1);
    expect((await liveConfig(env, 11_000)).version).toBe(2);
    expect(kv.get).toHaveBeenCalledTimes(2);

    resetConfigCache();
    const byDefault = scriptedKv(config(1), config(2));
    const defaultEnv = byDefault.env({ CONFIG_REFRESH_MS: undefined });
    await liveConfig(defaultEnv, 0);
    expect((await liveConfig(defaultEnv, 1_999)).version).toBe(1);
    expect((await liveConfig(defaultEnv, 2_000)).version).toBe(2);
    expect(byDefault.get).toHaveBeenCalledTimes(2);
  });
});
