/**
 * Merges the Arena's lanes into one SSE stream: lanes' output goes out in the order it became ready (a FIFO queue,
 * so a fast model cannot starve a slow one), each lane's `result` when it ends, `event: done` once all have.
 * Pull-based: each lane has at most one host read in flight, so a slow client slows the hosts instead of filling
 * memory, and cancelling the stream (the client went away) cancels every lane's upstream at once.
 */
import type { ArenaLane, LaneStep } from "./arena-lane.js";

export interface MergeOptions {
  startedAt: number;
  /** Called once, when the stream ends or is cancelled. */
  onEnd: (outcome: "complete" | "cancelled") => void;
}

export function mergeLanes(lanes: ArenaLane[], options: MergeOptions): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  const ready: { lane: ArenaLane; step: LaneStep }[] = [];
  let reading = 0;
  let wake: (() => void) | undefined;
  const schedule = (lane: ArenaLane) => {
    reading++;
    // step() never rejects: a lane turns every failure into its `result`.
    void lane.step().then((step) => {
      reading--;
      ready.push({ lane, step });
      wake?.();
    });
  };
  let ended = false;
  const end = (outcome: "complete" | "cancelled") => {
    if (!ended) {
      ended = true;
      options.onEnd(outcome);
    }
  };

  return new ReadableStream<Uint8Array>({
    start() {
      for (const lane of lanes) schedule(lane);
    },
    async pull(controller) {
      for (;;) {
        const next = ready.shift();
        if (!next) {
          if (reading === 0) {
            const done = { models: lanes.length, wallMs: Date.now() - options.startedAt };
            controller.enqueue(encoder.encode(`event: done\ndata: ${JSON.stringify(done)}\n\n`));
            controller.close();
            end("complete");
            return;
          }
          await new Promise<void>((resolve) => (wake = resolve));
          wake = undefined;
          if (ended) return; // cancelled meanwhile
          continue;
        }
        if (!next.step.done) schedule(next.lane);
        if (next.step.frames) {
          controller.enqueue(encoder.encode(next.step.frames));
          return;
        }
      }
    },
    cancel(reason) {
      for (const lane of lanes) lane.cancel(reason);
      end("cancelled");
    },
  });
}
