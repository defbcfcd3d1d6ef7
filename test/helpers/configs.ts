/** Provider configs shared by the unit and integration tiers. */
import type { ProvidersConfigInput } from "../../src/config/schema.js";

/** Two hosts serving a model of the same name, a keyed one, an Access-protected one, and an alias pool. */
export const TWO_HOSTS: ProvidersConfigInput = {
  version: 7,
  providers: [
    {
      id: "gpu",
      label: "GPU workstation",
      baseUrl: "http://gpu.test",
      auth: { apiKeySecret: "GPU_KEY" },
      discover: true,
      models: [{ id: "qwen-32b", upstream: "qwen2.5-coder-32b-instruct", label: "Qwen2.5 Coder 32B", contextLength: 32768, maxOutputTokens: 8192, capabilities: ["tools"] }],
    },
    { id: "laptop", baseUrl: "http://laptop.test/llama", discover: true, models: [{ id: "qwen-7b" }] },
    {
      id: "edge",
      baseUrl: "https://edge.test",
      auth: { accessClientIdSecret: "ACCESS_ID", accessClientSecretSecret: "ACCESS_SECRET" },
      discover: false,
      models: [{ id: "tiny" }],
    },
  ],
  aliases: { coder: ["gpu/qwen-32b", "laptop/qwen-7b"], small: "edge/tiny" },
};
