/**
 * The ZWS 2.0 ⇄ ZMTP framing adapter, in memory: two real ZMTP engines
 * talk through two adapters, as they do over a WebSocket. Tested byte at a
 * time, with crafted bad frames (asserting codes), and with fast-check
 * round trips.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { zmtp, type VtxError } from "@vtx/runtime";
import { ZwsFraming } from "../../src/ws/zws-framing.js";
import {
  ZWS_NONE,
  ZWS_NULL,
  ZWS_PLAIN,
  offeredSubprotocols,
  parseSubprotocolHeader,
  selectSubprotocol,
  type ZwsSubprotocol,
} from "../../src/ws/subprotocol.js";

type Engine = zmtp.ZmtpEngine;

interface Side {
  engine: Engine;
  framing: ZwsFraming;
  /** ZWS messages this side put on the "wire". */
  wire: Buffer[];
  pings: number;
  messages: Buffer[][];
  subs: string[];
  ready: zmtp.ZmtpPeer | undefined;
  error: VtxError | undefined;
}

interface PairOptions {
  subprotocol: ZwsSubprotocol;
  a: zmtp.ZmtpEngineOptions;
  b: zmtp.ZmtpEngineOptions;
  aPlainServer?: boolean;
  bPlainServer?: boolean;
  /** Split each engine write into pieces before the adapter sees it. */
  split?: (chunk: Buffer) => Buffer[];
}

/**
 * Two engines joined by two adapters. ZWS messages queue on the "wire" and
 * cross when {@link Pair.flush} runs (each side's adapter is started before
 * anything arrives, as at a WebSocket open).
 */
interface Pair {
  a: Side;
  b: Side;
  /** Delivers queued messages both ways until none is left (bounded), letting async authenticators settle. */
  flush: () => Promise<void>;
}

function pair(o: PairOptions): Pair {
  const sides: Side[] = [];
  const inbox: Array<{ to: () => Side; m: Buffer }> = [];
  const make = (opts: zmtp.ZmtpEngineOptions, plainServer: boolean, peer: () => Side): Side => {
    const side = { wire: [], pings: 0, messages: [], subs: [], ready: undefined, error: undefined } as unknown as Side;
    side.framing = new ZwsFraming(
      { subprotocol: o.subprotocol, plainServer },
      {
        toEngine: (bytes) => side.engine.push(bytes),
        toPeer: (m) => {
          side.wire.push(Buffer.from(m));
          inbox.push({ to: peer, m: Buffer.from(m) });
        },
        ping: () => side.pings++,
      },
    );
    side.engine = new zmtp.ZmtpEngine(opts, {
      send: (bytes) => {
        for (const piece of o.split ? o.split(bytes) : [bytes]) side.framing.fromEngine(piece);
      },
      ready: (p) => (side.ready = p),
      message: (frames) => side.messages.push(frames.map((f) => Buffer.from(f))),
      subscribe: (t) => side.subs.push(`+${t.toString()}`),
      cancel: (t) => side.subs.push(`-${t.toString()}`),
      error: (e) => (side.error = e),
    });
    return side;
  };
  const a = make(o.a, o.aPlainServer === true, () => sides[1]!);
  const b = make(o.b, o.bPlainServer === true, () => sides[0]!);
  sides.push(a, b);
  a.engine.start();
  b.engine.start();
  a.framing.start();
  b.framing.start();
  const flush = async (): Promise<void> => {
    for (let round = 0; round < 100; round++) {
      if (inbox.length === 0) {
        await new Promise((r) => setImmediate(r));
        if (inbox.length === 0) return;
      }
      const next = inbox.shift()!;
      next.to().framing.fromPeer(next.m);
    }
    throw new Error("wire never went quiet");
  };
  return { a, b, flush };
}

const bytewise = (chunk: Buffer): Buffer[] => [...chunk].map((x) => Buffer.from([x]));

