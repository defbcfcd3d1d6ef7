// scripts/check-readme.mjs reads the README's commands by section; these pin how it reads them, and that the README
// in the repo still has every section it runs (so a renamed heading fails here, not only in CI's slow phase).
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";

const readme = await import(pathToFileURL(resolve("scripts/readme-check/readme.mjs")).href);

const SAMPLE = [
  "# title",
  "## Two commands",
  "```sh",
  "npm start   # serve",
  "# a comment line",
  "",
  "curl -s localhost:8787/x -H 'a: b' \\",
  "  -d '{\"k\":\"#not a comment\"}'",
  "```",
  "```json",
  '{ "not": "a command" }',
  "```",
  "### As a service",
  "```sh",
  "systemctl --user stop it",
  "```",
].join("\n");

describe("scripts/readme-check/readme.mjs", () => {
  it("reads ```sh lines per ## section with their line numbers, joining backslash continuations", () => {
    const sections = readme.readCommands(SAMPLE);
    expect([...sections.keys()]).toEqual(["Two commands"]);
    expect(sections.get("Two commands")).toEqual([
      { section: "Two commands", line: 4, text: "npm start   # serve" },
      { section: "Two commands", line: 7, text: `curl -s localhost:8787/x -H 'a: b' -d '{"k":"#not a comment"}'` },
      { section: "Two commands", line: 15, text: "systemctl --user stop it" },
    ]);
  });

  it("separates a trailing comment, but not a # inside quotes", () => {
    expect(readme.withoutComment("npm start   # serve")).toBe("npm start");
    expect(readme.commentOf("npm run x -- y   # ~/.claude/settings.json (note)")).toBe("~/.claude/settings.json (note)");
    expect(readme.withoutComment(`curl -d '{"k":"#x"}'`)).toBe(`curl -d '{"k":"#x"}'`);
  });

  it("refuses a block that is never closed", () => {
    expect(() => readme.readCommands("## A\n```sh\nnpm start\n")).toThrow("never closed");
  });

  it("names a checked section that is missing and a section with commands nobody listed", () => {
    const sections = readme.readCommands("## Something new\n```sh\nmake it\n```\n");
    const problems: string[] = readme.layoutProblems(sections);
    expect(problems).toContain('no section "## Two commands" (renamed? update CHECKED_SECTIONS in scripts/readme-check/readme.mjs)');
    expect(problems).toContain('section "## Something new" (README.md:3) has commands the check neither runs nor lists as skipped');
  });

  it("finds every section it runs in the repo's README.md, and nothing unlisted", () => {
    const sections = readme.readCommands(readFileSync("README.md", "utf8"));
    expect(readme.layoutProblems(sections)).toEqual([]);
  });
});
