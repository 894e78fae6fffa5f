import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { VtxError } from "../../src/errors.js";
import {
  FLAG_COMMAND,
  FLAG_MORE,
  ZmtpEngine,
  encodeCommandBody,
  encodeCommandFrame,
  encodeError,
  encodeGreeting,
  encodeMessage,
  encodePing,
  encodePong,
  encodeSubscribe,
  encodeCancel,
  type Mechanism,
  type MechanismContext,
  type MechanismStep,
  type ZmtpCommand,
  decodeMetadata,
  encodeReady,
  encodeHello,
} from "../../src/zmtp/index.js";
import { Recorder, enginePair, framesOf, rawNullPeer, wire, type Delivery } from "./helpers/engine-harness.js";

const str = (frames: Buffer[]): string[] => frames.map((f) => f.toString("latin1"));

describe("ZMTP engine, NULL mechanism", () => {
  for (const delivery of ["sync", "bytewise", "async"] as Delivery[]) {
    it(`completes the handshake and carries messages both ways (${delivery} delivery)`, async () => {
      const { a, b, ra, rb } = enginePair(
        { socketType: "DEALER", identity: Buffer.from("dealer-1"), metadata: { "X-Service": "echo" } },
        { socketType: "ROUTER" },
        delivery,
      );
      await ra.until(() => ra.peer !== undefined && rb.peer !== undefined, "both ready");
      expect(rb.peer).toMatchObject({ socketType: "DEALER", minor: 1, major: 3, mechanism: "NULL" });
      expect(rb.peer?.identity.toString()).toBe("dealer-1");
      expect(rb.peer?.metadata["X-Service"]).toBe("echo");
      expect(ra.peer?.socketType).toBe("ROUTER");
      expect(ra.peer?.identity.length).toBe(0); // ROUTER sends an empty Identity, as libzmq does
      a.sendMessage([Buffer.from("")]);
      a.sendMessage([Buffer.from("a"), Buffer.alloc(0), Buffer.alloc(70_000, 9)]);
      b.sendMessage([Buffer.from("reply")]);
      await rb.until(() => rb.messages.length === 2, "two messages at b");
      await ra.until(() => ra.messages.length === 1, "one message at a");
      expect(str(rb.messages[0]!)).toEqual([""]);
      expect(rb.messages[1]!.map((f) => f.length)).toEqual([1, 0, 70_000]);
      expect(str(ra.messages[0]!)).toEqual(["reply"]);
      expect(a.state).toBe("ready");
      expect([...ra.errors, ...rb.errors]).toEqual([]);
    });
  }

  it("delivers any messages unchanged whatever the transport chunking", () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(fc.uint8Array({ maxLength: 600 }), { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 6 }),
        fc.array(fc.integer({ min: 1, max: 97 }), { minLength: 1, maxLength: 5 }),
        (messages, sizes) => {
          const ra = new Recorder();
          const rb = new Recorder();
          const a = new ZmtpEngine({ socketType: "PUSH" }, ra);
          const b = new ZmtpEngine({ socketType: "PULL" }, rb);
          let k = 0;
          ra.forward = wire(b, (bytes) => {
            const pieces: Buffer[] = [];
            for (let at = 0; at < bytes.length; ) {
              const n = sizes[k++ % sizes.length]!;
              pieces.push(bytes.subarray(at, at + n));
              at += n;
            }
            return pieces;
          });
          rb.forward = wire(a);
          a.start();
          b.start();
          for (const m of messages) a.sendMessage(m);
          expect(rb.errors).toEqual([]);
          expect(rb.messages.map((m) => m.map((f) => f.toString("hex")))).toEqual(messages.map((m) => m.map((f) => Buffer.from(f).toString("hex"))));
        },
      ),
      { numRuns: 100 },
    );
  });

  it("throws ZMTP_NOT_READY when sending before the handshake, and TypeError for a message without frames", () => {
    const r = new Recorder();
    const e = new ZmtpEngine({ socketType: "PUSH" }, r);
    e.start();
    expect(() => e.sendMessage([Buffer.from("x")])).toThrow(expect.objectContaining({ code: "ZMTP_NOT_READY" }));
    expect(() => e.sendSubscribe(Buffer.from("x"))).toThrow(expect.objectContaining({ code: "ZMTP_NOT_READY" }));
    e.push(rawNullPeer("PULL"));
    expect(() => e.sendMessage([])).toThrow(TypeError);
  });

  it("refuses invalid options with ZMTP_INVALID_OPTION", () => {
    const r = new Recorder();
    const code = { code: "ZMTP_INVALID_OPTION" };
    expect(() => new ZmtpEngine({ socketType: "FOO" as "PUB" }, r)).toThrow(expect.objectContaining(code));
    expect(() => new ZmtpEngine({ socketType: "DEALER", identity: new Uint8Array(256) }, r)).toThrow(expect.objectContaining(code));
    expect(() => new ZmtpEngine({ socketType: "DEALER", metadata: { "Socket-Type": "REQ" } }, r)).toThrow(expect.objectContaining(code));
    expect(() => new ZmtpEngine({ socketType: "DEALER", metadata: { "bad name": "x" } }, r)).toThrow(expect.objectContaining(code));
    expect(() => new ZmtpEngine({ socketType: "DEALER", asServer: true, mechanism: { type: "PLAIN", username: "u", password: "p" } }, r)).toThrow(
      expect.objectContaining(code),
    );
  });

  it("sends greeting then READY with Socket-Type and Identity, once the peer's greeting arrived", () => {
    const r = new Recorder();
    const e = new ZmtpEngine({ socketType: "REQ" }, r);
    e.start();
    expect(r.bytes.length).toBe(64);
    e.push(encodeGreeting({ mechanism: "NULL", asServer: false }));
    const [ready] = framesOf(r.bytes);
    expect(ready?.flags).toBe(FLAG_COMMAND);
    expect(ready?.body.subarray(0, 6).toString("latin1")).toBe("\x05READY");
    const props = decodeMetadata(ready!.body.subarray(6));
    expect(props.get("Socket-Type")?.toString()).toBe("REQ");
    expect(props.get("Identity")?.length).toBe(0);
  });

  it("refuses a peer that is not ZMTP with ZMTP_BAD_SIGNATURE and reports nothing after", () => {
    const r = new Recorder();
    const e = new ZmtpEngine({ socketType: "REP" }, r);
    e.start();
    e.push(Buffer.from("GET / HTTP/1.1\r\n\r\n"));
    e.push(rawNullPeer("REQ"));
    expect(r.errors.map((x) => x.code)).toEqual(["ZMTP_BAD_SIGNATURE"]);
    expect(e.state).toBe("closed");
    expect(r.peer).toBeUndefined();
  });

  it("reports a stream that ends inside the greeting, the handshake or a message as ZMTP_TRUNCATED", () => {
    const greeting = encodeGreeting({ mechanism: "NULL", asServer: false });
    const cases: Array<[Buffer, string, number]> = [
      [greeting.subarray(0, 63), "greeting", 63],
      [greeting, "handshake", 64],
      [Buffer.concat([rawNullPeer("PUSH"), encodeMessage([Buffer.from("a"), Buffer.from("b")]).subarray(0, 3)]), "frame", rawNullPeer("PUSH").length + 3],
      [Buffer.concat([rawNullPeer("PUSH"), Buffer.from([FLAG_MORE, 1, 0x61])]), "frame", rawNullPeer("PUSH").length + 3],
    ];
    for (const [bytes, state, offset] of cases) {
      const r = new Recorder();
      const e = new ZmtpEngine({ socketType: "PULL" }, r);
      e.push(bytes);
      e.end();
      expect(r.errors.map((x) => x.code)).toEqual(["ZMTP_TRUNCATED"]);
      expect(r.errors[0]?.detail).toEqual({ offset, state });
      expect(e.state).toBe("closed");
    }
  });

  it("closes quietly when the stream ends between messages", () => {
    const r = new Recorder();
    const e = new ZmtpEngine({ socketType: "PULL" }, r);
    e.push(Buffer.concat([rawNullPeer("PUSH"), encodeMessage([Buffer.from("last")])]));
    e.end();
    expect(r.errors).toEqual([]);
    expect(r.messages).toHaveLength(1);
    expect(e.state).toBe("closed");
  });

  it("refuses a ZMTP 2.0 peer (major 1) with ZMTP_UNSUPPORTED_VERSION", () => {
    const r = new Recorder();
    const e = new ZmtpEngine({ socketType: "REP" }, r);
    const g = encodeGreeting({ mechanism: "NULL", asServer: false });
    g[10] = 1;
    e.push(g.subarray(0, 11));
    expect(r.errors[0]?.code).toBe("ZMTP_UNSUPPORTED_VERSION");
  });

  it("refuses a peer proposing another mechanism with ZMTP_MECHANISM_MISMATCH", () => {
    const { ra, rb } = enginePair({ socketType: "REQ" }, { socketType: "REP", mechanism: { type: "PLAIN", authenticate: () => true } });
    expect(ra.errors[0]?.code).toBe("ZMTP_MECHANISM_MISMATCH");
    expect(rb.errors[0]?.code).toBe("ZMTP_MECHANISM_MISMATCH");
  });

  it("refuses an incompatible socket type with ZMTP_INCOMPATIBLE_SOCKET_TYPE after sending ERROR", () => {
    const { ra, rb } = enginePair({ socketType: "PUSH" }, { socketType: "PUB" });
    expect(ra.errors.map((e) => e.code)).toEqual(["ZMTP_INCOMPATIBLE_SOCKET_TYPE"]);
    expect(ra.errors[0]?.detail).toEqual({ local: "PUSH", remote: "PUB" });
    expect(rb.errors[0]?.code).toBe("ZMTP_INCOMPATIBLE_SOCKET_TYPE");
    const sent = framesOf(ra.bytes).map((f) => f.body.toString("latin1"));
    expect(sent.some((b) => b.startsWith("\x05ERROR"))).toBe(true);
    expect(ra.peer).toBeUndefined();
  });

  it("refuses unknown socket types and a READY without Socket-Type", () => {
    for (const [type, code] of [
      ["SERVER", "ZMTP_INCOMPATIBLE_SOCKET_TYPE"],
      [undefined, "ZMTP_MALFORMED_METADATA"],
    ] as const) {
      const r = new Recorder();
      const e = new ZmtpEngine({ socketType: "DEALER" }, r);
      e.push(rawNullPeer(type));
      expect(r.errors.map((x) => x.code)).toEqual([code]);
    }
  });

  it("refuses a command before READY with ZMTP_UNEXPECTED_COMMAND", () => {
    const r = new Recorder();
    const e = new ZmtpEngine({ socketType: "PUB" }, r);
    e.push(Buffer.concat([encodeGreeting({ mechanism: "NULL", asServer: false }), encodeCommandFrame(encodeSubscribe(Buffer.from("a")))]));
    expect(r.errors.map((x) => x.code)).toEqual(["ZMTP_UNEXPECTED_COMMAND"]);
    expect(r.errors[0]?.detail).toMatchObject({ command: "SUBSCRIBE", offset: 64 + 2 });
  });

  it("refuses a message before READY with ZMTP_UNEXPECTED_MESSAGE", () => {
    const r = new Recorder();
    const e = new ZmtpEngine({ socketType: "PULL" }, r);
    e.push(Buffer.concat([encodeGreeting({ mechanism: "NULL", asServer: false }), encodeMessage([Buffer.from("early")])]));
    expect(r.errors.map((x) => x.code)).toEqual(["ZMTP_UNEXPECTED_MESSAGE"]);
  });

  it("refuses a malformed command name with ZMTP_MALFORMED_COMMAND and its stream offset", () => {
    const r = new Recorder();
    const e = new ZmtpEngine({ socketType: "PULL" }, r);
    e.push(Buffer.concat([encodeGreeting({ mechanism: "NULL", asServer: false }), Buffer.from("\x04\x06\x09READY", "latin1")]));
    expect(r.errors[0]?.code).toBe("ZMTP_MALFORMED_COMMAND");
    expect(r.errors[0]?.detail).toMatchObject({ offset: 66 });
  });

  it("bounds handshake commands to 64 KiB, before allocating", () => {
    const r = new Recorder();
    const e = new ZmtpEngine({ socketType: "PULL" }, r);
    const header = Buffer.from([0x06, 0, 0, 0, 0, 0, 1, 0, 1]); // 65537-byte command
    e.push(Buffer.concat([encodeGreeting({ mechanism: "NULL", asServer: false }), header]));
    expect(r.errors[0]?.code).toBe("ZMTP_MESSAGE_TOO_LARGE");
  });

  it("refuses, after READY, a frame announcing 2^62 bytes and a message over maxMessageSize", () => {
    const r = new Recorder();
    const e = new ZmtpEngine({ socketType: "PULL", maxMessageSize: 1000 }, r);
    e.push(rawNullPeer("PUSH"));
    e.push(encodeMessage([Buffer.alloc(1000)]));
    expect(r.messages).toHaveLength(1);
    e.push(Buffer.from([0x02, 0x40, 0, 0, 0, 0, 0, 0, 0]));
    expect(r.errors.map((x) => x.code)).toEqual(["ZMTP_MESSAGE_TOO_LARGE"]);
    const r2 = new Recorder();
    const e2 = new ZmtpEngine({ socketType: "PULL", maxMessageSize: 1000 }, r2);
    e2.push(rawNullPeer("PUSH"));
    e2.push(encodeMessage([Buffer.alloc(600), Buffer.alloc(600)]));
    expect(r2.errors.map((x) => x.code)).toEqual(["ZMTP_MESSAGE_TOO_LARGE"]);
  });

  it("answers PING with PONG carrying the context, and reports pings and pongs", () => {
    const r = new Recorder();
    const e = new ZmtpEngine({ socketType: "DEALER" }, r);
    e.push(rawNullPeer("ROUTER"));
    const before = r.sent.length;
    e.push(encodeCommandFrame(encodePing(30, Buffer.from("ctx-1"))));
    expect(r.sent.slice(before)).toEqual([encodeCommandFrame(encodePong(Buffer.from("ctx-1")))]);
    expect(r.pings).toEqual([{ ttlMs: 3000, context: "ctx-1" }]);
    e.push(encodeCommandFrame(encodePong(Buffer.from("back"))));
    expect(r.pongs).toEqual(["back"]);
    e.sendPing(2599, Buffer.from("c"));
    expect(r.sent.at(-1)).toEqual(encodeCommandFrame(encodePing(25, Buffer.from("c"))));
    e.sendPing(10_000_000);
    expect(r.sent.at(-1)).toEqual(encodeCommandFrame(encodePing(65535)));
    expect(r.errors).toEqual([]);
  });

  it("ignores unknown commands after READY but refuses handshake commands", () => {
    const r = new Recorder();
    const e = new ZmtpEngine({ socketType: "DEALER" }, r);
    e.push(rawNullPeer("ROUTER"));
    e.push(encodeCommandFrame(encodeCommandBody("FUTURE", Buffer.from("x"))));
    expect(r.errors).toEqual([]);
    e.push(encodeCommandFrame(encodeReady(Buffer.alloc(0))));
    expect(r.errors.map((x) => x.code)).toEqual(["ZMTP_UNEXPECTED_COMMAND"]);
  });

  it("reports a peer's ERROR as ZMTP_PEER_ERROR with its reason", () => {
    const r = new Recorder();
    const e = new ZmtpEngine({ socketType: "DEALER" }, r);
    e.push(rawNullPeer("ROUTER"));
    e.push(encodeCommandFrame(encodeError("going away")));
    expect(r.errors[0]?.code).toBe("ZMTP_PEER_ERROR");
    expect(r.errors[0]?.detail).toEqual({ reason: "going away" });
  });

  it("sendError sends ERROR and closes quietly; the peer reports ZMTP_PEER_ERROR", () => {
    const { a, ra, rb } = enginePair({ socketType: "PAIR" }, { socketType: "PAIR" });
    a.sendError("shutting down");
    expect(a.state).toBe("closed");
    expect(ra.errors).toEqual([]);
    expect(rb.errors[0]?.code).toBe("ZMTP_PEER_ERROR");
    expect(rb.errors[0]?.detail).toEqual({ reason: "shutting down" });
  });

  it("uses sendv with big bodies by reference when the sink offers it", () => {
    const r = new Recorder();
    const gathered: Buffer[][] = [];
    const sink = Object.assign(r, { sendv: (chunks: Buffer[]) => gathered.push(chunks) });
    const e = new ZmtpEngine({ socketType: "PUSH", copyThreshold: 1024 }, sink);
    e.push(rawNullPeer("PULL"));
    const big = Buffer.alloc(4096, 1);
    e.sendMessage([Buffer.from("small")]);
    e.sendMessage([Buffer.from("head"), big]);
    expect(gathered).toHaveLength(1);
    expect(gathered[0]).toContain(big);
    expect(Buffer.concat(gathered[0]!)).toEqual(encodeMessage([Buffer.from("head"), big]));
    expect(r.sent.at(-1)).toEqual(encodeMessage([Buffer.from("small")]));
  });

  it("sendFrameParts hands `written` to sendv with parts by reference, and calls it at once when it copied them", () => {
    const r = new Recorder();
    const gathered: { chunks: Buffer[]; written: (() => void) | undefined }[] = [];
    const sink = Object.assign(r, { sendv: (chunks: Buffer[], written?: () => void) => gathered.push({ chunks, written }) });
    const e = new ZmtpEngine({ socketType: "PUSH", copyThreshold: 1024 }, sink);
    e.push(rawNullPeer("PULL"));
    const calls: string[] = [];
    e.sendFrameParts([Buffer.from("head"), Buffer.from("tail")], () => calls.push("small"));
    // Copied into the engine's batch: free before sendFrameParts returns.
    expect(calls).toEqual(["small"]);
    const big = Buffer.alloc(4096, 2);
    const bigWritten = (): number => calls.push("big");
    e.sendFrameParts([Buffer.from("head"), big], bigWritten);
    // By reference: the sink reports when it is done with them, not the engine.
    expect(calls).toEqual(["small"]);
    expect(gathered).toHaveLength(1);
    expect(gathered[0]!.chunks).toContain(big);
    expect(gathered[0]!.written).toBe(bigWritten);
  });
});

