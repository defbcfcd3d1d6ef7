import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ProvidersConfigError, parseProvidersConfig, providersJsonSchema } from "../../src/config/schema.js";
import { TWO_HOSTS } from "../helpers/configs.js";

const clone = <T>(v: T): T => structuredClone(v);
const errorOf = (input: unknown): ProvidersConfigError => {
  try {
    parseProvidersConfig(input);
  } catch (err) {
    if (err instanceof ProvidersConfigError) return err;
    throw err;
  }
  throw new Error("expected the config to be rejected");
};

describe("providers config schema", () => {
  it("accepts the README example and applies defaults", () => {
    const config = parseProvidersConfig(TWO_HOSTS);
    expect(config.providers.map((p) => p.id)).toEqual(["gpu", "laptop", "edge"]);
    expect(config.providers[1]!.timeouts).toEqual({ connectMs: 5000, firstByteMs: 300000, idleMs: 120000 });
    expect(config.providers[1]!.models[0]!.capabilities).toEqual([]);
    expect(config.aliases.small).toBe("edge/tiny");
  });

  it("accepts JSON text and reports a JSON syntax error as a config error", () => {
    expect(parseProvidersConfig(JSON.stringify(TWO_HOSTS)).version).toBe(7);
    expect(errorOf("{ not json").message).toMatch(/not valid JSON/);
  });

  it.each([
    ["a trailing comma in an object", '{\n  "version": 1,\n  "providers": [\n    { "id": "a", }\n  ]\n}', 4, 18],
    ["a trailing comma in an array (JSON.parse names no position)", '{\n  "version": 1,\n  "providers": [1,]\n}', 3, 19],
    ["a missing value", '{"version": }', 1, 13],
    ["text that ends early", '{\n  "version": 1', 2, 15],
    ["an empty file", "", 1, 1],
  ])("names the line and column of a JSON syntax error: %s", (_name, text, line, column) => {
    expect(errorOf(text).message).toContain(`not valid JSON at line ${line}, column ${column}: `);
  });

  it("says that aliases do not chain when an alias names another alias", () => {
    const input: any = clone(TWO_HOSTS);
    input.aliases.best = "coder";
    input.aliases.either = ["small", "gpu/qwen-32b"];
    const message = errorOf(input).message;
    expect(message).toContain('$.aliases.best: alias "best" points to "coder", which is an alias: aliases do not chain, so name a provider/model (e.g. one of "gpu/qwen-32b", "laptop/qwen-7b")');
    expect(message).toMatch(/\$\.aliases\.either\[0\]: alias "either" points to "small", which is an alias: aliases do not chain/);
    expect(message).not.toMatch(/no provider "coder"/);
  });

  it("npm run config -- check reports the line and column of a JSON error and the alias rule (the CLI uses the same schema)", () => {
    const dir = mkdtempSync(join(tmpdir(), "providers-"));
    const run = (text: string) => {
      const path = join(dir, "p.json");
      writeFileSync(path, text);
      return spawnSync(process.execPath, ["scripts/config.mjs", "check"], { encoding: "utf8", env: { ...process.env, LLAMA_PROVIDERS_PATH: path } });
    };
    const broken = run('{\n  "version": 1,\n  "providers": [,]\n}');
    expect(broken.status).toBe(1);
    expect(broken.stderr).toMatch(/not valid JSON at line 3, column 17/);
    const chained = run(JSON.stringify({ ...TWO_HOSTS, aliases: { ...TWO_HOSTS.aliases, best: "coder" } }));
    expect(chained.status).toBe(1);
    expect(chained.stderr).toMatch(/aliases do not chain/);
    const off = run(JSON.stringify({ ...TWO_HOSTS, aliases: { coder: { members: ["gpu/qwen-32b", "laptop/qwen-7b"], policy: "replicas", continuation: false } } }));
    expect([off.status, off.stdout]).toEqual([0, expect.stringMatching(/1 alias\(es\); continuation off for: coder\n$/)]);
  });

  it.each([
    ["an unknown top-level key", (c: any) => (c.extra = 1), /\$: Unrecognized key: "extra"/],
    ["an unknown provider key (typo)", (c: any) => (c.providers[0].baseURL = "http://x"), /\$\.providers\[0\]: Unrecognized key: "baseURL"/],
    ["an unknown auth key", (c: any) => (c.providers[0].auth.apiKey = "sk-live"), /\$\.providers\[0\]\.auth: Unrecognized key: "apiKey"/],
    ["a duplicate provider id", (c: any) => (c.providers[1].id = "gpu"), /\$\.providers\[1\]\.id: duplicate provider id "gpu"/],
    ["a duplicate model id", (c: any) => c.providers[1].models.push({ id: "qwen-7b" }), /\$\.providers\[1\]\.models\[1\]\.id: duplicate model id/],
    ["an uppercase slug", (c: any) => (c.providers[0].id = "GPU"), /\$\.providers\[0\]\.id: must be a slug/],
    ["a slug starting with '-'", (c: any) => (c.providers[0].id = "-gpu"), /\$\.providers\[0\]\.id: must be a slug/],
    ["a relative URL", (c: any) => (c.providers[0].baseUrl = "gpu.test"), /\$\.providers\[0\]\.baseUrl: must be an absolute URL/],
    ["a non-http URL", (c: any) => (c.providers[0].baseUrl = "file:///etc/passwd"), /\$\.providers\[0\]\.baseUrl: must use http or https/],
    ["credentials in the URL", (c: any) => (c.providers[0].baseUrl = "http://u:p@gpu.test"), /baseUrl: must not embed credentials/],
    ["a query in the URL", (c: any) => (c.providers[0].baseUrl = "http://gpu.test/?k=1"), /baseUrl: must not have a query/],
    ["a secret name that looks like a value", (c: any) => (c.providers[0].auth.apiKeySecret = "sk-abc 123"), /apiKeySecret: must be the NAME of a Worker secret/],
    ["half an Access pair", (c: any) => delete c.providers[2].auth.accessClientSecretSecret, /\$\.providers\[2\]\.auth: accessClientIdSecret and accessClientSecretSecret go together/],
    ["a model id with a space", (c: any) => (c.providers[1].models[0].id = "qwen 7b"), /models\[0\]\.id: must be letters/],
    ["a model id with '..'", (c: any) => (c.providers[1].models[0].id = "../etc"), /models\[0\]\.id: must not contain empty, '\.' or '\.\.'/],
    ["a model id with a non-ASCII letter", (c: any) => (c.providers[1].models[0].id = "qw\u00e9n"), /models\[0\]\.id: must be letters.*non-ASCII/],
    ["an unknown capability", (c: any) => (c.providers[0].models[0].capabilities = ["telepathy"]), /capabilities\[0\]/],
    ["an alias to a missing provider", (c: any) => (c.aliases.coder = ["nas/qwen"]), /\$\.aliases\.coder\[0\]: alias "coder" points to "nas\/qwen", but no provider "nas"/],
    ["an alias to a missing model of a non-discovering provider", (c: any) => (c.aliases.small = "edge/huge"), /\$\.aliases\.small: .*provider "edge" has no model "huge"/],
    ["an alias without provider part", (c: any) => (c.aliases.small = "tiny"), /\$\.aliases\.small: .*no provider/],
    ["an alias name containing '/'", (c: any) => (c.aliases["a/b"] = "edge/tiny"), /alias names have no '\/'/],
    ["an alias listing a member twice", (c: any) => (c.aliases.coder = ["gpu/qwen-32b", "gpu/qwen-32b"]), /lists a member twice/],
    ["a negative timeout", (c: any) => (c.providers[0].timeouts = { idleMs: -1 }), /timeouts\.idleMs/],
    ["no providers", (c: any) => (c.providers = []), /\$\.providers: /],
    ["a missing version", (c: any) => delete c.version, /\$\.version: /],
  ])("rejects %s, naming the path", (_name, mutate, expected) => {
    const input = clone(TWO_HOSTS);
    mutate(input);
    expect(errorOf(input).message).toMatch(expected);
  });

  it("accepts an alias to a not-configured model on a discovering provider (the host may report it)", () => {
    const input: any = clone(TWO_HOSTS);
    input.aliases.fast = "laptop/phi-3";
    expect(parseProvidersConfig(input).aliases.fast).toBe("laptop/phi-3");
  });

  it("keeps zod's issues for tools", () => {
    const input: any = clone(TWO_HOSTS);
    input.providers[0].baseUrl = "nope";
    expect(errorOf(input).issues[0]!.path).toEqual(["providers", 0, "baseUrl"]);
  });

  it("the bundled default is valid: one provider 'local' on llama-server's default port, discovering", () => {
    const config = parseProvidersConfig(readFileSync("data/llama-providers.json", "utf8"));
    expect(config.providers).toHaveLength(1);
    expect(config.providers[0]).toMatchObject({ id: "local", baseUrl: "http://127.0.0.1:8080", discover: true });
  });

  it("data/llama-providers.schema.json is the JSON Schema generated from the zod schema (run `npm run config -- schema`)", () => {
    const onDisk = JSON.parse(readFileSync("data/llama-providers.schema.json", "utf8"));
    expect(onDisk).toEqual(providersJsonSchema());
    expect(onDisk.additionalProperties).toBe(false);
  });
});
