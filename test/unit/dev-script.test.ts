// scripts/dev.mjs starts wrangler dev with its DevTools inspector proxy off unless asked for (the proxy costs one
// socket per streamed chunk; docs/dev-descriptors.md). Run against a fake wrangler that prints what it was given.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const DEV_SCRIPT = resolve("scripts/dev.mjs");
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "dev-script-"));
  mkdirSync(join(dir, "node_modules/wrangler/bin"), { recursive: true });
  writeFileSync(
    join(dir, "node_modules/wrangler/bin/wrangler.js"),
    "console.log(JSON.stringify({ argv: process.argv.slice(2), inspectorOff: process.env.VSCODE_INSPECTOR_OPTIONS ?? null, nodeOptions: process.env.NODE_OPTIONS ?? null }));\n",
  );
  writeFileSync(join(dir, "bootloader.js"), "");
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function runDev(args: string[], env: Record<string, string | undefined> = {}) {
  const r = spawnSync(process.execPath, [DEV_SCRIPT, ...args], {
    cwd: dir,
    encoding: "utf8",
    env: { ...process.env, VSCODE_INSPECTOR_OPTIONS: undefined, NODE_OPTIONS: undefined, ...env },
  });
  expect(r.status, r.stderr).toBe(0);
  return { ...(JSON.parse(r.stdout.trim().split("\n").pop()!) as { argv: string[]; inspectorOff: string | null; nodeOptions: string | null }), stderr: r.stderr };
}

describe("npm run dev (scripts/dev.mjs)", () => {
  it("turns wrangler's inspector proxy off by default", () => {
    const { argv, inspectorOff } = runDev([]);
    expect(inspectorOff).toBe("boocode-router: inspector proxy off");
    expect(argv).toEqual(["dev", "--ip", "127.0.0.1", "--port", "8787", "--var", "ROUTER_AUTH:off"]);
  });

  it("keeps the inspector on with --inspect, which is not passed to wrangler", () => {
    const { argv, inspectorOff, stderr } = runDev(["--inspect", "--port", "9000"]);
    expect(inspectorOff).toBeNull();
    expect(argv).toEqual(["dev", "--ip", "127.0.0.1", "--var", "ROUTER_AUTH:off", "--port", "9000"]);
    expect(stderr).toContain("DevTools inspector on");
  });

  it("keeps the inspector on when an inspector port or address is given, and passes it through", () => {
    expect(runDev(["--inspector-port", "9333"])).toMatchObject({ inspectorOff: null, argv: expect.arrayContaining(["--inspector-port", "9333"]) });
    expect(runDev(["--inspector-ip=127.0.0.1"])).toMatchObject({ inspectorOff: null, argv: expect.arrayContaining(["--inspector-ip=127.0.0.1"]) });
  });

  it("leaves a VS Code debug terminal's own setting untouched", () => {
    expect(runDev([], { VSCODE_INSPECTOR_OPTIONS: ':::{"inspectorIpc":"/tmp/x"}' }).inspectorOff).toBe(':::{"inspectorIpc":"/tmp/x"}');
  });

  it("turns it off with another --require \"...\" in NODE_OPTIONS too, respelled -r so that miniflare does not take it for VS Code's", () => {
    const bootloader = join(dir, "boot loader.js");
    writeFileSync(bootloader, "process.env.PRELOADED = '1'; console.error('preloaded');\n");
    const { inspectorOff, nodeOptions, stderr } = runDev([], { NODE_OPTIONS: `--max-old-space-size=512 --require "${bootloader}" --require=${join(dir, "bootloader.js")}` });
    expect(inspectorOff).toBe("boocode-router: inspector proxy off");
    expect(nodeOptions).toBe(`--max-old-space-size=512 -r "${bootloader}" --require=${join(dir, "bootloader.js")}`);
    expect(nodeOptions).not.toMatch(/--require "/); // miniflare's pattern for VS Code's bootloader
    expect(stderr).toContain("preloaded"); // Node still preloads it
  });

  it("leaves NODE_OPTIONS alone when the inspector is asked for", () => {
    expect(runDev(["--inspect"], { NODE_OPTIONS: `--require "${join(dir, "bootloader.js")}"` })).toMatchObject({ inspectorOff: null, nodeOptions: `--require "${join(dir, "bootloader.js")}"` });
  });
});
