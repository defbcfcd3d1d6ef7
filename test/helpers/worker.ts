/** Talking to the Worker under test and giving it a providers config through its KV binding. */
import { SELF, env } from "cloudflare:test";
import { expect, vi } from "vitest";
import type { ProvidersConfigInput } from "../../src/config/schema.js";
import { scanResponse } from "./secret-scan.js";

export const KEY = "test-key-1";

export async function useConfig(config: ProvidersConfigInput | string): Promise<void> {
  await env.LLAMA_PROVIDERS!.put("llama-providers.json", typeof config === "string" ? config : JSON.stringify(config));
}

export function call(path: string, init: RequestInit & { json?: unknown; key?: string | null } = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  if (init.key !== null) headers.set("authorization", `Bearer ${init.key ?? KEY}`);
  let body = init.body;
  if (init.json !== undefined) {
    body = JSON.stringify(init.json);
    headers.set("content-type", "application/json");
  }
  const method = init.method ?? (body ? "POST" : "GET");
  return SELF.fetch(`https://router.test${path}`, { ...init, headers, body, method }).then((response) => {
    scanResponse(`${method} ${path}`, response);
    return response;
  });
}

/** Every test gets its own host names, so the per-isolate discovery cache never leaks between tests. */
let counter = 0;
export function uniqueHost(name: string): string {
  return `http://${name}-${++counter}.test`;
}

/** Reads an SSE body into its `data:` payloads. */
export async function readEvents(response: Response): Promise<string[]> {
  const text = await response.text();
  return text.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6));
}

/** The router's JSON log lines written while `run` ran (console.log is captured meanwhile, then restored). */
export async function captureLogLines(run: () => Promise<unknown>): Promise<Record<string, any>[]> {
  const lines: string[] = [];
  const spy = vi.spyOn(console, "log").mockImplementation((line: unknown) => void lines.push(String(line)));
  try {
    await run();
    await vi.waitFor(() => expect(lines.some((l) => l.includes('"status"'))).toBe(true));
  } finally {
    spy.mockRestore();
  }
  return lines.flatMap((l) => (l.startsWith('{"requestId"') ? [JSON.parse(l)] : []));
}