describe("ZMTP engine, hostile input", () => {
  it("never throws on arbitrary bytes, at any stage, and every error carries a ZMTP_ code", () => {
    const prefixes = [
      Buffer.alloc(0),
      encodeGreeting({ mechanism: "NULL", asServer: false }),
      rawNullPeer("PUSH"),
      encodeGreeting({ mechanism: "PLAIN", asServer: false }),
    ];
    fc.assert(
      fc.property(fc.integer({ min: 0, max: prefixes.length - 1 }), fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 8 }), fc.boolean(), (p, chunks, end) => {
        const r = new Recorder();
        const plain = p === 3;
        const e = new ZmtpEngine({ socketType: "PULL", mechanism: plain ? { type: "PLAIN", authenticate: () => true } : "NULL" }, r);
        e.push(prefixes[p]!);
        for (const c of chunks) e.push(c);
        if (end) e.end();
        expect(r.errors.length).toBeLessThanOrEqual(1);
        for (const err of r.errors) expect(err.code).toMatch(/^ZMTP_[A-Z_]+$/);
      }),
      { numRuns: 500 },
    );
  });
});

describe("ZMTP engine, output batching", () => {
  function readyEngine(batchSize: number): { e: ZmtpEngine; r: Recorder; handshake: number } {
    const r = new Recorder();
    const e = new ZmtpEngine({ socketType: "PUB", batchSize }, r);
    e.push(rawNullPeer("SUB"));
    return { e, r, handshake: r.sent.length };
  }

  it("keeps small messages until flush() and hands them over as one buffer", () => {
    const { e, r, handshake } = readyEngine(1024);
    e.sendMessage([Buffer.from("a")]);
    e.sendMessage([Buffer.from("b"), Buffer.from("c")]);
    expect(r.sent.length).toBe(handshake);
    e.flush();
    expect(r.sent.slice(handshake)).toEqual([Buffer.concat([encodeMessage([Buffer.from("a")]), encodeMessage([Buffer.from("b"), Buffer.from("c")])])]);
    e.flush();
    expect(r.sent.length).toBe(handshake + 1);
  });

  it("flushes batched messages on close(), and drops nothing silently", () => {
    const { e, r, handshake } = readyEngine(1024);
    e.sendMessage([Buffer.from("bye")]);
    e.close();
    expect(r.sent.slice(handshake)).toEqual([encodeMessage([Buffer.from("bye")])]);
    expect(e.state).toBe("closed");
  });

  it("flushes before a big message, before a command, and when the batch is full", () => {
    const { e, r, handshake } = readyEngine(100);
    e.sendMessage([Buffer.from("small")]);
    e.sendMessage([Buffer.alloc(60)]); // > batchSize / 2: flushes, then goes alone
    expect(r.sent.slice(handshake).map((b) => b.length)).toEqual([7, 62]);
    e.sendMessage([Buffer.from("x")]);
    e.sendPing(0);
    expect(r.sent.slice(handshake + 2).map((b) => b.length)).toEqual([3, 2 + 7]);
    for (let i = 0; i < 10; i++) e.sendMessage([Buffer.alloc(20)]); // 22 bytes each, 4 fit in 100
    expect(r.sent.slice(handshake + 4).map((b) => b.length)).toEqual([88, 88]);
  });

  it("produces exactly the unbatched byte stream for any interleaving of sends and flushes", () => {
    type Op = { kind: "msg"; frames: Uint8Array[] } | { kind: "flush" } | { kind: "ping" } | { kind: "sub" };
    const opArb: fc.Arbitrary<Op> = fc.oneof(
      { weight: 6, arbitrary: fc.array(fc.uint8Array({ maxLength: 300 }), { minLength: 1, maxLength: 3 }).map((frames) => ({ kind: "msg" as const, frames })) },
      { weight: 2, arbitrary: fc.constant({ kind: "flush" as const }) },
      { weight: 1, arbitrary: fc.constant({ kind: "ping" as const }) },
      { weight: 1, arbitrary: fc.constant({ kind: "sub" as const }) },
    );
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 40 }), fc.integer({ min: 16, max: 2048 }), (ops, batchSize) => {
        const plain = new Recorder();
        const batched = new Recorder();
        const engines = [new ZmtpEngine({ socketType: "SUB" }, plain), new ZmtpEngine({ socketType: "SUB", batchSize }, batched)];
        for (const e of engines) e.push(rawNullPeer("PUB"));
        for (const op of ops) {
          for (const e of engines) {
            if (op.kind === "msg") e.sendMessage(op.frames);
            else if (op.kind === "flush") e.flush();
            else if (op.kind === "ping") e.sendPing(100);
            else e.sendSubscribe(Buffer.from("t"));
          }
        }
        engines[1]!.flush();
        expect(batched.bytes.equals(plain.bytes)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });
});

