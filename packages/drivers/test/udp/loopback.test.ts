/**
 * UdpPeer over real UDP sockets on 127.0.0.1: a minimal driver loop (one
 * socket per side, peers keyed by source address, a poll timer), to check the
 * protocol layer against Node's dgram (Buffers, sizes, timing), not only the
 * virtual link.
 */
import { createSocket, type RemoteInfo, type Socket } from "node:dgram";
import { once } from "node:events";
import { afterEach, describe, expect, it } from "vitest";
import { UdpPeer, defaultMaxDatagram, type PeerOptions } from "../../src/udp/protocol.js";

interface Endpoint {
  sock: Socket;
  peers: Map<string, UdpPeer>;
  messages: Uint8Array[][];
  timer: NodeJS.Timeout;
}

const open: Endpoint[] = [];
/** Checks re-run whenever something happens (a message, a session up). */
const watchers = new Set<() => void>();
const changed = (): void => {
  for (const w of [...watchers]) w();
};

afterEach(() => {
  for (const e of open.splice(0)) {
    clearInterval(e.timer);
    for (const p of e.peers.values()) p.close(performance.now());
    e.sock.close();
  }
});

async function endpoint(options: Omit<PeerOptions, "tag">, onMessage?: (peer: UdpPeer, frames: Uint8Array[]) => void): Promise<Endpoint> {
  const sock = createSocket("udp4");
  sock.bind(0, "127.0.0.1");
  await once(sock, "listening");
  sock.setRecvBufferSize(4 << 20);
  sock.setSendBufferSize(4 << 20);
  const e: Endpoint = { sock, peers: new Map(), messages: [], timer: setInterval(() => tick(e), 1) };
  const tick = (ep: Endpoint): void => {
    const now = performance.now();
    for (const p of ep.peers.values()) {
      p.flush(now);
      if (p.nextDeadline() <= now) p.poll(now);
    }
  };
  const eventsFor = (rinfo: { address: string; port: number }, self: () => UdpPeer | undefined) => ({
    transmit: (dg: Uint8Array) => sock.send(dg, rinfo.port, rinfo.address),
    up: changed,
    message: (frames: Uint8Array[]) => {
      e.messages.push(frames);
      const p = self();
      if (p !== undefined) onMessage?.(p, frames);
      changed();
    },
    subscription: () => {},
    down: () => {},
  });
  sock.on("message", (dg: Buffer, rinfo: RemoteInfo) => {
    const key = `${rinfo.address}:${rinfo.port}`;
    const now = performance.now();
    const known = e.peers.get(key);
    if (known !== undefined && known.state !== "closed") {
      known.receive(dg, now);
    } else {
      const ref: { peer?: UdpPeer } = {};
      ref.peer = UdpPeer.accept({ ...options, tag: (Math.random() * 0xfffffffe + 1) >>> 0 }, eventsFor(rinfo, () => ref.peer), dg, now);
      if (ref.peer !== undefined) e.peers.set(key, ref.peer);
    }
    tick(e);
  });
  open.push(e);
  return e;
}

function connect(e: Endpoint, to: Endpoint, options: Omit<PeerOptions, "tag">, onMessage?: (peer: UdpPeer, frames: Uint8Array[]) => void): UdpPeer {
  const port = to.sock.address().port;
  const ref: { peer?: UdpPeer } = {};
  const p = UdpPeer.connect(
    { ...options, tag: (Math.random() * 0xfffffffe + 1) >>> 0 },
    {
      transmit: (dg) => e.sock.send(dg, port, "127.0.0.1"),
      up: changed,
      message: (frames) => {
        e.messages.push(frames);
        if (ref.peer !== undefined) onMessage?.(ref.peer, frames);
        changed();
      },
      subscription: () => {},
      down: () => {},
    },
    performance.now(),
  );
  ref.peer = p;
  e.peers.set(`127.0.0.1:${port}`, p);
  return p;
}

/** Resolve when `cond` holds (re-checked on every event); fail clearly after `ms`. */
function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  if (cond()) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      watchers.delete(check);
      reject(new Error(`timed out after ${ms} ms waiting for ${what}`));
    }, ms);
    const check = (): void => {
      if (!cond()) return;
      clearTimeout(timer);
      watchers.delete(check);
      resolve();
    };
    watchers.add(check);
  });
}

describe("UdpPeer over loopback UDP", () => {
  it("PUSH → PULL in plain mode delivers 20,000 messages of 64 B sent in bursts, batched ~17 per datagram", async () => {
    const pull = await endpoint({ socketType: "PULL", maxDatagram: 1200 });
    const push = await endpoint({ socketType: "PUSH" });
    const peer = connect(push, pull, { socketType: "PUSH", maxDatagram: 1200 });
    await until(() => peer.state === "ready", "the handshake");
    const msg = [new Uint8Array(64).fill(1)];
    for (let i = 0; i < 20_000; i += 1000) {
      for (let j = 0; j < 1000; j++) peer.send(msg, performance.now());
      peer.flush(performance.now());
      await new Promise((r) => setImmediate(r));
    }
    await until(() => pull.messages.length === 20_000, "20,000 messages");
    const st = peer.stats.channel;
    expect(st.sentUnreliable).toBeLessThan(20_000 / 15);
  });

  it("REQ ↔ REP in reliable mode: 300 lockstep round trips and a 1 MiB message, with 16 KiB loopback datagrams", async () => {
    const rep = await endpoint({ socketType: "REP", maxDatagram: defaultMaxDatagram("127.0.0.1") }, (p, frames) => p.send(frames, performance.now()));
    const req = await endpoint({ socketType: "REQ" });
    const peer = connect(req, rep, { socketType: "REQ", reliable: true, maxDatagram: defaultMaxDatagram("127.0.0.1") });
    await until(() => peer.state === "ready", "the handshake");
    expect(peer.session).toMatchObject({ reliable: true, maxDatagram: 16384 });
    for (let i = 0; i < 300; i++) {
      peer.send([new Uint8Array([i & 0xff, i >> 8])], performance.now());
      peer.flush(performance.now());
      await until(() => req.messages.length === i + 1, `reply ${i}`, 2000);
      expect(Array.from(req.messages[i]?.[0] ?? [])).toEqual([i & 0xff, i >> 8]);
    }
    const big = new Uint8Array(1 << 20).map((_, i) => (i * 7) & 0xff);
    peer.send([big], performance.now());
    peer.flush(performance.now());
    await until(() => req.messages.length === 301, "the 1 MiB echo");
    expect(Buffer.compare(req.messages[300]?.[0] as Uint8Array, big)).toBe(0);
  });
});
