/**
 * The `/v1` inference routes: each reads and checks its body (step 1 of the inference pipeline, inference/body.ts)
 * and hands it to the pipeline (inference/proxy.ts) with the one host endpoint it maps to.
 */
import type { Env } from "../env.js";
import { maxBodyBytes, readJsonBody } from "../http.js";
import { bodySchemaFor } from "../inference/body.js";
import type { HostBody } from "../inference/host-body.js";
import { forHost, proxyInference } from "../inference/proxy.js";
import type { Handler, RouterRequest } from "../request-context.js";

/** A route on the /v1 surface and the host endpoint it is forwarded to (the allowlist of host endpoints). */
export function inferenceHandler(hostPath: string): Handler {
  return async (request, env) => {
    const { model, forward } = await readInference(request, env, hostPath);
    return proxyInference(request, env, forward, model, { hostPath });
  };
}

/** Reads and checks the body and serialises it for the host; the parsed object does not outlive this call. */
async function readInference(request: RouterRequest, env: Env, hostPath: string): Promise<{ model: string; forward: HostBody }> {
  const { raw, body } = await readJsonBody(request, bodySchemaFor(hostPath), maxBodyBytes(env.ROUTER_MAX_BODY_BYTES));
  return { model: body.model, forward: forHost(raw, hostPath) };
}
