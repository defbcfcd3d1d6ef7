import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseModelList } from "../../src/upstream/discovery.js";

const fixture = (name: string) => JSON.parse(readFileSync(`test/fixtures/llama-server/${name}`, "utf8"));

describe("parseModelList (a host's /v1/models)", () => {
  it("single-model host: the per-slot window is meta.n_ctx, the trained one n_ctx_train", () => {
    expect(parseModelList(fixture("models.body"))).toEqual([
      { name: "tiny", aliases: [], created: 1795606040, contextLength: 1024, contextTrain: 65536, status: undefined },
    ]);
  });

  it("router-mode host: per-slot window from --ctx-size / --parallel of each model's launch args, and its load status", () => {
    const models = parseModelList(fixture("router-mode-models.body"));
    expect(models.map((m) => [m.name, m.contextLength, m.contextTrain, m.status])).toEqual([
      ["alpha", 2048, 65536, "unloaded"],
      ["beta", 2048, 65536, "unloaded"],
    ]);
  });

  it("drops every name that breaks the model-id rule (model or alias) and reports each one", () => {
    const dropped: unknown[] = [];
    const models = parseModelList(
      {
        data: [
          { id: "ok", aliases: ["ok-q4", "bad alias", "\u00e9t\u00e9"] },
          { id: "two\nlines" },
          { id: "\u6a21\u578b" },
          { id: "../up" },
          { id: "/srv/models/x.gguf" },
          { id: 7 },
          { id: "org/repo-GGUF:Q4_K_M", aliases: [] },
        ],
      },
      (name) => dropped.push(name),
    );
    expect(models.map((m) => [m.name, m.aliases])).toEqual([["ok", ["ok-q4"]], ["org/repo-GGUF:Q4_K_M", []]]);
    expect(dropped).toEqual(["bad alias", "\u00e9t\u00e9", "two\nlines", "\u6a21\u578b", "../up", "/srv/models/x.gguf", 7]);
  });

  it("ignores entries without an id and bodies without data", () => {
    expect(parseModelList({ data: [{ id: "" }, { object: "model" }, null, { id: "x" }] }).map((m) => m.name)).toEqual(["x"]);
    expect(parseModelList({ error: "nope" })).toEqual([]);
    expect(parseModelList(null)).toEqual([]);
  });
});
