// Reads the README's shell commands by section, so that a README edit that breaks a command breaks the check.
// A command is one line of a ```sh block (backslash continuations joined), with its README line number.

/** The sections whose commands are run, in the order they run. "Running it every day" comes last because each of
 * its `npm start` lines replaces the router the quick start left running, which "Coding agents" still needs. */
export const CHECKED_SECTIONS = [
  "Two commands",
  "Quick start with a key",
  "Configuration: the providers authority",
  "Coding agents",
  "Running it every day",
];

/** Sections with ```sh blocks that are not run, and why. A new section with commands must be added to one list. */
export const UNCHECKED_SECTIONS = {
  "Deploy to Cloudflare": "needs a Cloudflare account and changes a deployed Worker",
};

/** Commands inside checked sections that are deliberately not run (first match wins). */
export const SKIPS = [
  { match: /\b(systemctl|loginctl|journalctl)\b/, reason: "systemd user unit: needs a user systemd and changes the machine's services" },
  { match: /--ip\s+0\.0\.0\.0/, reason: "listens on every interface" },
  { match: /^npm test\b/, reason: "CI runs npm test in its own phase (about 3 minutes)" },
  { match: /config -- push --remote/, reason: "writes the deployed KV namespace (needs a Cloudflare account)" },
  { match: /config -- push --local/, reason: "the e2e tier pushes with it (test/e2e/support/router.ts); here it would swap the config the other checks use" },
  { match: /config -- schema/, reason: "rewrites a tracked file; a unit test already fails when the schema is stale" },
];

/** Placeholders the README leaves for the reader to fill in, and what the check puts there. */
export const PLACEHOLDERS = { "<key>": "the check's own second key (48 hex characters)" };

/**
 * Parses the README into `{ sections: Map<heading, command[]>, headings: string[] }`. Headings are the `## `
 * level: a `### ` sub-section (such as the systemd unit) belongs to the section above it.
 */
export function readCommands(text) {
  const lines = text.split("\n");
  const sections = new Map();
  let section;
  let fence; // undefined outside a fence; else { sh: boolean }
  let pending; // a command continued with a trailing backslash
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (fence === undefined) {
      const heading = /^## (.+?)\s*$/.exec(line);
      if (heading) {
        section = heading[1];
        if (!sections.has(section)) sections.set(section, []);
      }
      const open = /^```\s*(\S*)/.exec(line);
      if (open) fence = { sh: open[1] === "sh" || open[1] === "bash" };
      continue;
    }
    if (/^```\s*$/.test(line)) {
      if (pending) throw new Error(`README.md:${pending.line}: a command ends in a backslash at the end of its block`);
      fence = undefined;
      continue;
    }
    if (!fence.sh || section === undefined) continue;
    if (pending) {
      pending.text += " " + line.trim();
    } else {
      if (line.trim() === "" || line.trim().startsWith("#")) continue;
      pending = { section, line: i + 1, text: line.trim() };
    }
    if (pending.text.endsWith("\\")) {
      pending.text = pending.text.slice(0, -1).trimEnd();
    } else {
      sections.get(section).push(pending);
      pending = undefined;
    }
  }
  if (fence !== undefined) throw new Error("README.md: a ``` block is never closed");
  return sections;
}

/** The command without its trailing `# comment` (a `#` inside quotes is not a comment). */
export function withoutComment(text) {
  let quote;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote) {
      if (c === quote) quote = undefined;
    } else if (c === "'" || c === '"') {
      quote = c;
    } else if (c === "#" && (i === 0 || /\s/.test(text[i - 1]))) {
      return text.slice(0, i).trimEnd();
    }
  }
  return text;
}

/** The trailing `# comment` of a command, or "". */
export function commentOf(text) {
  return text.slice(withoutComment(text).length).replace(/^\s*#\s*/, "");
}

/** Checks the README's layout against the lists above; returns the problems, or [] when every section is known. */
export function layoutProblems(sections) {
  const problems = [];
  for (const name of CHECKED_SECTIONS) {
    if (!sections.has(name)) problems.push(`no section "## ${name}" (renamed? update CHECKED_SECTIONS in scripts/readme-check/readme.mjs)`);
    else if (sections.get(name).length === 0) problems.push(`section "## ${name}" has no \`\`\`sh commands any more`);
  }
  for (const [name, commands] of sections) {
    if (commands.length > 0 && !CHECKED_SECTIONS.includes(name) && !(name in UNCHECKED_SECTIONS)) {
      problems.push(`section "## ${name}" (README.md:${commands[0].line}) has commands the check neither runs nor lists as skipped`);
    }
  }
  return problems;
}
