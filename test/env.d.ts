// Types for the integration tier: `env` from cloudflare:test is Cloudflare.Env, i.e. the Worker's own Env.
declare namespace Cloudflare {
  interface Env {
    LLAMA_PROVIDERS?: KVNamespace;
    ROUTER_API_KEYS?: string;
    ROUTER_AUTH?: string;
  }
}

declare module "*?raw" {
  const text: string;
  export default text;
}
