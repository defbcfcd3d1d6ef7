/**
 * Which agent session a request belongs to, from the headers each client sends (as measured with each agent):
 * opencode `x-session-affinity` / `x-session-id`, Claude Code `x-claude-code-session-id`, Codex CLI
 * `x-codex-turn-metadata` (JSON with `session_id`) or `x-codex-window-id`. Used only to pick a pool member.
 */
const SESSION_HEADERS = ["x-session-affinity", "x-session-id", "x-claude-code-session-id"];
const MAX_SESSION_LENGTH = 256;

export function sessionKey(headers: Headers): string | undefined {
  for (const name of SESSION_HEADERS) {
    const value = headers.get(name)?.trim();
    if (value) return value.slice(0, MAX_SESSION_LENGTH);
  }
  const codex = headers.get("x-codex-turn-metadata");
  if (codex) {
    try {
      const id = (JSON.parse(codex) as { session_id?: unknown }).session_id;
      if (typeof id === "string" && id) return id.slice(0, MAX_SESSION_LENGTH);
    } catch {
      // Not JSON: fall through to the window id.
    }
  }
  return headers.get("x-codex-window-id")?.trim().slice(0, MAX_SESSION_LENGTH) || undefined;
}