describe("ZMTP engine, subscriptions", () => {
  it("a SUB sends SUBSCRIBE/CANCEL commands to a 3.1 peer", () => {
    const r = new Recorder();
    const e = new ZmtpEngine({ socketType: "SUB" }, r);
    e.push(rawNullPeer("PUB", { minor: 1 }));
    e.sendSubscribe(Buffer.from("weather"));
    e.sendCancel(Buffer.from("weather"));
    expect(r.sent.slice(-2)).toEqual([
      encodeCommandFrame(encodeSubscribe(Buffer.from("weather"))),
      encodeCommandFrame(encodeCancel(Buffer.from("weather"))),
    ]);
  });

  it("a SUB sends \\x01topic / \\x00topic messages to a 3.0 peer", () => {
    const r = new Recorder();
    const e = new ZmtpEngine({ socketType: "XSUB" }, r);
    e.push(rawNullPeer("XPUB", { minor: 0 }));
    expect(e.peer?.minor).toBe(0);
    e.sendSubscribe(Buffer.from("a"));
    e.sendCancel(Buffer.from(""));
    expect(r.sent.slice(-2)).toEqual([encodeMessage([Buffer.from("\x01a")]), encodeMessage([Buffer.from("\x00")])]);
  });

  for (const local of ["PUB", "XPUB"] as const) {
    it(`a ${local} accepts both subscription forms from 3.0 and 3.1 peers`, () => {
      for (const minor of [0, 1]) {
        const r = new Recorder();
        const e = new ZmtpEngine({ socketType: local }, r);
        e.push(rawNullPeer("SUB", { minor }));
        e.push(encodeCommandFrame(encodeSubscribe(Buffer.from("cmd"))));
        e.push(encodeMessage([Buffer.from("\x01msg")]));
        e.push(encodeMessage([Buffer.from("\x00msg")]));
        e.push(encodeCommandFrame(encodeCancel(Buffer.from("cmd"))));
        e.push(encodeMessage([Buffer.from("\x01all"), Buffer.from("2nd frame")])); // multipart: not a subscription
        expect(r.subscribes).toEqual(["cmd", "msg"]);
        expect(r.cancels).toEqual(["msg", "cmd"]);
        expect(r.messages.map(str)).toEqual([["\x01all", "2nd frame"]]);
      }
    });
  }

  it("a SUB does not turn \\x01 messages into subscriptions", () => {
    const r = new Recorder();
    const e = new ZmtpEngine({ socketType: "SUB" }, r);
    e.push(rawNullPeer("PUB"));
    e.push(encodeMessage([Buffer.from("\x01data")]));
    expect(r.subscribes).toEqual([]);
    expect(r.messages.map(str)).toEqual([["\x01data"]]);
  });
});

