// The integration tier's own guards: the secret scan catches a secret in a body that breaks or never ends, and a
// fetch no fake host scripted fails at once and is reported.
import { describe, expect, it } from "vitest";
import { takeUnscripted } from "../helpers/no-network.js";
import { finishScans, scanResponse, takeLeaks } from "../helpers/secret-scan.js";
import { call, uniqueHost, useConfig } from "../helpers/worker.js";

const enc = new TextEncoder();
const SECRET = "sk-upstream-SECRET-gpu";

describe("secret scan", () => {
  it("catches a secret in a body that errors after it", async () => {
    let pulls = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (pulls++ === 0) controller.enqueue(enc.encode(`data: {"key":"${SECRET}"}\n\n`));
        else controller.error(new Error("connection reset by peer"));
      },
    });
    const response = new Response(body);
    scanResponse("erroring body", response);
    await response.text().catch(() => {});
    await finishScans();
    expect(takeLeaks()).toEqual(["erroring body body contains the value of a secret (sk-u…)"]);
  });

  it("catches a secret in a body that never ends", async () => {
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(enc.encode(`data: {"key":"${SECRET}"}\n\n`));
      },
    });
    const response = new Response(body);
    scanResponse("endless body", response);
    await finishScans(50);
    expect(takeLeaks()).toEqual(["endless body body contains the value of a secret (sk-u…)"]);
    await response.body!.cancel();
  });
});

describe("no network", () => {
  it("a host no test scripted is an unreachable host for the router, and the fetch is reported", async () => {
    const host = uniqueHost("nobody");
    await useConfig({ version: 1, providers: [{ id: "n", baseUrl: host, discover: false, models: [{ id: "tiny" }] }] });
    const res = await call("/v1/chat/completions", { json: { model: "n/tiny", messages: [{ role: "user", content: "hi" }] } });
    expect(res.status).toBe(502);
    expect((await res.json<any>()).error.code).toBe("host_unreachable");
    // The router's background read of the host's slot count (routing/slots.ts) is reported like any other fetch.
    const unscripted = takeUnscripted();
    expect(unscripted.filter((url) => !url.startsWith(`${host}/slots?`))).toEqual([`${host}/v1/chat/completions`, `${host}/v1/chat/completions`]);
    expect(unscripted.filter((url) => url.startsWith(`${host}/slots?`)).length).toBeGreaterThan(0);
  });
});
