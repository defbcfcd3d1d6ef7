// The resolver installs as a package: `npm pack` of this project, installed into an empty folder, lets plain Node
// `import("boocode-router/resolver")`. dist/ is git-ignored, so without package.json's `files` list npm would leave
// it out of the tarball. Offline: the consumer gets a lockfile naming zod's integrity, which npm's cache holds after
// `npm ci` of this project.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const dir = mkdtempSync(join(tmpdir(), "boocode-router-pack-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const npm = (args: string[], cwd: string) => execFileSync("npm", args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });

describe("npm pack + install of boocode-router", () => {
  it("the tarball holds the compiled resolver and installs offline into an empty folder, importable from plain Node", { timeout: 120_000 }, () => {
    // dist/ was built by `npm run build:resolver` (npm test does it first); prepare would rebuild it under the
    // other unit files that read it at the same time.
    const [packed] = JSON.parse(npm(["pack", "--ignore-scripts", "--json", "--pack-destination", dir], process.cwd())) as { filename: string; files: { path: string }[] }[];
    const paths = packed!.files.map((f) => f.path);
    expect(paths).toEqual(expect.arrayContaining(["package.json", "dist/resolver/index.js", "dist/resolver/index.d.ts", "dist/config/schema.js"]));
    expect(paths.filter((p) => p.startsWith("test/") || p.startsWith("src/v1/") || p === "wrangler.toml")).toEqual([]);

    const pkg = JSON.parse(readFileSync("package.json", "utf8"));
    const lock = JSON.parse(readFileSync("package-lock.json", "utf8"));
    const zod = lock.packages["node_modules/zod"];
    const consumer = join(dir, "consumer");
    const tarball = `file:../${packed!.filename}`;
    mkdirSync(consumer);
    writeFileSync(join(consumer, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module", dependencies: { "boocode-router": tarball } }));
    writeFileSync(
      join(consumer, "package-lock.json"),
      JSON.stringify({
        name: "consumer",
        lockfileVersion: 3,
        requires: true,
        packages: {
          "": { name: "consumer", dependencies: { "boocode-router": tarball } },
          "node_modules/boocode-router": { version: pkg.version, resolved: tarball, dependencies: pkg.dependencies },
          "node_modules/zod": { version: zod.version, ...(zod.resolved && { resolved: zod.resolved }), integrity: zod.integrity },
        },
      }),
    );
    npm(["ci", "--offline", "--no-audit", "--no-fund", "--ignore-scripts"], consumer);

    const script = `
      import { resolveModel, parseProvidersConfig } from "boocode-router/resolver";
      const config = parseProvidersConfig({ version: 1, providers: [{ id: "gpu", baseUrl: "http://127.0.0.1:8080", models: [{ id: "qwen" }] }] });
      console.log(JSON.stringify(resolveModel(config, "gpu/qwen").candidates.map((c) => c.id)));
    `;
    const out = execFileSync(process.execPath, ["--input-type=module", "-e", script], { cwd: consumer, encoding: "utf8" });
    expect(JSON.parse(out)).toEqual(["gpu/qwen"]);
  });
});