describe("ZMTP engine, PLAIN mechanism", () => {
  it("authenticates and exchanges metadata; the server learns the user", async () => {
    const seen: unknown[] = [];
    const { a, b, ra, rb } = enginePair(
      { socketType: "REQ", mechanism: { type: "PLAIN", username: "admin", password: "s3cret" }, asServer: false },
      {
        socketType: "REP",
        asServer: true,
        peerAddress: "10.0.0.1:4242",
        mechanism: {
          type: "PLAIN",
          authenticate: (c) => {
            seen.push(c);
            return c.username === "admin" && c.password === "s3cret";
          },
        },
      },
      "bytewise",
    );
    await ra.until(() => ra.peer !== undefined && rb.peer !== undefined, "both ready");
    expect(seen).toEqual([{ username: "admin", password: "s3cret", peerAddress: "10.0.0.1:4242" }]);
    expect(rb.peer).toMatchObject({ socketType: "REQ", mechanism: "PLAIN", userId: "admin" });
    expect(ra.peer).toMatchObject({ socketType: "REP", userId: undefined });
    a.sendMessage([Buffer.alloc(0), Buffer.from("hi")]);
    expect(rb.messages.map(str)).toEqual([["", "hi"]]);
    b.sendMessage([Buffer.alloc(0), Buffer.from("ho")]);
    expect(ra.messages.map(str)).toEqual([["", "ho"]]);
  });

  it("refuses wrong credentials: ERROR 400 to the client, ZMTP_AUTH_FAILED on both sides", () => {
    const { ra, rb } = enginePair(
      { socketType: "DEALER", mechanism: { type: "PLAIN", username: "admin", password: "wrong" } },
      { socketType: "ROUTER", mechanism: { type: "PLAIN", authenticate: () => false } },
    );
    expect(ra.errors.map((e) => e.code)).toEqual(["ZMTP_AUTH_FAILED"]);
    expect(ra.errors[0]?.detail).toEqual({ reason: "400" });
    expect(rb.errors.map((e) => e.code)).toEqual(["ZMTP_AUTH_FAILED"]);
    expect(ra.peer).toBeUndefined();
    expect(rb.peer).toBeUndefined();
  });

  it("refuses with libzmq's ERROR form to a libzmq-looking peer and RFC 37's to others (errorForm auto)", () => {
    for (const [byte8, form, expected] of [
      [1, "auto", "5e52524f5203343030"],
      [0, "auto", "054552524f5203343030"],
      [0, "libzmq", "5e52524f5203343030"],
      [1, "rfc", "054552524f5203343030"],
    ] as const) {
      const r = new Recorder();
      const e = new ZmtpEngine({ socketType: "ROUTER", mechanism: { type: "PLAIN", authenticate: () => false, errorForm: form } }, r);
      const greeting = encodeGreeting({ mechanism: "PLAIN", asServer: false });
      greeting[8] = byte8;
      e.push(Buffer.concat([greeting, encodeCommandFrame(encodeHello("u", "p"))]));
      expect(r.errors[0]?.code).toBe("ZMTP_AUTH_FAILED");
      expect(framesOf(r.bytes).map((f) => f.body.toString("hex"))).toEqual([expected]);
    }
  });

  it("treats a throwing or rejecting authenticator as refusal", async () => {
    const throwing = enginePair(
      { socketType: "DEALER", mechanism: { type: "PLAIN", username: "u", password: "p" } },
      { socketType: "ROUTER", mechanism: { type: "PLAIN", authenticate: () => { throw new Error("db down"); } } },
    );
    expect(throwing.rb.errors[0]?.code).toBe("ZMTP_AUTH_FAILED");
    expect((throwing.rb.errors[0]?.cause as Error).message).toBe("db down");
    const rejecting = enginePair(
      { socketType: "DEALER", mechanism: { type: "PLAIN", username: "u", password: "p" } },
      { socketType: "ROUTER", mechanism: { type: "PLAIN", authenticate: () => Promise.reject(new Error("nope")) } },
    );
    await rejecting.ra.until(() => rejecting.ra.errors.length > 0 && rejecting.rb.errors.length > 0, "both errors");
    expect(rejecting.ra.errors[0]?.code).toBe("ZMTP_AUTH_FAILED");
    expect(rejecting.rb.errors[0]?.code).toBe("ZMTP_AUTH_FAILED");
  });

  it("waits for an asynchronous authenticator, keeping bytes that arrive meanwhile in order", async () => {
    let release: (ok: boolean) => void = () => undefined;
    const r = new Recorder();
    const server = new ZmtpEngine(
      { socketType: "PULL", mechanism: { type: "PLAIN", authenticate: () => new Promise<boolean>((res) => (release = res)) } },
      r,
    );
    server.start();
    // A client that does not wait for WELCOME: HELLO, INITIATE and two messages in one burst.
    server.push(
      Buffer.concat([
        encodeGreeting({ mechanism: "PLAIN", asServer: false }),
        encodeCommandFrame(encodeHello("u", "p")),
        encodeCommandFrame(encodeCommandBody("INITIATE", encodeMetadataFor("PUSH"))),
        encodeMessage([Buffer.from("one")]),
      ]),
    );
    server.push(encodeMessage([Buffer.from("two")]));
    expect(server.state).toBe("handshake");
    expect(r.messages).toEqual([]);
    release(true);
    await r.until(() => r.messages.length === 2, "two messages after authentication");
    expect(r.peer?.userId).toBe("u");
    expect(r.messages.map(str)).toEqual([["one"], ["two"]]);
    const commands = framesOf(r.bytes).map((f) => f.body.toString("latin1").slice(0, 8));
    expect(commands).toEqual(["\x07WELCOME", "\x05READY\x0bS"]);
  });

  it("ignores an authenticator that settles after close()", async () => {
    let release: (ok: boolean) => void = () => undefined;
    const { b, rb, ra } = enginePair(
      { socketType: "DEALER", mechanism: { type: "PLAIN", username: "u", password: "p" } },
      { socketType: "ROUTER", mechanism: { type: "PLAIN", authenticate: () => new Promise<boolean>((res) => (release = res)) } },
    );
    b.close();
    release(true);
    await new Promise((r) => setImmediate(r));
    expect(rb.peer).toBeUndefined();
    expect(rb.errors).toEqual([]);
    expect(ra.sent.length).toBeGreaterThan(0);
  });

  it("does not rely on the peer's as-server field (libzmq sends 0 from PLAIN servers); two clients fail on HELLO", () => {
    const r = new Recorder();
    const e = new ZmtpEngine({ socketType: "DEALER", mechanism: { type: "PLAIN", username: "u", password: "p" } }, r);
    e.push(Buffer.concat([encodeGreeting({ mechanism: "PLAIN", asServer: false }), encodeCommandFrame(encodeCommandBody("WELCOME"))]));
    expect(e.state).toBe("handshake");
    expect(r.errors).toEqual([]);
    const clients = enginePair(
      { socketType: "DEALER", mechanism: { type: "PLAIN", username: "u", password: "p" } },
      { socketType: "ROUTER", mechanism: { type: "PLAIN", username: "u", password: "p" } },
    );
    expect(clients.ra.errors[0]?.code).toBe("ZMTP_UNEXPECTED_COMMAND");
    expect(clients.ra.errors[0]?.detail).toMatchObject({ command: "HELLO" });
  });

  it("refuses a READY out of turn during the PLAIN handshake", () => {
    const r = new Recorder();
    const e = new ZmtpEngine({ socketType: "DEALER", mechanism: { type: "PLAIN", username: "u", password: "p" } }, r);
    e.push(Buffer.concat([encodeGreeting({ mechanism: "PLAIN", asServer: true }), encodeCommandFrame(encodeReady(encodeMetadataFor("ROUTER")))]));
    expect(r.errors[0]?.code).toBe("ZMTP_UNEXPECTED_COMMAND");
  });
});

