import { describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  BEACON,
  answerProbe,
  probeDatagram,
  readBeacon,
  HelloRetry,
  Liveness,
  LATE_MS,
  REFUSE,
  SOCKET_TYPES,
  decodeDatagram,
  defaultMaxDatagram,
  encodeControlDatagram,
  helloFor,
  judgeHello,
  negotiate,
  socketTypesCompatible,
  type ControlCommand,
  type HelloCommand,
  type SessionConfig,
} from "../../src/udp/protocol.js";

/** Send commands over the codec and return what the other side decodes. */
function wire(cmds: ControlCommand[]): ControlCommand[] {
  const got: ControlCommand[] = [];
  decodeDatagram(encodeControlDatagram(0x11, 0, cmds), { message() {}, fragment() {}, control: (c) => got.push(c) });
  return got;
}

const arbConfig: fc.Arbitrary<SessionConfig> = fc.record({
  socketType: fc.constantFrom(...SOCKET_TYPES),
  reliable: fc.boolean(),
  maxDatagram: fc.integer({ min: 512, max: 65507 }),
  window: fc.integer({ min: 1, max: 4096 }),
  heartbeat: fc.integer({ min: 0, max: 10_000 }),
  timeout: fc.integer({ min: 100, max: 60_000 }),
  identity: fc.uint8Array({ maxLength: 255 }),
});

describe("handshake", () => {
  it("after HELLO and HELLO-OK cross the wire, both sides agree on mode, datagram size and window, or the acceptor refuses incompatible types", () => {
    fc.assert(
      fc.property(arbConfig, arbConfig, (connector, acceptor) => {
        const [hello] = wire([helloFor(connector, "HELLO")]) as [HelloCommand];
        const verdict = judgeHello(acceptor, hello);
        if (!socketTypesCompatible(connector.socketType, acceptor.socketType)) {
          expect(verdict).toMatchObject({ ok: false, code: REFUSE.INCOMPATIBLE });
          return;
        }
        if (!verdict.ok) throw new Error("expected acceptance");
        const [ok] = wire([helloFor(acceptor, "HELLO_OK")]) as [HelloCommand];
        const mine = negotiate(connector, ok);
        const theirs = verdict.session;
        expect(mine.reliable).toBe(theirs.reliable);
        expect(mine.reliable).toBe(connector.reliable === true || acceptor.reliable === true);
        expect(mine.maxDatagram).toBe(theirs.maxDatagram);
        expect(mine.window).toBe(theirs.window);
        expect(mine.peerIdentity).toEqual(acceptor.identity);
        expect(theirs.peerIdentity).toEqual(connector.identity);
        // Neither expires the other between two of its heartbeats.
        expect(mine.peerTimeout).toBeGreaterThanOrEqual(3 * (acceptor.heartbeat ?? 0));
        expect(theirs.peerTimeout).toBeGreaterThanOrEqual(3 * (connector.heartbeat ?? 0));
      }),
    );
  });

  it("a PAIR acceptor that has a peer refuses a second one as BUSY", () => {
    const hello = helloFor({ socketType: "PAIR" }, "HELLO");
    expect(judgeHello({ socketType: "PAIR" }, hello, true)).toMatchObject({ ok: false, code: REFUSE.BUSY });
    expect(judgeHello({ socketType: "PAIR" }, hello, false)).toMatchObject({ ok: true });
  });

  it("a REQ is refused by a PUB, and the refusal crosses the wire with its tag and reason", () => {
    const verdict = judgeHello({ socketType: "PUB" }, helloFor({ socketType: "REQ" }, "HELLO"));
    if (verdict.ok) throw new Error("expected refusal");
    const [refuse] = wire([{ type: "REFUSE", code: verdict.code, refusedTag: 0xdeadbeef, reason: verdict.reason }]);
    expect(refuse).toEqual({ type: "REFUSE", code: REFUSE.INCOMPATIBLE, refusedTag: 0xdeadbeef, reason: "PUB does not talk to REQ" });
  });

  it("resends HELLO after 100 ms, doubling up to 1 s", () => {
    const r = new HelloRetry();
    const deadlines: number[] = [];
    let now = 0;
    for (let i = 0; i < 6; i++) {
      now = r.sent(now);
      deadlines.push(now);
    }
    expect(deadlines).toEqual([100, 300, 700, 1500, 2500, 3500]);
    r.stop();
    expect(r.deadline).toBe(Infinity);
    r.reset();
    expect(r.sent(0)).toBe(100);
  });
});

