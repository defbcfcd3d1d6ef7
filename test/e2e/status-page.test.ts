// GET / in a real browser: Debian's headless Chromium loads the status page from wrangler dev in front of the real
// hosts (one slot kept busy by a long stream meanwhile), at desktop and phone sizes, and saves screenshots under
// test/artifacts/ for a person to look at. The rendered DOM is checked against the catalog and the live activity.
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, inject, it } from "vitest";
import { E2E } from "./setup.js";
import { REPO_ROOT } from "./support/llama-server.js";

const routerUrl = inject("routerUrl");
const ARTIFACTS = join(REPO_ROOT, "test/artifacts");
/** `CHROMIUM` names another binary; Debian's `chromium` package installs /usr/bin/chromium. */
const CHROMIUM = process.env.CHROMIUM ?? ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find(existsSync);

function chromium(args: string[]): Promise<string> {
  if (!CHROMIUM) throw new Error("headless Chromium is needed for this test: apt-get install chromium (or set CHROMIUM=/path/to/binary)");
  const flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run", "--disable-dev-shm-usage", `--user-data-dir=${join(REPO_ROOT, ".cache/chromium-profile")}`];
  return new Promise((ok, fail) =>
    execFile(CHROMIUM, [...flags, ...args], { timeout: 60_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => (err ? fail(new Error(`${err.message}\n${stderr}`)) : ok(stdout))),
  );
}

describe("the status page in headless Chromium", () => {
  it("renders providers, health, windows and slot use, with no secret, at desktop and phone sizes", async () => {
    const catalog = (await (await fetch(`${routerUrl}/api/catalog`, { headers: { authorization: `Bearer ${E2E.clientKey}` } })).json()) as any;
    // A long stream keeps one of the slow host's slots busy while the page is taken (the slow model: a tiny one at
    // full speed floods wrangler dev's inspector proxy, one socket per chunk, until workerd runs out of files).
    const busy = new AbortController();
    const stream = await fetch(`${routerUrl}/api/chat`, {
      method: "POST",
      headers: { authorization: `Bearer ${E2E.clientKey}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "s/slow", messages: [{ role: "user", content: "go on" }], max_tokens: 3_000, ignore_eos: true, stream: true }),
      signal: busy.signal,
    });
    const reader = stream.body!.getReader();
    await reader.read();
    // A load with the client key takes a fresh snapshot (anonymous loads reuse the last one for a few seconds).
    expect((await fetch(`${routerUrl}/`, { headers: { authorization: `Bearer ${E2E.clientKey}` } })).status).toBe(200);
    try {
      mkdirSync(ARTIFACTS, { recursive: true });
      // No key: the page is public. Chromium's window is the viewport; the phone one is tall enough for the page.
      for (const [name, size] of [["status-page-desktop.png", "1280,900"], ["status-page-phone.png", "390,1500"]] as const) {
        const file = join(ARTIFACTS, name);
        await chromium([`--window-size=${size}`, `--screenshot=${file}`, `${routerUrl}/`]);
        expect(statSync(file).size).toBeGreaterThan(10_000);
      }
      const dom = await chromium(["--dump-dom", `${routerUrl}/`]);
      expect(dom).toContain("<h1>boocode-router</h1>");
      for (const p of catalog.providers) expect(dom).toContain(`${p.id}`);
      for (const m of catalog.models) {
        const row = new RegExp(`data-model="${m.id.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}"[\\s\\S]*?${m.contextLength.toLocaleString("en-US")}`);
        expect(dom).toMatch(row);
      }
      expect(dom).toMatch(/data-model="s\/slow"[\s\S]*?1\/2 busy/);
      // The stream is in flight on the slow host, counted by the router (one isolate under wrangler dev).
      expect(dom).toMatch(/data-inflight="s">1</);
      for (const secret of [E2E.clientKey, E2E.hostKey, "HOST_A_KEY", "127.0.0.1"]) expect(dom).not.toContain(secret);
    } finally {
      busy.abort();
      await reader.cancel().catch(() => {});
    }
  });
});
