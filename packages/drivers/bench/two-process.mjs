/**
 * The two-process harness the transport benches share: a child process is
 * the receiving PULL (throughput) or the echoing REP (round trip), the
 * parent is the PUSH or REQ. Each bench supplies only `open(transport,
 * type, extra)`, which returns `{ s, bind(), connect(ep), close() }` for a
 * native zeromq.js socket or a vtx one; `extra` is serialisable data handed
 * to both processes (keys, reliable mode, ...).
 */
import { fork } from "node:child_process";

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

export function fmt(x) {
  return x >= 1000 ? Math.round(x).toLocaleString("en-US") : x.toFixed(1);
}

/** Forks `file child <spec>`; `next()` resolves with the child's next IPC message. */
export function spawnPeer(file, spec) {
  const p = fork(file, ["child", JSON.stringify(spec)], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const next = () =>
    new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`bench peer silent for 120 s (${JSON.stringify(spec)})`)), 120_000);
      p.once("message", (m) => {
        clearTimeout(t);
        resolve(m);
      });
      p.once("exit", (code) => code !== 0 && reject(new Error(`bench peer exited with ${code}`)));
    });
  return { p, next };
}

/**
 * Runs the child side described by process.argv[3]. With `spec.lossy`
 * (e.g. UDP plain mode) a PULL that sees no progress for 1 s stops and
 * reports what arrived instead of waiting forever.
 */
/** CPU ms (user + system, all threads) this process used since `c0`. */
export function cpuMs(c0) {
  const c = process.cpuUsage(c0);
  return Math.round((c.user + c.system) / 1000);
}

export async function runChild(open) {
  const { role, transport, count, size, extra, lossy } = JSON.parse(process.argv[3]);
  const side = await open(transport, role, extra);
  const ep = await side.bind();
  process.send({ ready: ep });
  if (role === "PULL") {
    let first = 0;
    let last = 0;
    let bytes = 0;
    let n = 0;
    let seen = -1;
    const faults0 = process.resourceUsage().minorPageFault;
    const cpu0 = process.cpuUsage();
    // One watchdog, not a timer per message: reports a stall (and ends a lossy run).
    const watchdog = setInterval(() => {
      if (n === seen) {
        if (lossy) side.s.close();
        else process.stderr.write(`bench PULL (${transport}): ${n}/${count} received\n`);
      }
      seen = n;
    }, lossy ? 1000 : 30_000);
    try {
      for (; n < count; n++) {
        const [m] = await side.s.receive();
        if (n === 0) first = performance.now();
        bytes += m.length;
        last = performance.now();
      }
    } catch (err) {
      if (!lossy) throw err;
    }
    clearInterval(watchdog);
    if (!lossy && bytes !== count * size) throw new Error(`received ${bytes} bytes, expected ${count * size}`);
    process.send({ done: { ms: last - first, count: n - 1, bytes, received: n, faults: process.resourceUsage().minorPageFault - faults0, cpuMs: cpuMs(cpu0) } });
  } else {
    for (let i = 0; i < count; i++) {
      const [m] = await side.s.receive();
      await side.s.send(m);
    }
    process.send({ done: {} });
  }
  await side.close().catch(() => undefined);
  process.exit(0);
}

/** PUSH `count` messages of `size` bytes to a child PULL; `copy` sends a fresh copy each time. */
export async function throughput(file, open, { transport, size, count, extra, lossy = false, copy = false }) {
  const peer = spawnPeer(file, { role: "PULL", transport, count, size, extra, lossy });
  const { ready } = await peer.next();
  const side = await open(transport, "PUSH", extra);
  await side.connect(ready);
  const body = Buffer.alloc(size, 7);
  const done = peer.next();
  for (let i = 0; i < count; i++) await side.s.send(copy ? Buffer.from(body) : body);
  const { done: r } = await done;
  await side.close();
  return { msgsPerSec: (r.count / r.ms) * 1000, mbPerSec: r.bytes / r.ms / 1000, received: r.received, faults: r.faults, cpuMs: r.cpuMs };
}

/** Mean REQ/REP round trip in µs against a child REP, after a warm-up outside the timing. */
export async function roundTrip(file, open, { transport, count, extra }) {
  const peer = spawnPeer(file, { role: "REP", transport, count, size: 0, extra });
  const { ready } = await peer.next();
  const side = await open(transport, "REQ", extra);
  await side.connect(ready);
  const body = Buffer.from("ping");
  const warm = Math.min(200, count / 10);
  for (let i = 0; i < warm; i++) {
    await side.s.send(body);
    await side.s.receive();
  }
  const t0 = performance.now();
  for (let i = warm; i < count; i++) {
    await side.s.send(body);
    await side.s.receive();
  }
  const us = ((performance.now() - t0) * 1000) / (count - warm);
  await peer.next();
  await side.close();
  return { us };
}

/** A plain zeromq.js socket of `type` that binds `bindEndpoint` (e.g. "tcp://127.0.0.1:*"). */
export function openNative(zmq, type, bindEndpoint) {
  const cls = { PUSH: zmq.Push, PULL: zmq.Pull, REQ: zmq.Request, REP: zmq.Reply }[type];
  const s = new cls();
  return {
    s,
    bind: async () => (await s.bind(bindEndpoint), s.lastEndpoint),
    connect: async (ep) => s.connect(ep),
    close: async () => s.close(),
  };
}

/**
 * A vtx socket of `type` (socket options `options`) on a Vtx with heartbeats
 * off and `drivers` registered ({scheme: spec}); binds `bindEndpoint`, and
 * connect() resolves once the link is up.
 */
export function openVtx(Vtx, drivers, type, bindEndpoint, options) {
  const vtx = new Vtx({ link: { heartbeatInterval: 0 } });
  for (const [scheme, spec] of Object.entries(drivers)) vtx.register(scheme, spec);
  const s = vtx.socket(type, options);
  return {
    s,
    vtx,
    bind: () => vtx.bind(s, bindEndpoint),
    connect: async (ep) => {
      const up = vtx.waitFor((e) => e.type === "connected", 10_000);
      await vtx.connect(s, ep);
      await up;
    },
    close: () => vtx.destroy(),
  };
}
