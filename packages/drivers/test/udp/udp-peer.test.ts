import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { REFUSE, UDP_ERR, UdpPeer, type NegotiatedSession, type PeerEvents, type PeerOptions, type PeerState } from "../../src/udp/protocol.js";
import { hexFrames } from "./pipeline.js";
import { prng } from "./link-sim.js";

/** A virtual-time network: each datagram may be lost, duplicated or delayed. */
class Net {
  now = 0;
  #queue: { at: number; to: (dg: Uint8Array) => void; dg: Uint8Array }[] = [];
  readonly random: () => number;
  /** While false, nothing is delivered (a partition). */
  up = true;
  constructor(
    seed = 1,
    public loss = 0,
    public duplicate = 0,
    public delay = 0.5,
    public jitter = 0,
  ) {
    this.random = prng(seed);
  }
  send(to: (dg: Uint8Array) => void, dg: Uint8Array): void {
    if (!this.up || this.random() < this.loss) return;
    const n = this.random() < this.duplicate ? 2 : 1;
    for (let i = 0; i < n; i++) this.#queue.push({ at: this.now + this.delay + this.random() * this.jitter, to, dg: dg.slice() });
  }
  /** Run the next event; false when there is none before `until`. */
  step(peers: () => (UdpPeer | undefined)[], until = Infinity): boolean {
    // End of the application's send burst: what it queued goes out now.
    for (const p of peers()) p?.flush(this.now);
    let next = Infinity;
    for (const q of this.#queue) next = Math.min(next, q.at);
    for (const p of peers()) if (p !== undefined) next = Math.min(next, p.nextDeadline());
    if (next === Infinity || next > until) return false;
    this.now = Math.max(this.now, next);
    const due = this.#queue.filter((q) => q.at <= this.now);
    this.#queue = this.#queue.filter((q) => q.at > this.now);
    for (const q of due) q.to(q.dg);
    for (const p of peers()) {
      p?.flush(this.now);
      p?.poll(this.now);
    }
    return true;
  }
}

interface Side {
  peer: UdpPeer | undefined;
  messages: Uint8Array[][];
  subscriptions: [string, boolean][];
  ups: NegotiatedSession[];
  downs: { code: string; refuse?: number }[];
  drops: string[];
}

function side(): Side {
  return { peer: undefined, messages: [], subscriptions: [], ups: [], downs: [], drops: [] };
}

function events(s: Side, transmit: (dg: Uint8Array) => void): PeerEvents {
  return {
    transmit,
    up: (session) => s.ups.push(session),
    message: (frames) => s.messages.push(frames.map((f) => f.slice())),
    subscription: (topic, on) => s.subscriptions.push([Buffer.from(topic).toString(), on]),
    down: (e) => s.downs.push({ code: e.code, refuse: e.refuse }),
    dropped: (code) => s.drops.push(code),
  };
}

const stateOf = (p: UdpPeer): PeerState => p.state;

/** A client connecting to a server; the server accepts from the first datagram, as a driver would. */
function connectPair(net: Net, client: Omit<PeerOptions, "tag">, server: Omit<PeerOptions, "tag">, tag = 0x1111): { c: Side; s: Side; toServer: (dg: Uint8Array) => void } {
  const c = side();
  const s = side();
  const toClient = (dg: Uint8Array): void => c.peer?.receive(dg, net.now);
  const toServer = (dg: Uint8Array): void => {
    if (s.peer === undefined || s.peer.state === "closed") {
      s.peer = UdpPeer.accept({ ...server, tag: 0x2222 }, events(s, (d) => net.send(toClient, d)), dg, net.now);
      return;
    }
    s.peer.receive(dg, net.now);
    // §3: the old session ended because the peer restarted: accept the new one.
    // (`receive` may have closed the peer: re-read its state through a function.)
    if (stateOf(s.peer) === "closed" && s.downs.at(-1)?.code === UDP_ERR.PEER_RESTARTED) {
      s.peer = UdpPeer.accept({ ...server, tag: 0x3333 }, events(s, (d) => net.send(toClient, d)), dg, net.now);
    }
  };
  c.peer = UdpPeer.connect({ ...client, tag }, events(c, (d) => net.send(toServer, d)), net.now);
  return { c, s, toServer };
}

function runUntil(net: Net, peers: () => (UdpPeer | undefined)[], done: () => boolean, limitMs = 120_000): void {
  for (let i = 0; i < 500_000 && !done() && net.now < limitMs; i++) if (!net.step(peers, limitMs)) break;
}

const arbMessage = fc.array(
  fc.oneof({ weight: 6, arbitrary: fc.uint8Array({ maxLength: 100 }) }, { weight: 1, arbitrary: fc.uint8Array({ minLength: 1500, maxLength: 5000 }) }),
  { minLength: 1, maxLength: 3 },
);

describe("UdpPeer", () => {
  it("a REQ and a REP handshake and exchange every message in order over a lossy, reordering link (reliable mode)", () => {
    /** One lockstep exchange of `requests`; returns the retransmissions it took. */
    const exchange = (seed: number, loss: number, jitter: number, requests: Uint8Array[][]): number => {
      const net = new Net(seed, loss, 0.05, 0.5, jitter);
      const { c, s } = connectPair(net, { socketType: "REQ", reliable: true, maxRetries: 1000 }, { socketType: "REP" });
      const peers = (): (UdpPeer | undefined)[] => [c.peer, s.peer];
      let sent = 0;
      let echoed = 0;
      runUntil(net, peers, () => {
        // REQ lockstep: the next request once the previous reply is in; the server echoes.
        if (sent === c.messages.length && sent < requests.length && c.peer?.canSend === true) c.peer.send(requests[sent++] as Uint8Array[], net.now);
        while (echoed < s.messages.length && s.peer?.canSend === true) s.peer.send(s.messages[echoed++] as Uint8Array[], net.now);
        return c.messages.length === requests.length;
      });
      expect(c.ups.length).toBe(1);
      expect(s.ups.length).toBe(1);
      expect(c.ups[0]?.reliable).toBe(true);
      expect(s.ups[0]?.reliable).toBe(true);
      expect(s.messages.map(hexFrames)).toEqual(requests.map(hexFrames));
      expect(c.messages.map(hexFrames)).toEqual(requests.map(hexFrames));
      expect([...c.downs, ...s.downs]).toEqual([]);
      return (c.peer?.stats.channel.retransmits ?? 0) + (s.peer?.stats.channel.retransmits ?? 0);
    };
    fc.assert(
      fc.property(fc.nat(), fc.double({ min: 0, max: 0.25, noNaN: true }), fc.double({ min: 0, max: 3, noNaN: true }), fc.array(arbMessage, { minLength: 1, maxLength: 40 }), (seed, loss, jitter, requests) => {
        exchange(seed, loss, jitter, requests);
      }),
      { numRuns: 40 },
    );
    // Recovery is exercised, not just a clean link: one fixed lossy run
    // (how many the random runs above take depends on their draw: once 5 in 40).
    const fixed = Array.from({ length: 30 }, (_, i) => [Uint8Array.of(i, i + 1, i + 2)]);
    expect(exchange(7, 0.2, 1, fixed)).toBeGreaterThan(0);
  });

  it("a SUB's subscriptions reach the PUB through 30% loss in plain mode; published messages arrive whole or not at all", () => {
    const net = new Net(7, 0.3);
    const { c, s } = connectPair(net, { socketType: "SUB" }, { socketType: "PUB" });
    const peers = (): (UdpPeer | undefined)[] => [c.peer, s.peer];
    runUntil(net, peers, () => c.peer?.state === "ready");
    expect(c.ups[0]?.reliable).toBe(false);
    c.peer?.subscribe(new TextEncoder().encode("weather"), true, net.now);
    c.peer?.subscribe(new TextEncoder().encode("sport"), true, net.now);
    c.peer?.subscribe(new TextEncoder().encode("sport"), false, net.now);
    runUntil(net, peers, () => s.subscriptions.length === 3, net.now + 10_000);
    expect(s.subscriptions).toEqual([
      ["weather", true],
      ["sport", true],
      ["sport", false],
    ]);
    const big = new Uint8Array(4000).fill(5);
    for (let i = 0; i < 100; i++) s.peer?.send([new Uint8Array([i]), i % 10 === 0 ? big : new Uint8Array(10)], net.now);
    runUntil(net, peers, () => false, net.now + 3000);
    expect(c.messages.length).toBeGreaterThan(20);
    expect(c.messages.length).toBeLessThan(100);
    const seen = new Set<number>();
    for (const m of c.messages) {
      const i = m[0]?.[0] as number;
      expect(seen.has(i)).toBe(false);
      seen.add(i);
      expect(m[1]?.length).toBe(i % 10 === 0 ? 4000 : 10);
    }
  });

  it("an acceptor refuses an incompatible socket type and the connector goes down with UDP_REFUSED", () => {
    const net = new Net();
    const { c, s } = connectPair(net, { socketType: "PUSH" }, { socketType: "PUB" });
    runUntil(net, () => [c.peer, s.peer], () => c.downs.length > 0);
    expect(c.downs).toEqual([{ code: UDP_ERR.REFUSED, refuse: REFUSE.INCOMPATIBLE }]);
    expect(c.peer?.state).toBe("closed");
    expect(s.ups).toEqual([]);
  });

  it("a PAIR acceptor that already has a peer refuses a second one as BUSY", () => {
    const sent: Uint8Array[] = [];
    const client = UdpPeer.connect({ socketType: "PAIR", tag: 5 }, events(side(), (d) => sent.push(d)), 0);
    const refused = side();
    const acceptor = UdpPeer.accept({ socketType: "PAIR", tag: 6 }, events(refused, (d) => client.receive(d, 1)), sent[0] as Uint8Array, 1, true);
    expect(acceptor?.state).toBe("closed");
    expect(client.state).toBe("closed");
  });

  it("retries HELLO until the server appears, then connects", () => {
    const net = new Net();
    net.up = false;
    const { c, s } = connectPair(net, { socketType: "DEALER" }, { socketType: "ROUTER", identity: new Uint8Array([9]) });
    runUntil(net, () => [c.peer, s.peer], () => false, 3000);
    expect(c.peer?.state).toBe("connecting");
    net.up = true;
    runUntil(net, () => [c.peer, s.peer], () => c.peer?.state === "ready", 10_000);
    expect(c.peer?.state).toBe("ready");
    expect(c.ups[0]?.peerIdentity).toEqual(new Uint8Array([9]));
    // HELLO every 100, 200, 400, 800 then 1000 ms: about 5 in the first 3 s, not 30.
    expect(net.now).toBeLessThan(4100);
  });

  it("keeps an idle session alive with heartbeats, and expires the peer 5 s after the link goes silent", () => {
    const net = new Net();
    const { c, s } = connectPair(net, { socketType: "PUSH" }, { socketType: "PULL" });
    const peers = (): (UdpPeer | undefined)[] => [c.peer, s.peer];
    runUntil(net, peers, () => false, 60_000);
    expect(c.peer?.state).toBe("ready");
    expect(s.peer?.state).toBe("ready");
    net.up = false;
    const cut = net.now;
    runUntil(net, peers, () => c.downs.length > 0 && s.downs.length > 0, 120_000);
    expect(c.downs).toEqual([{ code: UDP_ERR.PEER_EXPIRED, refuse: undefined }]);
    expect(s.downs[0]?.code).toBe(UDP_ERR.PEER_EXPIRED);
    expect(net.now - cut).toBeGreaterThanOrEqual(4000);
    expect(net.now - cut).toBeLessThanOrEqual(5100);
  });

  it("closing sends BYE and the other side goes down at once", () => {
    const net = new Net();
    const { c, s } = connectPair(net, { socketType: "PAIR" }, { socketType: "PAIR" });
    runUntil(net, () => [c.peer, s.peer], () => c.peer?.state === "ready");
    c.peer?.close(net.now);
    runUntil(net, () => [c.peer, s.peer], () => s.downs.length > 0, net.now + 100);
    expect(s.downs).toEqual([{ code: UDP_ERR.PEER_CLOSED, refuse: undefined }]);
  });

  it("drops and counts bad datagrams without disturbing the session", () => {
    const net = new Net();
    const { c, s, toServer } = connectPair(net, { socketType: "PUSH" }, { socketType: "PULL" });
    runUntil(net, () => [c.peer, s.peer], () => c.peer?.state === "ready");
    toServer(new Uint8Array([0x56, 0x58, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0]));
    toServer(new Uint8Array([1, 2, 3]));
    toServer(new Uint8Array([0x56, 0x58, 1, 0, 0, 0, 0x11, 0x11, 0, 0, 0, 9, 0x10, 0, 9]));
    c.peer?.send([new Uint8Array([1, 2, 3])], net.now);
    runUntil(net, () => [c.peer, s.peer], () => s.messages.length === 1, net.now + 100);
    expect(s.drops).toEqual([UDP_ERR.BAD_VERSION, UDP_ERR.BAD_SIGNATURE, UDP_ERR.TRUNCATED]);
    expect(s.peer?.stats.drops).toEqual({ [UDP_ERR.BAD_VERSION]: 1, [UDP_ERR.BAD_SIGNATURE]: 1, [UDP_ERR.TRUNCATED]: 1 });
    expect(s.messages.map(hexFrames)).toEqual([["010203"]]);
    expect(s.peer?.state).toBe("ready");
  });

  it("notices a connector that restarted with a new session tag and starts a fresh session", () => {
    const net = new Net();
    const first = connectPair(net, { socketType: "REQ" }, { socketType: "REP" }, 0xaaaa);
    runUntil(net, () => [first.c.peer, first.s.peer], () => first.s.peer?.state === "ready");
    // Same address, new incarnation: a new connector whose datagrams reach the same server side.
    const c2 = side();
    const toClient2 = (dg: Uint8Array): void => c2.peer?.receive(dg, net.now);
    void toClient2;
    c2.peer = UdpPeer.connect({ socketType: "REQ", tag: 0xbbbb }, events(c2, (d) => net.send(first.toServer, d)), net.now);
    runUntil(net, () => [c2.peer, first.s.peer], () => first.s.ups.length === 2, net.now + 1000);
    expect(first.s.downs[0]?.code).toBe(UDP_ERR.PEER_RESTARTED);
    expect(first.s.peer?.peerTag).toBe(0xbbbb);
    expect(first.s.ups.length).toBe(2);
  });
});
