// Unit tier: pure modules (schema, ids, resolver, stream rewrite) in plain Node, plus the package-export check.
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: { include: ["test/unit/**/*.test.ts"], environment: "node" },
});
