// The real agent CLIs through boocode-local: opencode (OpenAI chat), Claude Code (Anthropic Messages), Codex CLI
// (Responses), each with the config the router itself produces, proving from the router's log which id served them.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { E2E } from "./setup.js";
import { ensureAgents, runAgent, scratchWorkspace } from "./support/agents.js";
import { readRouterLog } from "./support/router.js";

const routerUrl = inject("routerUrl");
const stateDir = inject("stateDir");
const auth = { authorization: `Bearer ${E2E.clientKey}` };

beforeAll(() => ensureAgents(), 300_000);

/**
 * Log lines of the agent's inference requests written since `before` was taken (request ids seen before are
 * excluded). By agent too: a line is written when its answer ends, so the previous test's last line can land in
 * the log after `before` was read.
 */
function newInferenceLines(before: Set<string>, agent: RegExp) {
  return readRouterLog(stateDir).filter((l) => !before.has(l.requestId) && l.route && agent.test(String(l.agent)));
}
const seenIds = () => new Set(readRouterLog(stateDir).map((l) => l.requestId as string));

async function opencode(model: string) {
  const { home, cwd } = scratchWorkspace("opencode");
  const config = await (await fetch(`${routerUrl}/api/opencode-config`, { headers: auth })).text();
  writeFileSync(join(cwd, "opencode.json"), config);
  return runAgent("opencode", ["run", "--model", `boocode-local/${model}`, "Say hello in one word."], {
    cwd,
    env: { HOME: home, BOOCODE_API_KEY: E2E.clientKey, OPENCODE_DISABLE_MODELS_FETCH: "1", OPENCODE_DISABLE_AUTOUPDATE: "1", XDG_CONFIG_HOME: join(home, ".config"), XDG_DATA_HOME: join(home, ".local/share"), XDG_CACHE_HOME: join(home, ".cache") },
  });
}

/**
 * Until each model's host reports no slot busy through the router's `/api/models/{id}`, which asks the host afresh
 * and hands what it read to the fleet router. Fails after 10 s.
 */
