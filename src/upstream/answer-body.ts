/**
 * A host's whole JSON answer, read with a bound: past `limit` bytes the rest is cancelled and the request fails
 * clearly (502 `upstream_response_too_large`) instead of filling the isolate, whose 128 MB every stream shares.
 */
import { declaredLength, readAtMost } from "../bounded-read.js";
import { badUpstream, upstreamError } from "../errors.js";

/** Non-streamed answers: chat/messages/responses objects are small; 8 MiB is ~400 embeddings of 1,024 dimensions. */
export const ANSWER_MAX_BYTES = 8 * 1024 * 1024;

/** `what` names the answer in the error, e.g. `/v1/models`. */
export async function readHostJson(providerId: string, response: Response, what: string, limit = ANSWER_MAX_BYTES): Promise<unknown> {
  const { bytes, complete } = await readAtMost(response.body, limit, declaredLength(response.headers));
  if (!complete) {
    throw upstreamError(`provider "${providerId}" answered ${what} with more than ${limit} bytes, more than the router reads`, "upstream_response_too_large");
  }
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch (err) {
    throw badUpstream(`provider "${providerId}" answered ${what} with a body that is not JSON`, err);
  }
}
