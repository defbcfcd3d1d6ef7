// Child processes for the README check: every one runs in its own process group, so stopping it also stops what it
// started (npm start -> node -> workerd), and every one is stopped when the check ends, fails or is interrupted.
import { spawn } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";
import { createServer } from "node:net";

const STOP_GRACE_MS = 5_000;
const live = new Set();

function killGroup(pid, signal) {
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: already gone.
  }
}

/** Runs `bash -c script`; resolves `{ code, stdout, stderr }`; kills the group and rejects after timeoutMs. */
export function runBash(script, { cwd, env, timeoutMs }) {
  return new Promise((ok, fail) => {
    const child = spawn("bash", ["-c", script], { cwd, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    live.add(child);
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => {
      killGroup(child.pid, "SIGKILL");
      fail(new Error(`did not finish within ${Math.round(timeoutMs / 1000)} s\n${tailOf(stdout + stderr)}`));
    }, timeoutMs);
    child.once("error", (err) => {
      clearTimeout(timer);
      live.delete(child);
      fail(err);
    });
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      live.delete(child);
      killGroup(child.pid, "SIGKILL"); // anything it left in the background
      ok({ code: code ?? signal, stdout, stderr });
    });
  });
}

/** Starts a long-running command (output to logFile); `stop()` ends its whole group and waits for it. */
export function startBackground(command, args, { cwd, env, logFile }) {
  const fd = openSync(logFile, "w");
  const child = spawn(command, args, { cwd, env, detached: true, stdio: ["ignore", fd, fd] });
  closeSync(fd);
  live.add(child);
  const exited = new Promise((ok) => child.once("exit", (code, signal) => ok(code ?? signal)));
  let stopping;
  const stop = () =>
    (stopping ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
        killGroup(child.pid, "SIGTERM");
        const timer = setTimeout(() => killGroup(child.pid, "SIGKILL"), STOP_GRACE_MS);
        await exited;
        clearTimeout(timer);
      }
      killGroup(child.pid, "SIGKILL");
      live.delete(child);
    })());
  return { exited, stop, log: () => tailOf(safeRead(logFile)) };
}

/** Waits until GET url answers 200; rejects when `exited` settles first or after timeoutMs. */
export async function waitForHttp(url, { exited, timeoutMs, what }) {
  const deadline = Date.now() + timeoutMs;
  let gone;
  exited.then((code) => (gone = code));
  for (;;) {
    if (gone !== undefined) throw new Error(`${what} exited (${gone}) before ${url} answered`);
    const res = await fetch(url, { signal: AbortSignal.timeout(2_000) }).catch(() => undefined);
    if (res) await res.body?.cancel();
    if (res?.status === 200) return;
    if (Date.now() > deadline) throw new Error(`${what}: ${url} did not answer 200 within ${timeoutMs / 1000} s`);
    // Poll the readiness endpoint, or stop polling at once when the process exits.
    await Promise.race([new Promise((r) => setTimeout(r, 250)), exited]);
  }
}

/** Resolves when 127.0.0.1:port can be bound right now; rejects naming the port otherwise. */
export function assertPortFree(port, whatNeedsIt) {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.once("error", (err) =>
      fail(new Error(`port ${port} on 127.0.0.1 is already in use (${err.code}); ${whatNeedsIt} needs it: stop whatever listens there and run the check again`)),
    );
    srv.listen(port, "127.0.0.1", () => srv.close(() => ok()));
  });
}

/** Like assertPortFree, but gives a server that was just stopped up to timeoutMs to release the port. */
export async function waitPortFree(port, whatNeedsIt, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await assertPortFree(port, whatNeedsIt);
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 100)); // the stopped group's last process is still closing its socket
    }
  }
}

/** Kills every process group still running (the exit path of success, failure and signals alike). */
export async function stopAll() {
  for (const child of live) if (child.pid) killGroup(child.pid, "SIGTERM");
  await Promise.all([...live].map((child) => new Promise((ok) => {
    if (child.exitCode !== null || child.signalCode !== null) return ok();
    const timer = setTimeout(() => { killGroup(child.pid, "SIGKILL"); ok(); }, STOP_GRACE_MS);
    child.once("exit", () => { clearTimeout(timer); ok(); });
  })));
  for (const child of live) if (child.pid) killGroup(child.pid, "SIGKILL");
  live.clear();
}

export function tailOf(text, lines = 25) {
  return String(text).trimEnd().split("\n").slice(-lines).map((l) => `    | ${l}`).join("\n");
}

function safeRead(file) {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return "(no log)";
  }
}