async function routerSeesIdle(ids: string[]): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const busy = await Promise.all(ids.map(async (id) => ((await (await fetch(`${routerUrl}/api/models/${id}`, { headers: auth })).json()) as { slots: { busy: number } }).slots.busy));
    if (busy.every((n) => n === 0)) return;
    if (Date.now() > deadline) throw new Error(`slots still busy after 10 s: ${ids.map((id, i) => `${id} ${busy[i]}`).join(", ")}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe("opencode CLI with the config from /api/opencode-config", () => {
  it.each(["a/tiny", "b/tiny", `r/${E2E.routerModeName}`])("opencode run --model boocode-local/%s answers and exits 0", async (model) => {
    const before = seenIds();
    // The hosts never let an answer begin with EOS or whitespace (see setup.ts), so an empty answer here is the
    // router's fault (e.g. a dropped first chunk), never the test model's.
    const run = await opencode(model);
    console.log(`opencode ${model}: exit ${run.code} in ${run.ms} ms; stdout: ${JSON.stringify(run.stdout.slice(0, 200))}`);
    expect(run.code, run.stderr.slice(-2000)).toBe(0);
    expect(run.stdout.trim().length).toBeGreaterThan(0);
    const lines = newInferenceLines(before, /^opencode\//);
    expect(lines.length).toBeGreaterThanOrEqual(1);
    for (const line of lines) expect(line).toMatchObject({ route: model, path: "/v1/chat/completions", status: 200 });
  });

  it("two opencode sessions on an alias pool each stick to one host", async () => {
    const sessions = new Map<string, Set<string>>();
    for (let i = 0; i < 2; i++) {
      const before = seenIds();
      const run = await opencode("pool");
      expect(run.code, run.stderr.slice(-2000)).toBe(0);
      for (const line of newInferenceLines(before, /^opencode\//)) {
        expect(line.session).toMatch(/^[0-9a-f]{8}$/);
        if (!sessions.has(line.session)) sessions.set(line.session, new Set());
        sessions.get(line.session)!.add(line.route);
      }
    }
    expect(sessions.size).toBe(2);
    for (const routes of sessions.values()) expect(routes.size).toBe(1);
  });
});

describe("alias pool affinity seen through x-boocode-route", () => {
  it("each agent session stays on its host across requests; different sessions use both hosts", async () => {
    // Both hosts idle, and the router knowing it: an agent run before this one may have left a request (opencode's
    // title) that its exit cancelled, and a new session rightly avoids a host still finishing it.
    await routerSeesIdle(["a/tiny", "b/tiny"]);
    const reasons: string[] = [];
    const routeFor = async (session: string) => {
      const res = await fetch(`${routerUrl}/v1/chat/completions`, {
        method: "POST",
        headers: { ...auth, "content-type": "application/json", "x-session-affinity": session },
        body: JSON.stringify({ model: "pool", messages: [{ role: "user", content: "hi" }], max_tokens: 2 }),
      });
      expect(res.status).toBe(200);
      await res.text();
      const header = res.headers.get("x-boocode-route")!;
      reasons.push(`${session}: ${header}`);
      return header.split(";")[0]!; // a replicas pool adds the router's reason
    };
    const chosen = new Set<string>();
    for (let s = 0; s < 6; s++) {
      const first = await routeFor(`ses_e2e_${s}`);
      for (let i = 0; i < 2; i++) expect(await routeFor(`ses_e2e_${s}`)).toBe(first);
      chosen.add(first);
    }
    // On failure: the routes' reasons, and what the router counts in flight per host (the status page's figure).
    const status = (await (await fetch(`${routerUrl}/status.json`)).json()) as { providers: { id: string; inFlight: number }[] };
    const inFlight = status.providers.map((p) => `${p.id} in flight ${p.inFlight}`).join(", ");
    expect(chosen, `${reasons.join("\n")}\n${inFlight}`).toEqual(new Set(["a/tiny", "b/tiny"]));
  });
});

describe("Claude Code and Codex CLI", () => {
  it("claude -p completes through /v1/messages on a provider/model id", async () => {
    const { home, cwd } = scratchWorkspace("claude");
    const before = seenIds();
    const run = await runAgent("claude", ["-p", "Say hello in one word.", "--model", "a/tiny"], {
      cwd,
      env: { HOME: home, ANTHROPIC_BASE_URL: routerUrl, ANTHROPIC_API_KEY: E2E.clientKey, DISABLE_TELEMETRY: "1", CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1", DISABLE_AUTOUPDATER: "1" },
    });
    console.log(`claude -p: exit ${run.code} in ${run.ms} ms; stdout: ${JSON.stringify(run.stdout.slice(0, 200))}`);
    const lines = newInferenceLines(before, /^claude-cli\//);
    console.log(`router log for claude:\n${lines.map((l) => JSON.stringify(l)).join("\n")}`);
    expect(run.code, run.stderr.slice(-2000)).toBe(0);
    expect(lines.some((l) => l.path === "/v1/messages" && l.route === "a/tiny" && l.status === 200)).toBe(true);
    for (const line of lines) expect(line.route).toBe("a/tiny");
  });

  it("codex exec completes through /v1/responses with the config.toml from /api/agent-config", async () => {
    const { home, cwd } = scratchWorkspace("codex");
    const codexHome = join(home, ".codex");
    const toml = await (await fetch(`${routerUrl}/api/agent-config?client=codex&model=b/tiny`, { headers: auth })).text();
    const { mkdirSync } = await import("node:fs");
    mkdirSync(codexHome, { recursive: true });
    writeFileSync(join(codexHome, "config.toml"), toml);
    const before = seenIds();
    const run = await runAgent("codex", ["exec", "--skip-git-repo-check", "Say hello in one word."], {
      cwd,
      env: { HOME: home, CODEX_HOME: codexHome, BOOCODE_API_KEY: E2E.clientKey },
    });
    console.log(`codex exec: exit ${run.code} in ${run.ms} ms; stdout: ${JSON.stringify(run.stdout.slice(0, 200))}; stderr tail: ${JSON.stringify(run.stderr.slice(-300))}`);
    const lines = newInferenceLines(before, /^codex_exec\//);
    console.log(`router log for codex:\n${lines.map((l) => JSON.stringify(l)).join("\n")}`);
    expect(run.code, run.stderr.slice(-2000)).toBe(0);
    expect(lines.some((l) => l.path === "/v1/responses" && l.route === "b/tiny" && l.status === 200)).toBe(true);
    expect(run.stderr, "codex accepts every key of the router's config.toml").not.toMatch(/config\.toml\)?: .* is ignored/);
    for (const line of lines) expect(line.route).toBe("b/tiny");
  });
});