describe("ZMTP engine, mechanisms that protect frames", () => {
  /**
   * A toy mechanism shaped like CURVE: its own handshake (two commands), then
   * every frame travels inside a "MESSAGE" command whose data is
   * flags + body XORed with a key. It proves the engine needs no change for
   * a mechanism that wraps frames.
   */
  class XorMechanism implements Mechanism {
    readonly name = "X-XOR";
    framing: Mechanism["framing"];
    constructor(readonly asServer: boolean, readonly key = 0x5a) {}
    start(ctx: MechanismContext): MechanismStep {
      return { send: [encodeCommandBody("HI", ctx.localMetadata)] };
    }
    handle(cmd: ZmtpCommand): MechanismStep {
      if (cmd.name !== "HI") return { error: new VtxError("ZMTP_UNEXPECTED_COMMAND", `unexpected ${cmd.name}`) };
      const key = this.key;
      this.framing = {
        wrap: (flags, body) => {
          const out = Buffer.alloc(1 + body.length);
          out[0] = flags;
          for (let i = 0; i < body.length; i++) out[1 + i] = body[i]! ^ key;
          return encodeCommandBody("MESSAGE", out);
        },
        unwrap: (commandBody) => {
          const data = commandBody.subarray(8);
          const body = Buffer.alloc(data.length - 1);
          for (let i = 0; i < body.length; i++) body[i] = data[1 + i]! ^ key;
          return { flags: data[0]!, body };
        },
      };
      return { done: { metadata: decodeMetadata(cmd.data) } };
    }
  }

  it("carries messages, subscriptions and heartbeats wrapped, with no plaintext frame after the handshake", () => {
    const { a, b, ra, rb } = enginePair(
      { socketType: "XSUB", mechanism: new XorMechanism(false) },
      { socketType: "XPUB", mechanism: new XorMechanism(true) },
    );
    expect(ra.peer?.mechanism).toBe("X-XOR");
    const handshakeBytes = ra.sent.length;
    a.sendSubscribe(Buffer.from("news"));
    a.sendPing(1000, Buffer.from("p"));
    b.sendMessage([Buffer.from("news"), Buffer.from("body")]);
    a.sendMessage([Buffer.from("\x01raw")]);
    expect(rb.subscribes).toEqual(["news", "raw"]);
    expect(rb.pings).toEqual([{ ttlMs: 1000, context: "p" }]);
    expect(ra.pongs).toEqual(["p"]);
    expect(ra.messages.map(str)).toEqual([["news", "body"]]);
    for (const chunk of ra.sent.slice(handshakeBytes)) expect(chunk[0]! & FLAG_COMMAND).toBe(FLAG_COMMAND);
    expect(Buffer.concat(ra.sent.slice(handshakeBytes)).includes("news")).toBe(false);
    expect([...ra.errors, ...rb.errors]).toEqual([]);
  });

  it("refuses a plaintext message once frames are wrapped", () => {
    const r = new Recorder();
    const e = new ZmtpEngine({ socketType: "PULL", mechanism: new XorMechanism(false) }, r);
    e.push(Buffer.concat([encodeGreeting({ mechanism: "X-XOR", asServer: true }), encodeCommandFrame(encodeCommandBody("HI", encodeMetadataFor("PUSH")))]));
    expect(e.state).toBe("ready");
    e.push(encodeMessage([Buffer.from("plain")]));
    expect(r.errors[0]?.code).toBe("ZMTP_UNEXPECTED_MESSAGE");
  });
});

function encodeMetadataFor(socketType: string): Buffer {
  const name = "Socket-Type";
  const out = Buffer.alloc(1 + name.length + 4 + socketType.length);
  out[0] = name.length;
  out.write(name, 1, "latin1");
  out.writeUInt32BE(socketType.length, 1 + name.length);
  out.write(socketType, 5 + name.length, "latin1");
  return out;
}
