/**
 * An Anthropic Messages request as the chat-completions request llama-server itself makes of it. llama-server's
 * `/v1/messages` converts the body to a chat request and runs the chat pipeline; the router does the same conversion,
 * rule for rule (measured against b11669: same prompt tokens, same answer at temperature 0, test/e2e), so that a
 * `/v1/messages` stream can be asked of the host's chat endpoint, whose stream carries the token ids a continuation
 * needs (docs/continuation.md, "Anthropic messages"), and written back as Anthropic events (./events.ts).
 *
 * The rules, as llama-server applies them: `system` (a string, or the text of its text blocks joined) becomes a
 * system message; a message with string content passes as it is; in a message with blocks, text blocks stay content
 * parts (as sent), `thinking` blocks join into `reasoning_content`, `tool_use` blocks become `tool_calls` (arguments =
 * the input as JSON), images become `image_url` parts, and each `tool_result` becomes a `tool` message after it;
 * tools, `tool_choice`, `stop_sequences` and `max_tokens` (default 4096) are renamed; only `temperature`, `top_p`,
 * `top_k`, `stream` and `chat_template_kwargs` pass; `thinking.budget_tokens` and `metadata.user_id` become the
 * fields llama-server reads. Every other field of the Anthropic body is dropped, as llama-server drops it.
 */

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);
const str = (v: unknown, fallback = ""): string => (typeof v === "string" ? v : fallback);

/** Fields copied as they are, the only ones besides those converted below. */
const PASSED = ["temperature", "top_p", "top_k", "stream", "chat_template_kwargs"] as const;
/** llama-server's default when the client sends no `max_tokens` (Anthropic requires it; llama-server does not). */
export const DEFAULT_MAX_TOKENS = 4096;
/** llama-server's default thinking budget when `thinking.type` is `enabled` without one. */
const DEFAULT_THINKING_BUDGET = 10_000;

export function anthropicToChat(body: Json): Json {
  const messages: unknown[] = [];
  const system = body.system;
  if (system !== undefined && system !== null) {
    const text = typeof system === "string" ? normalizeBillingHeader(system) : Array.isArray(system) ? system.filter((b) => isObject(b) && b.type === "text").map((b) => normalizeBillingHeader(str((b as Json).text))).join("") : "";
    messages.push({ role: "system", content: text });
  }
  for (const message of Array.isArray(body.messages) ? body.messages : []) messages.push(...convertMessage(message));

  const chat: Json = { messages };
  if (Array.isArray(body.tools)) {
    chat.tools = body.tools.map((tool) => {
      const t = isObject(tool) ? tool : {};
      return { type: "function", function: { name: str(t.name), description: str(t.description), parameters: "input_schema" in t ? t.input_schema : {} } };
    });
  }
  if (isObject(body.tool_choice)) {
    const type = str(body.tool_choice.type);
    if (type === "auto") chat.tool_choice = "auto";
    else if (type === "any" || type === "tool") chat.tool_choice = "required";
  }
  if ("stop_sequences" in body) chat.stop = body.stop_sequences;
  chat.max_tokens = "max_tokens" in body ? body.max_tokens : DEFAULT_MAX_TOKENS;
  for (const key of PASSED) if (key in body) chat[key] = body[key];
  if (isObject(body.thinking) && body.thinking.type === "enabled") {
    const budget = body.thinking.budget_tokens;
    chat.thinking_budget_tokens = typeof budget === "number" && Number.isFinite(budget) ? Math.trunc(budget) : DEFAULT_THINKING_BUDGET;
  }
  if (isObject(body.metadata) && str(body.metadata.user_id)) chat.__metadata_user_id = body.metadata.user_id;
  return chat;
}

/** One Anthropic message as zero or more chat messages (the message itself, then one `tool` message per result). */
function convertMessage(message: unknown): unknown[] {
  if (!isObject(message)) return [message];
  const role = str(message.role);
  if (!("content" in message)) return role === "assistant" ? [] : [message];
  const content = message.content;
  if (!Array.isArray(content)) return [message];

  const parts: unknown[] = [];
  const toolCalls: unknown[] = [];
  const toolResults: unknown[] = [];
  let reasoning = "";
  for (const block of content) {
    const b = isObject(block) ? block : {};
    const type = str(b.type);
    if (type === "text") parts.push(block);
    else if (type === "thinking") reasoning += str(b.thinking);
    else if (type === "image") {
      const url = imageUrl(b.source);
      if (url !== undefined) parts.push({ type: "image_url", image_url: { url } });
    } else if (type === "tool_use") {
      toolCalls.push({ id: str(b.id), type: "function", function: { name: str(b.name), arguments: JSON.stringify(b.input ?? {}) } });
    } else if (type === "tool_result") toolResults.push({ role: "tool", tool_call_id: str(b.tool_use_id), content: toolResultContent(b.content) });
  }

  const out: unknown[] = [];
  if (parts.length || toolCalls.length || reasoning) {
    out.push({ role, content: parts.length ? parts : "", ...(toolCalls.length && { tool_calls: toolCalls }), ...(reasoning && { reasoning_content: reasoning }) });
  }
  return [...out, ...toolResults];
}

/** A string stays; a list of text blocks becomes their text joined; with images, content parts; anything else "". */
function toolResultContent(content: unknown): unknown {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  let text = "";
  let images = false;
  const parts: unknown[] = [];
  for (const item of content) {
    const c = isObject(item) ? item : {};
    if (c.type === "text") {
      text += str(c.text);
      parts.push({ type: "text", text: str(c.text) });
    } else if (c.type === "image") {
      images = true;
      const url = imageUrl(c.source);
      if (url !== undefined) parts.push({ type: "image_url", image_url: { url } });
    }
  }
  return images ? parts : text;
}

function imageUrl(source: unknown): string | undefined {
  if (!isObject(source)) return undefined;
  if (source.type === "base64") return `data:${str(source.media_type, "image/jpeg")};base64,${str(source.data)}`;
  if (source.type === "url") return str(source.url);
  return undefined;
}

/**
 * Claude Code starts its system prompt with `x-anthropic-billing-header: …; cch=XXXXX; …`, a value that changes on
 * every request; llama-server blanks those five characters to `fffff` so the prompt cache survives, and so does the
 * router (the same prompt, the same tokens).
 */
function normalizeBillingHeader(text: string): string {
  const prefix = "x-anthropic-billing-header:";
  if (!text.startsWith(prefix)) return text;
  const at = text.indexOf("cch=", prefix.length);
  if (at < 0) return text;
  const from = at + 4;
  if (from + 5 < text.length && text[from + 5] === ";") return text.slice(0, from) + "fffff" + text.slice(from + 5);
  return text;
}
