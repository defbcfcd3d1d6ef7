/** Log lines that are not a request's own line (src/request-context.ts writes those): one JSON object, secrets redacted. */
import { redactSecrets } from "./secrets.js";

export function logEvent(level: "error" | "warn", message: string, cause?: unknown): void {
  const line: Record<string, unknown> = { level, message };
  if (cause !== undefined) line.cause = cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause);
  // Redacted as written: a cause's text can hold anything (a host's echo, a binding's internals).
  console.error(redactSecrets(JSON.stringify(line)));
}
