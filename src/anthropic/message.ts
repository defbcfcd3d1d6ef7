/**
 * A whole chat answer written as the Anthropic message llama-server's own `/v1/messages` answers, for a non-streaming
 * `/v1/messages` request the router asked of the chat endpoint (./to-chat.ts): the chat stream is assembled like any
 * chat answer (stream/assemble.ts: heartbeat spaces, the end checked), then written as Anthropic's shape.
 */
import { ChatCompletionAssembler } from "../stream/assemble.js";

type Json = Record<string, any>;

/**
 * A `thinking` block (empty signature), a `text` block, one `tool_use` block per call (its input parsed, `{}` when it
 * is not JSON), the stop reason, and usage with the cached prompt tokens apart.
 */
export class AnthropicMessageAssembler extends ChatCompletionAssembler {
  override result(model: string): Json {
    const chat = super.result(model);
    const choice = (chat.choices as Json[])[0] ?? { message: {}, finish_reason: "stop" };
    const message = choice.message as Json;
    const content: Json[] = [];
    if (message.reasoning_content) content.push({ type: "thinking", thinking: message.reasoning_content, signature: "" });
    if (message.content) content.push({ type: "text", text: message.content });
    for (const call of (message.tool_calls as Json[] | undefined) ?? []) {
      let input: unknown = {};
      try {
        input = JSON.parse(call.function.arguments);
      } catch {}
      content.push({ type: "tool_use", id: call.id, name: call.function.name, input });
    }
    const usage = (chat.usage ?? {}) as Json;
    const cached = usage.prompt_tokens_details?.cached_tokens ?? 0;
    const stopReason = choice.finish_reason === "length" ? "max_tokens" : choice.finish_reason === "tool_calls" ? "tool_use" : "end_turn";
    return {
      id: chat.id,
      type: "message",
      role: "assistant",
      content,
      model,
      stop_reason: stopReason,
      stop_sequence: null,
      usage: { cache_read_input_tokens: cached, input_tokens: (usage.prompt_tokens ?? 0) - cached, output_tokens: usage.completion_tokens ?? 0 },
    };
  }
}
