/**
 * Where a JSON text stops being JSON, without the text itself. The runtime's own message quotes a piece of the input
 * ("Unexpected token 's', "sk-upstrea"... is not valid JSON"), which must not be shown: the input may be a secret or
 * a client's guess at one.
 */
import { lineColumnAt } from "./config/json-offset.js";

/** `not valid JSON at line L column C` (or without a place when the runtime gives none) for JSON.parse's error. */
export function describeJsonSyntaxError(text: string, err: unknown): string {
  const message = err instanceof Error ? err.message : "";
  if (/end of JSON input/i.test(message)) return "not valid JSON (it ends too early)";
  const position = /at position (\d+)/.exec(message);
  if (!position) return "not valid JSON";
  const { line, column } = lineColumnAt(text, Number(position[1]));
  return `not valid JSON at line ${line} column ${column}`;
}

/** The same description for a text, or undefined when it is JSON. */
export function jsonSyntaxError(text: string): string | undefined {
  try {
    JSON.parse(text);
    return undefined;
  } catch (err) {
    return describeJsonSyntaxError(text, err);
  }
}