describe("Liveness", () => {
  it("asks for a PING after the heartbeat interval without sending, and expires a silent peer", () => {
    const l = new Liveness(1000, 5000, 0);
    expect(l.pingDue(999)).toBe(false);
    expect(l.pingDue(1000)).toBe(true);
    l.sent(1000);
    expect(l.nextDeadline()).toBe(2000);
    l.heard(1500);
    expect(l.expired(6499)).toBe(false);
    expect(l.expired(6500)).toBe(true);
    expect(l.nextToken()).not.toBe(l.nextToken());
  });

  it("a check that comes late (the thread was starved) defers once, so datagrams still unread can save the peer", () => {
    const l = new Liveness(1000, 5000, 0);
    // Due at 5000; checked at 5000 + LATE_MS + 1: defer, and say when to look again (now).
    expect(l.expired(5000 + LATE_MS + 1)).toBe(false);
    expect(l.nextDeadline()).toBeLessThanOrEqual(5000 + LATE_MS + 1);
    // The unread datagram is read before the next check: the peer lives.
    l.heard(5000 + LATE_MS + 2);
    expect(l.expired(5000 + LATE_MS + 3)).toBe(false);
    // Silent again: a late check defers once, the next one decides.
    const due = 5000 + LATE_MS + 2 + 5000;
    expect(l.expired(due + 10 * LATE_MS)).toBe(false);
    expect(l.expired(due + 10 * LATE_MS + 1)).toBe(true);
    // A check on time decides at once.
    const m = new Liveness(1000, 5000, 0);
    expect(m.expired(5000 + LATE_MS)).toBe(true);
  });

  it("with heartbeats off, only expiry is scheduled", () => {
    const l = new Liveness(0, 5000, 10);
    expect(l.pingDue(1e9)).toBe(false);
    expect(l.nextDeadline()).toBe(5010);
  });
});

describe("default datagram size", () => {
  it("is 1200 octets except toward loopback peers, where it is 16 KiB", () => {
    expect(defaultMaxDatagram("192.168.1.9")).toBe(1200);
    expect(defaultMaxDatagram("fe80::1")).toBe(1200);
    expect(defaultMaxDatagram("127.0.0.1")).toBe(16384);
    expect(defaultMaxDatagram("127.1.2.3")).toBe(16384);
    expect(defaultMaxDatagram("::1")).toBe(16384);
    expect(defaultMaxDatagram("::ffff:127.0.0.1")).toBe(16384);
  });
});

describe("discovery beacons", () => {
  it("an acceptor answers a compatible PROBE with an OFFER of no larger size, and stays silent otherwise", () => {
    const probe = probeDatagram(0x1234, "REQ");
    const offer = answerProbe(probe, 0x5678, "REP");
    expect(offer).toBeDefined();
    expect((offer as Uint8Array).length).toBeLessThanOrEqual(probe.length);
    expect(readBeacon(offer as Uint8Array)).toEqual({ type: "BEACON", kind: BEACON.OFFER, socketType: "REP", tag: 0x5678 });
    expect(answerProbe(probe, 0x5678, "PUB")).toBeUndefined();
    // An offer is not a probe: no ping-pong between two acceptors.
    expect(answerProbe(offer as Uint8Array, 0x9999, "REQ")).toBeUndefined();
    // Garbage is not answered.
    expect(answerProbe(new Uint8Array([1, 2, 3]), 1, "REP")).toBeUndefined();
  });
});
