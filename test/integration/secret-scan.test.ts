// The secret scan itself: a body that leaks a secret and then breaks, or never ends, is still caught.
import { describe, expect, it } from "vitest";
import { finishScans, scanResponse, takeLeaks } from "../helpers/secret-scan.js";

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
