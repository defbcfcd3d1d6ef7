// /proc readers for bench/dev-descriptors.mjs: a process tree, descriptor counts, and what each TCP descriptor
// connects to (grouped by the listening port at either end, named by the process that owns that port). Linux only.
import { readdirSync, readFileSync, readlinkSync } from "node:fs";

function children(pid) {
  const out = [];
  try {
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      out.push(...readFileSync(`/proc/${pid}/task/${task}/children`, "utf8").split(" ").filter(Boolean).map(Number));
    }
  } catch {}
  return out;
}
export function descendants(pid) {
  const out = [];
  const walk = (p) => { for (const k of children(p)) { out.push(k); walk(k); } };
  walk(pid);
  return out;
}
export const comm = (pid) => { try { return readFileSync(`/proc/${pid}/comm`, "utf8").trim(); } catch { return ""; } };
export const cmdline = (pid) => { try { return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" "); } catch { return ""; } };
export const fdCount = (pid) => { try { return readdirSync(`/proc/${pid}/fd`).length; } catch { return NaN; } };

const TCP_STATES = { "01": "ESTABLISHED", "02": "SYN_SENT", "06": "TIME_WAIT", "08": "CLOSE_WAIT", "0A": "LISTEN" };

/** inode -> { local port, remote port, state } for every TCP socket on the machine (IPv4 and IPv6). */
function tcpTable() {
  const table = new Map();
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text = "";
    try { text = readFileSync(file, "utf8"); } catch { continue; }
    for (const line of text.split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10) continue;
      const port = (addr) => parseInt(addr.split(":")[1], 16);
      table.set(f[9], { local: port(f[1]), remote: port(f[2]), state: TCP_STATES[f[3]] ?? `state ${f[3]}` });
    }
  }
  return table;
}

/** Socket inodes and other descriptor kinds of one process. */
function fdKinds(pid) {
  const kinds = { socketInodes: [], pipe: 0, anon: 0, file: 0, other: 0 };
  let names = [];
  try { names = readdirSync(`/proc/${pid}/fd`); } catch { return kinds; }
  for (const n of names) {
    let target;
    try { target = readlinkSync(`/proc/${pid}/fd/${n}`); } catch { continue; }
    const m = /^socket:\[(\d+)\]$/.exec(target);
    if (m) kinds.socketInodes.push(m[1]);
    else if (target.startsWith("pipe:")) kinds.pipe++;
    else if (target.startsWith("anon_inode:")) kinds.anon++;
    else if (target.startsWith("/")) kinds.file++;
    else kinds.other++;
  }
  return kinds;
}

/** What each process's descriptors point at: TCP grouped by the listening port at either end, named by its owner. */
export function describe(procs) {
  const tcp = tcpTable();
  const kinds = Object.fromEntries(Object.entries(procs).map(([name, pid]) => [name, fdKinds(pid)]));
  const listenOwner = new Map();
  for (const [name, k] of Object.entries(kinds)) {
    for (const ino of k.socketInodes) {
      const s = tcp.get(ino);
      if (s?.state === "LISTEN") listenOwner.set(s.local, name);
    }
  }
  const out = {};
  for (const [name, k] of Object.entries(kinds)) {
    const groups = {};
    let unix = 0;
    for (const ino of k.socketInodes) {
      const s = tcp.get(ino);
      if (!s) { unix++; continue; }
      let key;
      if (s.state === "LISTEN") key = `listen :${s.local}`;
      else if (listenOwner.get(s.local) === name) key = `accepted on own :${s.local}`;
      else key = `connected to ${listenOwner.get(s.remote) ?? "other"} :${s.remote}`;
      key += s.state === "ESTABLISHED" || s.state === "LISTEN" ? "" : ` (${s.state})`;
      groups[key] = (groups[key] ?? 0) + 1;
    }
    out[name] = { tcp: groups, unixOrOther: unix, pipe: k.pipe, anonInode: k.anon, file: k.file };
  }
  return out;
}

/**
 * TCP sockets on the machine, by state, that have one of `ports` at either end. TIME_WAIT sockets belong to no process
 * (no descriptor), so this is the only place they show; compare with what the processes hold.
 */
export function tcpStatesTouching(ports) {
  const want = new Set(ports);
  const states = {};
  for (const s of tcpTable().values()) {
    if (s.state === "LISTEN" || !(want.has(s.local) || want.has(s.remote))) continue;
    states[s.state] = (states[s.state] ?? 0) + 1;
  }
  return states;
}

/** The TCP ports a process listens on. */
export function listeningPorts(pid) {
  const tcp = tcpTable();
  return fdKinds(pid).socketInodes.map((ino) => tcp.get(ino)).filter((s) => s?.state === "LISTEN").map((s) => s.local);
}
