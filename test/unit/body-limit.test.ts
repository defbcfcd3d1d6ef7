import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { DEFAULT_MAX_BODY_BYTES, maxBodyBytes, readBodyText } from "../../src/http.js";

const post = (body: BodyInit, headers: Record<string, string> = {}) => new Request("http://router.test/v1/chat/completions", { method: "POST", body, headers, duplex: "half" } as RequestInit);

/** A body sent in chunks without a content-length, counting how much of it was pulled. */
function chunked(size: number, chunk = 64 * 1024) {
  let pulled = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (pulled >= size) return controller.close();
      const n = Math.min(chunk, size - pulled);
      pulled += n;
      controller.enqueue(new Uint8Array(n).fill(0x78));
    },
  });
  return { stream, pulled: () => pulled };
}

describe("request body limit", () => {
  it("defaults to 2 MiB, and wrangler.toml ships the same value", () => {
    expect(DEFAULT_MAX_BODY_BYTES).toBe(2 * 1024 * 1024);
    expect(maxBodyBytes(undefined)).toBe(DEFAULT_MAX_BODY_BYTES);
    expect(readFileSync("wrangler.toml", "utf8")).toMatch(new RegExp(`^ROUTER_MAX_BODY_BYTES = "${DEFAULT_MAX_BODY_BYTES}"$`, "m"));
  });

  it("a body over the default limit is 413", async () => {
    await expect(readBodyText(post("x".repeat(2 * 1024 * 1024 + 1)), maxBodyBytes(undefined))).rejects.toMatchObject({ status: 413, code: "request_too_large" });
  });

  it("a chunked body over the limit is 413 after reading no more than the limit", async () => {
    const body = chunked(10 * 1024 * 1024);
    await expect(readBodyText(post(body.stream), 1024 * 1024)).rejects.toMatchObject({ status: 413, code: "request_too_large" });
    expect(body.pulled()).toBeLessThan(2 * 1024 * 1024);
  });

  it("a body exactly at the limit is read whole, with or without a content-length", async () => {
    expect(await readBodyText(post("y".repeat(1000)), 1000)).toBe("y".repeat(1000));
    expect((await readBodyText(post(chunked(300_000, 7_000).stream), 300_000)).length).toBe(300_000);
  });

  it("a content-length that understates the body still gets the whole body (or 413), never a cut one", async () => {
    const text = await readBodyText(post(chunked(200_000).stream, { "content-length": "10" }), 1_000_000).catch((e) => e);
    expect(typeof text === "string" ? text.length : text.status).toBe(200_000);
  });
});
