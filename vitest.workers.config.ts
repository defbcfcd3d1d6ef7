// Integration tier: the real Worker in workerd (vitest-pool-workers), every route and error path, hosts faked by a
// scripted fetch that throws on any call it was not told about.
import { cloudflareTest } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";
import "./test/helpers/quiet-workerd.js";

export default defineConfig({
  plugins: [
    cloudflareTest({
      wrangler: { configPath: "./wrangler.toml" },
      miniflare: {
        bindings: {
          ROUTER_API_KEYS: "test-key-1,test-key-2",
          CONFIG_REFRESH_MS: "0",
          ROUTER_MAX_BODY_BYTES: "1048576",
          GPU_KEY: "sk-upstream-SECRET-gpu",
          ACCESS_ID: "access-id-SECRET",
          ACCESS_SECRET: "access-SECRET-value",
          ROUTER_ADMIN_KEY: "admin-SECRET-key-7c1",
          ROUTER_CORS_ORIGINS: "https://app.boocode.test, http://localhost:5173/",
        },
      },
    }),
  ],
  // no-network: nothing but loopback is reached; secret-scan: no secret value in any response or console line.
  test: {
    include: ["test/integration/**/*.test.ts"],
    setupFiles: ["test/helpers/no-network.ts", "test/helpers/secret-scan.ts"],
    // Real loopback sockets for the connect deadline (connect-real-socket.test.ts).
    globalSetup: ["test/helpers/loopback-hosts.ts"],
    silent: "passed-only",
  },
});
