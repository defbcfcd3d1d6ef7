// What the README's curl lines must answer. The check runs each curl as written, with `-w` appending the status
// after the body (see CURL_WRAPPER in scripts/check-readme.mjs), and judges the body here.
import { tailOf } from "./processes.mjs";

export const CURL_STATUS = "@@http_status=";
export const MODEL_ID = "local/mymodel";

/** A failure of one README step: its message is shown as is, without a stack. */
export class StepFailure extends Error {}

export function fail(message) {
  throw new StepFailure(message);
}

export function curlAnswer(stdout) {
  const at = stdout.lastIndexOf(CURL_STATUS);
  if (at < 0) fail(`curl printed no status (connection refused?):\n${tailOf(stdout)}`);
  return { status: Number(stdout.slice(at + CURL_STATUS.length).trim()), body: stdout.slice(0, at).replace(/\n$/, "") };
}

export function checkCurl(command, stdout) {
  const { status, body } = curlAnswer(stdout);
  const answer = `${status}:\n${tailOf(body, 12)}`;
  if (status !== 200) fail(`answered ${answer}`);
  if (/\/health\b/.test(command)) {
    if (JSON.parse(body).auth !== "keys") fail(`/health does not say "auth":"keys": ${body}`);
    return '200, "auth":"keys"';
  }
  if (/\/v1\/models\b/.test(command)) {
    const ids = JSON.parse(body).data?.map((m) => m.id) ?? [];
    if (!ids.includes(`${MODEL_ID}`)) fail(`/v1/models does not list ${MODEL_ID}: ${ids.join(", ")}`);
    return `200, lists ${MODEL_ID}`;
  }
  if (/\/v1\/chat\/completions\b/.test(command)) {
    const events = body.split("\n").filter((l) => l.startsWith("data: "));
    if (!events.some((e) => e.includes(`"model":"${MODEL_ID}"`))) fail(`no event names "model":"${MODEL_ID}": ${answer}`);
    if (events.at(-1) !== "data: [DONE]") fail(`the stream does not end with data: [DONE]: ${answer}`);
    return `200, ${events.length} events naming ${MODEL_ID}, ends with [DONE]`;
  }
  return `${status}`;
}