describe("ZWS framing adapter (RFC 45 over the ZMTP engine)", () => {
  it("ZWS2.0/NULL: READY crosses as a command frame (flag 0x02), messages as one WebSocket message per frame", async () => {
    const { a, b, flush } = pair({ subprotocol: ZWS_NULL, a: { socketType: "DEALER", identity: Buffer.from("me") }, b: { socketType: "ROUTER" } });
    await flush();
    expect(a.ready?.socketType).toBe("ROUTER");
    expect(b.ready?.identity.toString()).toBe("me");
    // No greeting on the wire: the first ZWS message is READY.
    expect(a.wire[0]![0]).toBe(0x02);
    expect(a.wire[0]!.subarray(1, 7).toString("latin1")).toBe("\x05READY");
    a.engine.sendMessage([Buffer.from("x"), Buffer.alloc(300, 7), Buffer.from("")]);
    const msg = a.wire.slice(-3);
    expect(msg.map((m) => m[0])).toEqual([0x01, 0x01, 0x00]);
    expect(msg.map((m) => m.length)).toEqual([2, 301, 1]);
    await flush();
    expect(b.messages).toEqual([[Buffer.from("x"), Buffer.alloc(300, 7), Buffer.alloc(0)]]);
  });

  it("the engine's PING leaves as a WebSocket ping, never as a ZWS command", async () => {
    const { a, flush } = pair({ subprotocol: ZWS_NULL, a: { socketType: "PUSH" }, b: { socketType: "PULL" } });
    await flush();
    const before = a.wire.length;
    a.engine.sendPing(1000);
    expect(a.pings).toBe(1);
    expect(a.wire.length).toBe(before);
  });

  it("peerAlive feeds the engine a PONG only once the handshake is over (the engine refuses one before)", () => {
    const pushed: Buffer[] = [];
    const f = new ZwsFraming({ subprotocol: ZWS_NULL }, { toEngine: (b) => pushed.push(b), toPeer: () => undefined, ping: () => undefined });
    f.start();
    f.peerAlive();
    expect(pushed.length).toBe(1); // the synthetic greeting only
    f.fromPeer(Buffer.concat([Buffer.from([2, 5]), Buffer.from("READY"), zmtp.encodeMetadata([["Socket-Type", "PULL"]])]));
    f.peerAlive();
    expect(pushed.at(-1)).toEqual(Buffer.from([0x04, 5, 4, 0x50, 0x4f, 0x4e, 0x47]));
  });

  it("subscriptions leave as \\x01topic / \\x00topic messages (RFC 45 §Publish-Subscribe), not SUBSCRIBE commands", async () => {
    const { a, b, flush } = pair({ subprotocol: ZWS_NULL, a: { socketType: "SUB" }, b: { socketType: "PUB" } });
    await flush();
    a.engine.sendSubscribe(Buffer.from("news"));
    a.engine.sendCancel(Buffer.from("news"));
    expect(a.wire.slice(-2)).toEqual([Buffer.from("\x00\x01news", "latin1"), Buffer.from("\x00\x00news", "latin1")]);
    await flush();
    expect(b.subs).toEqual(["+news", "-news"]);
  });

  it("ZWS2.0 (no mechanism): each side's first message is its routing id; the engines still see READY", async () => {
    const { a, b, flush } = pair({ subprotocol: ZWS_NONE, a: { socketType: "REQ", identity: Buffer.from("client-7") }, b: { socketType: "ROUTER" } });
    await flush();
    expect(a.wire[0]).toEqual(Buffer.from("\x00client-7", "latin1"));
    expect(b.wire[0]).toEqual(Buffer.from([0x00])); // ROUTER sends its (empty) routing id
    expect(b.ready?.identity.toString()).toBe("client-7");
    expect(b.ready?.socketType).toBe("DEALER"); // assumed: not on the wire in this mode
    expect(a.ready?.socketType).toBe("ROUTER");
    // No command ever goes out in this mode.
    a.engine.sendPing(100);
    a.engine.sendMessage([Buffer.alloc(0), Buffer.from("hi")]);
    expect(a.wire.every((m) => m[0] !== 0x02)).toBe(true);
    await flush();
    expect(b.messages).toEqual([[Buffer.alloc(0), Buffer.from("hi")]]);
  });

  it("ZWS2.0: a routing id arriving before our engine spoke is held until our READY names our type", () => {
    const toEngine: Buffer[] = [];
    const toPeer: Buffer[] = [];
    const f = new ZwsFraming({ subprotocol: ZWS_NONE }, { toEngine: (b) => toEngine.push(b), toPeer: (m) => toPeer.push(m), ping: () => undefined });
    f.start();
    f.fromPeer(Buffer.from("\x00peer", "latin1"));
    f.fromPeer(Buffer.from("\x00hello", "latin1"));
    expect(toEngine.length).toBe(1); // greeting only: held
    const engineOut = Buffer.concat([
      zmtp.encodeGreeting({ mechanism: "NULL", asServer: false }),
      zmtp.encodeCommandFrame(zmtp.encodeReady(zmtp.encodeMetadata([["Socket-Type", "PULL"]]))),
    ]);
    f.fromEngine(engineOut);
    expect(toPeer).toEqual([Buffer.from([0])]);
    expect(toEngine.length).toBe(3);
    const ready = toEngine[1]!;
    expect(ready[0]).toBe(0x04);
    const cmd = zmtp.parseCommand(ready.subarray(2));
    expect(cmd.name).toBe("READY");
    const props = zmtp.decodeMetadata(cmd.data);
    expect(props.get("Socket-Type")?.toString()).toBe("PUSH");
    expect(props.get("Identity")?.toString()).toBe("peer");
    expect(toEngine[2]).toEqual(Buffer.from("\x00\x05hello", "latin1"));
  });

  it("ZWS2.0/PLAIN: HELLO, WELCOME, INITIATE, READY as command frames; the user is authenticated", async () => {
    const { a, b, flush } = pair({
      subprotocol: ZWS_PLAIN,
      a: { socketType: "REQ", mechanism: { type: "PLAIN", username: "ann", password: "pw" } },
      b: { socketType: "REP", mechanism: { type: "PLAIN", authenticate: ({ username, password }) => username === "ann" && password === "pw" } },
      bPlainServer: true,
    });
    await flush();
    expect(b.ready?.userId).toBe("ann");
    expect(a.ready?.socketType).toBe("REP");
    expect(a.wire.map((m) => m.subarray(2, 2 + m[1]!).toString("latin1"))).toEqual(["HELLO", "INITIATE"]);
    expect(b.wire.map((m) => m.subarray(2, 2 + m[1]!).toString("latin1"))).toEqual(["WELCOME", "READY"]);
    expect(b.framing.ready).toBe(true);
  });

  it("ZWS2.0/PLAIN with a wrong password: the client gets ZMTP_AUTH_FAILED", async () => {
    const { a, b, flush } = pair({
      subprotocol: ZWS_PLAIN,
      a: { socketType: "REQ", mechanism: { type: "PLAIN", username: "ann", password: "nope" } },
      b: { socketType: "REP", mechanism: { type: "PLAIN", authenticate: () => false } },
      bPlainServer: true,
    });
    await flush();
    expect(a.error?.code).toBe("ZMTP_AUTH_FAILED");
    expect(b.error?.code).toBe("ZMTP_AUTH_FAILED");
  });

  it("engine output fed one byte at a time gives the same ZWS messages as whole writes", async () => {
    const run = async (split?: (c: Buffer) => Buffer[]): Promise<Buffer[]> => {
      const { a, flush } = pair({ subprotocol: ZWS_NULL, a: { socketType: "PUSH" }, b: { socketType: "PULL" }, ...(split ? { split } : {}) });
      await flush();
      a.engine.sendMessage([Buffer.from("one")]);
      a.engine.sendMessage([Buffer.alloc(70_000, 1), Buffer.alloc(0), Buffer.alloc(255, 2), Buffer.alloc(256, 3)]);
      return a.wire;
    };
    const whole = await run();
    expect(whole.length).toBe(6);
    expect(await run(bytewise)).toEqual(whole);
  });

  describe("bad frames from the peer are refused with a code, offset and state", () => {
    const cases: Array<{ name: string; subprotocol: ZwsSubprotocol; frames: Buffer[]; code: string; offset: number; state: string }> = [
      { name: "empty message (no flag byte)", subprotocol: ZWS_NULL, frames: [Buffer.alloc(0)], code: "ZWS_EMPTY_FRAME", offset: 0, state: "flags" },
      { name: "flags 0x03 (more + command)", subprotocol: ZWS_NULL, frames: [Buffer.from([3, 1])], code: "ZWS_BAD_FLAGS", offset: 0, state: "flags" },
      { name: "flags 0x80", subprotocol: ZWS_NULL, frames: [Buffer.from([0]), Buffer.from([0x80])], code: "ZWS_BAD_FLAGS", offset: 1, state: "flags" },
      { name: "ZWS2.0 routing id with MORE", subprotocol: ZWS_NONE, frames: [Buffer.from([1, 65])], code: "ZWS_BAD_ROUTING_ID", offset: 0, state: "routing-id" },
      { name: "ZWS2.0 routing id over 255 bytes", subprotocol: ZWS_NONE, frames: [Buffer.alloc(257)], code: "ZWS_BAD_ROUTING_ID", offset: 0, state: "routing-id" },
      { name: "ZWS2.0 command frame", subprotocol: ZWS_NONE, frames: [Buffer.from([0]), Buffer.from([2, 4, 80, 73, 78, 71])], code: "ZWS_UNEXPECTED_COMMAND", offset: 1, state: "frame" },
    ];
    for (const c of cases) {
      it(c.name, () => {
        const f = new ZwsFraming({ subprotocol: c.subprotocol }, { toEngine: () => undefined, toPeer: () => undefined, ping: () => undefined });
        f.start();
        let thrown: unknown;
        try {
          for (const m of c.frames) f.fromPeer(m);
        } catch (err) {
          thrown = err;
        }
        expect(thrown).toMatchObject({ code: c.code, offset: c.offset, state: c.state });
      });
    }
  });

  it("a command frame that breaks ZMTP (bad name) still reaches the engine, which refuses it with a ZMTP code", async () => {
    const { a, b, flush } = pair({ subprotocol: ZWS_NULL, a: { socketType: "PUSH" }, b: { socketType: "PULL" } });
    await flush();
    b.framing.fromPeer(Buffer.from([2, 9, 0x41]));
    expect(b.error?.code).toBe("ZMTP_MALFORMED_COMMAND");
    expect(a.error).toBeUndefined();
  });

  it("fast-check: random multipart messages round-trip engine → ZWS → engine, whatever the engine writes' split", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(fc.uint8Array({ maxLength: 700 }), { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 8 }),
        fc.array(fc.integer({ min: 1, max: 400 }), { minLength: 1, maxLength: 8 }),
        fc.constantFrom<ZwsSubprotocol>(ZWS_NULL, ZWS_NONE),
        async (messages, cuts, subprotocol) => {
          let k = 0;
          const split = (chunk: Buffer): Buffer[] => {
            const out: Buffer[] = [];
            for (let at = 0; at < chunk.length; ) {
              const n = cuts[k++ % cuts.length]!;
              out.push(Buffer.from(chunk.subarray(at, at + n)));
              at += n;
            }
            return out;
          };
          const { a, b, flush } = pair({ subprotocol, a: { socketType: "DEALER" }, b: { socketType: "DEALER" }, split });
          await flush();
          for (const m of messages) a.engine.sendMessage(m.map((f) => Buffer.from(f)));
          await flush();
          expect(b.error).toBeUndefined();
          expect(b.messages).toEqual(messages.map((m) => m.map((f) => Buffer.from(f))));
          // One WebSocket message per frame, flags last/more.
          const frames = a.wire.filter((w) => w[0] !== 0x02).slice(subprotocol === ZWS_NONE ? 1 : 0);
          expect(frames.length).toBe(messages.reduce((n, m) => n + m.length, 0));
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe("ZWS subprotocol negotiation (RFC 45 §Handshake)", () => {
  it("a NULL client offers ZWS2.0/NULL then ZWS2.0, as libzmq does; a PLAIN client offers PLAIN only", () => {
    expect(offeredSubprotocols("NULL")).toEqual(["ZWS2.0/NULL", "ZWS2.0"]);
    expect(offeredSubprotocols("PLAIN")).toEqual(["ZWS2.0/PLAIN"]);
  });

  it("a NULL server prefers ZWS2.0/NULL (it carries the Socket-Type) whatever the client's order", () => {
    expect(selectSubprotocol(parseSubprotocolHeader("ZWS2.0, ZWS2.0/NULL"), "NULL")).toBe("ZWS2.0/NULL");
    expect(selectSubprotocol(parseSubprotocolHeader("ZWS2.0"), "NULL")).toBe("ZWS2.0");
    expect(selectSubprotocol(parseSubprotocolHeader("ZWS2.0/PLAIN"), "NULL")).toBeUndefined();
  });

  it("a PLAIN server accepts only ZWS2.0/PLAIN (no fallback that would skip authentication)", () => {
    expect(selectSubprotocol(["ZWS2.0/NULL", "ZWS2.0", "ZWS2.0/PLAIN"], "PLAIN")).toBe("ZWS2.0/PLAIN");
    expect(selectSubprotocol(["ZWS2.0/NULL", "ZWS2.0"], "PLAIN")).toBeUndefined();
  });

  it("non-ZWS subprotocols and an absent header select nothing", () => {
    expect(selectSubprotocol(parseSubprotocolHeader("mqtt, chat"), "NULL")).toBeUndefined();
    expect(selectSubprotocol(parseSubprotocolHeader(undefined), "NULL")).toBeUndefined();
    expect(parseSubprotocolHeader(" ZWS2.0/NULL ,ZWS2.0,, ")).toEqual(["ZWS2.0/NULL", "ZWS2.0"]);
  });
});
