// E2E tier: real llama-server hosts (installed by scripts/install-llama-server.sh, on models the project writes
// itself) behind `wrangler dev`, driven by real clients. One global setup starts them all once.
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/e2e/**/*.test.ts"],
    environment: "node",
    globalSetup: ["test/e2e/setup.ts"],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    fileParallelism: false,
  },
});
