// A pool member that failed is tried last for a while (upstream/recent-failures.ts); the fleet router's background
// read of its /slots ends that as soon as the host answers again, so a host back from a restart takes its share of
// the work at once. The isolate's clock only moves forward here (the config and report caches compare times).
import { afterAll, afterEach, beforeAll, expect, it, vi } from "vitest";
import { fakeHosts, hostJson, hostStream, refused, sseEvents } from "../helpers/fake-hosts.js";
import { FIXTURES } from "../helpers/fixtures.js";
import { direct } from "../helpers/held-stream.js";
import { uniqueHost, useConfig } from "../helpers/worker.js";

let clockOffset = 0;
beforeAll(() => {
  const real = Date.now.bind(Date);
  vi.spyOn(Date, "now").mockImplementation(() => real() + clockOffset);
});
afterAll(() => vi.restoreAllMocks());
let hosts: ReturnType<typeof fakeHosts> | undefined;
afterEach(() => hosts?.restore());

it("a member that failed is tried first again as soon as its /slots answers, not after the failure memory runs out", async () => {
  const [a, b] = [uniqueHost("a"), uniqueHost("b")];
  await useConfig({
    version: 1,
    providers: [
      { id: "a", baseUrl: a, models: [{ id: "qwen", upstream: "tiny" }] },
      { id: "b", baseUrl: b, models: [{ id: "qwen", upstream: "tiny" }] },
    ],
    aliases: { coder: { members: ["a/qwen", "b/qwen"], policy: "replicas" } },
  });
  let bUp = false;
  hosts = fakeHosts({
    // a is busy with another client's request: b is the better member whenever it is up.
    [`${a}/slots`]: () => hostJson([{ id: 0, n_ctx: 4096, is_processing: true }]),
    [`${b}/slots`]: (r, body) => (bUp ? hostJson([{ id: 0, n_ctx: 4096, is_processing: false }]) : refused(r, body)),
    [`${a}/v1/chat/completions`]: () => hostStream(sseEvents(FIXTURES.chatStream)),
    [`${b}/v1/chat/completions`]: (r, body) => (bUp ? hostStream(sseEvents(FIXTURES.chatStream)) : refused(r, body)),
  });
  const ask = async () => {
    const res = await direct("/v1/chat/completions", { model: "coder", stream: true, messages: [{ role: "user", content: "hi" }] });
    await res.text();
    return res.headers.get("x-boocode-route")!.split(";")[0];
  };
  expect(await ask()).toBe("a/qwen"); // b refused: failed over to a; b is remembered as failed for 15 s
  bUp = true;
  // 11 s on, well within the failure memory: b's report is asked for again and it answers.
  clockOffset += 11_000;
  expect(await ask()).toBe("b/qwen");
});
