/** Anthropic SSE events of a response text, each `event:` name checked against its data's `type`. */
import { expect } from "vitest";

export function anthropicEvents(text: string): any[] {
  return text.split("\n\n").filter(Boolean).map((block) => {
    const [name, data] = block.split("\n");
    const event = JSON.parse(data!.slice(6));
    expect(name).toBe(`event: ${event.type}`);
    return event;
  });
}
