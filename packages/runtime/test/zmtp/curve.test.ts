/**
 * CURVE (RFC 25/26) in the engine, engine against engine: the handshake,
 * MESSAGE framing, the failure codes, and the NaCl composition checked
 * against published vectors. Interop with libzmq is in curve-interop.test.ts.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { boxBeforeNm, boxOpen, boxSeal, curveAccelerated, useCurveAcceleration } from "../../src/zmtp/curve-crypto.js";
import { CurveClientMechanism, CurveFraming, curveKeyPair } from "../../src/zmtp/curve-mechanism.js";
import {
  ZmtpEngine,
  encodeGreeting,
  z85Decode,
  z85Encode,
  type ZmtpEngineOptions,
} from "../../src/zmtp/index.js";
import { Recorder, enginePair, framesOf } from "./helpers/engine-harness.js";

const hex = (s: string): Buffer => Buffer.from(s, "hex");
const str = (frames: Buffer[]): string[] => frames.map((f) => f.toString());

function curvePair(
  server: Partial<ZmtpEngineOptions> & { keys?: { publicKey: string; secretKey: string } },
  client: Partial<ZmtpEngineOptions> & { serverKey?: string },
  delivery: "sync" | "bytewise" = "sync",
) {
  const keys = server.keys ?? curveKeyPair();
  const clientKeys = curveKeyPair();
  const pair = enginePair(
    {
      socketType: "DEALER",
      mechanism: { type: "CURVE", serverKey: client.serverKey ?? keys.publicKey, publicKey: clientKeys.publicKey, secretKey: clientKeys.secretKey },
      ...client,
    },
    { socketType: "ROUTER", mechanism: { type: "CURVE", server: true, secretKey: keys.secretKey }, ...server },
    delivery,
  );
  return { ...pair, keys, clientKeys };
}

describe("Z85 (RFC 32)", () => {
  it("encodes the RFC's test vector and round-trips any multiple of 4 bytes", () => {
    const bytes = Buffer.from([0x86, 0x4f, 0xd2, 0x6f, 0xb5, 0x59, 0xf7, 0x5b]);
    expect(z85Encode(bytes)).toBe("HelloWorld");
    expect(z85Decode("HelloWorld")).toEqual(bytes);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }).map((a) => a.subarray(0, a.length - (a.length % 4))), (a) => {
        expect(z85Decode(z85Encode(a))).toEqual(Buffer.from(a));
      }),
    );
  });

  it("refuses bad lengths, characters and overflowing groups", () => {
    expect(() => z85Decode("Hell")).toThrow(TypeError);
    expect(() => z85Decode("Hell~")).toThrow(TypeError);
    expect(() => z85Decode("#####")).toThrow(TypeError);
    expect(() => z85Encode(new Uint8Array(3))).toThrow(TypeError);
  });
});

describe("NaCl composition on @noble", () => {
  it("crypto_box_beforenm matches NaCl's published vector (alice's secret, bob's public)", () => {
    // NaCl tests/box.c keys (also RFC 7748 §6.1); the shared key is the "firstkey" of tests/secretbox.c.
    const aliceSecret = hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
    const bobPublic = hex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
    expect(Buffer.from(boxBeforeNm(bobPublic, aliceSecret)!).toString("hex")).toBe("1b27556473e985d462cd51197a9a46c76009549eac6474f206c4ee0844f68389");
  });
});

describe("libsodium and @noble give the same boxes", () => {
  it("seals identically and each opens the other's, tampering refused by both", async () => {
    expect(await curveAccelerated()).toBe(true);
    try {
      fc.assert(
        fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ minLength: 24, maxLength: 24 }), fc.uint8Array({ maxLength: 2000 }), (key, nonce, plain) => {
          useCurveAcceleration(true);
          const fast = boxSeal(key, nonce, plain);
          useCurveAcceleration(false);
          const slow = boxSeal(key, nonce, plain);
          expect(Buffer.from(fast)).toEqual(Buffer.from(slow));
          expect(Buffer.from(boxOpen(key, nonce, fast)!)).toEqual(Buffer.from(plain));
          const bad = Uint8Array.from(fast);
          bad[0]! ^= 1;
          expect(boxOpen(key, nonce, bad)).toBeUndefined();
          useCurveAcceleration(true);
          expect(Buffer.from(boxOpen(key, nonce, slow)!)).toEqual(Buffer.from(plain));
          expect(boxOpen(key, nonce, bad)).toBeUndefined();
        }),
        { numRuns: 200 },
      );
    } finally {
      useCurveAcceleration(true);
    }
  });

  it("the handshake and messages work on the pure-JS path too", () => {
    useCurveAcceleration(false);
    try {
      const { a, rb, ra } = curvePair({}, {});
      expect([...ra.errors, ...rb.errors]).toEqual([]);
      a.sendMessage([Buffer.from("no wasm")]);
      expect(rb.messages.map(str)).toEqual([["no wasm"]]);
    } finally {
      useCurveAcceleration(true);
    }
  });
});

describe("CURVE engine to engine", () => {
  it("completes the handshake, names the client by its Z85 key, and carries messages, subscriptions and pings encrypted", () => {
    const { a, b, ra, rb, clientKeys } = curvePair({}, {});
    expect(ra.errors).toEqual([]);
    expect(rb.errors).toEqual([]);
    expect(ra.peer).toMatchObject({ socketType: "ROUTER", mechanism: "CURVE" });
    expect(rb.peer).toMatchObject({ socketType: "DEALER", mechanism: "CURVE", userId: clientKeys.publicKey });
    const handshake = ra.sent.length;
    a.sendMessage([Buffer.from("secret-one"), Buffer.alloc(0), Buffer.alloc(300, 7)]);
    b.sendMessage([Buffer.from("reply")]);
    a.sendPing(1500, Buffer.from("ctx"));
    expect(rb.messages.map((m) => m.map((f) => f.length))).toEqual([[10, 0, 300]]);
    expect(str(rb.messages[0]!.slice(0, 1))).toEqual(["secret-one"]);
    expect(ra.messages.map(str)).toEqual([["reply"]]);
    expect(rb.pings).toEqual([{ ttlMs: 1500, context: "ctx" }]);
    expect(ra.pongs).toEqual(["ctx"]);
    const after = Buffer.concat(ra.sent.slice(handshake));
    expect(after.includes("secret-one")).toBe(false);
    expect(after.includes("PING")).toBe(false);
  });

  it("sends MESSAGE in plain message frames (no COMMAND flag), as libzmq does", () => {
    const { a, ra } = curvePair({}, {});
    const before = ra.bytes.length;
    a.sendMessage([Buffer.from("x")]);
    const frames = framesOf(Buffer.concat([Buffer.alloc(64), ra.bytes.subarray(before)]));
    expect(frames).toHaveLength(1);
    expect(frames[0]!.flags).toBe(0);
    expect(frames[0]!.body.subarray(0, 8).toString("latin1")).toBe("\x07MESSAGE");
    // Client counters: HELLO 1, INITIATE 2, so the first MESSAGE is 3.
    expect(frames[0]!.body.readBigUInt64BE(8)).toBe(3n);
    expect(frames[0]!.body.length).toBe(16 + 16 + 1 + 1);
  });

  it("works fed one byte at a time", () => {
    const { a, b, ra, rb } = curvePair({}, {}, "bytewise");
    expect([...ra.errors, ...rb.errors]).toEqual([]);
    a.sendMessage([Buffer.from("slow")]);
    b.sendMessage([Buffer.from("path")]);
    expect(rb.messages.map(str)).toEqual([["slow"]]);
    expect(ra.messages.map(str)).toEqual([["path"]]);
  });

  it("a client with the wrong server key: the server fails with ZMTP_CURVE_CRYPTO and sends nothing back", () => {
    const { ra, rb } = curvePair({}, { serverKey: curveKeyPair().publicKey });
    expect(rb.errors.map((e) => e.code)).toEqual(["ZMTP_CURVE_CRYPTO"]);
    // Only the greeting went back to the client: no WELCOME, no ERROR.
    expect(rb.bytes.length).toBe(64);
    expect(ra.peer).toBeUndefined();
  });

  it("the client reports a server that hangs up after HELLO as ZMTP_CURVE_REJECTED", () => {
    const keys = curveKeyPair();
    const r = new Recorder();
    const e = new ZmtpEngine({ socketType: "DEALER", mechanism: { type: "CURVE", serverKey: keys.publicKey } }, r);
    e.start();
    e.push(encodeGreeting({ mechanism: "CURVE", asServer: true }));
    e.end();
    expect(r.errors.map((x) => x.code)).toEqual(["ZMTP_CURVE_REJECTED"]);
  });

  it("an asynchronous authorizer sees the client key and its refusal reaches the client as ZMTP_AUTH_FAILED", async () => {
    const keys = curveKeyPair();
    const seen: string[] = [];
    const { ra, rb, clientKeys } = curvePair(
      {
        keys,
        mechanism: {
          type: "CURVE",
          server: true,
          secretKey: keys.secretKey,
          authorize: async ({ publicKey }) => {
            seen.push(publicKey);
            await new Promise((r) => setTimeout(r, 5));
            return false;
          },
        },
      },
      {},
    );
    await ra.until(() => ra.errors.length > 0 && rb.errors.length > 0, "both sides failed");
    expect(seen).toEqual([clientKeys.publicKey]);
    expect(rb.errors[0]?.code).toBe("ZMTP_AUTH_FAILED");
    expect(ra.errors[0]?.code).toBe("ZMTP_AUTH_FAILED");
  });

  it("an authorizer accepting the key lets the client in", async () => {
    const keys = curveKeyPair();
    const { ra, rb } = curvePair(
      { keys, mechanism: { type: "CURVE", server: true, secretKey: keys.secretKey, authorize: () => Promise.resolve(true) } },
      {},
    );
    await ra.until(() => ra.peer !== undefined && rb.peer !== undefined, "ready");
    expect([...ra.errors, ...rb.errors]).toEqual([]);
  });

  it("refuses a replayed MESSAGE with ZMTP_CURVE_NONCE and a tampered one with ZMTP_CURVE_CRYPTO", () => {
    for (const attack of ["replay", "tamper"] as const) {
      const { a, ra, rb, b } = curvePair({}, {});
      ra.forward = undefined; // cut the wire: we deliver by hand
      const before = ra.bytes.length;
      a.sendMessage([Buffer.from("one")]);
      const frame = Buffer.from(ra.bytes.subarray(before));
      b.push(frame);
      expect(rb.messages.map(str)).toEqual([["one"]]);
      if (attack === "tamper") {
        a.sendMessage([Buffer.from("two")]);
        const second = Buffer.from(ra.bytes.subarray(before + frame.length));
        second[second.length - 1]! ^= 1;
        b.push(second);
        expect(rb.errors.map((e) => e.code)).toEqual(["ZMTP_CURVE_CRYPTO"]);
      } else {
        b.push(frame);
        expect(rb.errors.map((e) => e.code)).toEqual(["ZMTP_CURVE_NONCE"]);
      }
    }
  });

  it("refuses a plaintext frame after the handshake, and a malformed HELLO", () => {
    const { ra, rb, b } = curvePair({}, {});
    ra.forward = undefined;
    void rb;
    b.push(Buffer.from([0x00, 0x05, ...Buffer.from("plain")]));
    expect(rb.errors.map((e) => e.code)).toEqual(["ZMTP_UNEXPECTED_COMMAND"]);

    const keys = curveKeyPair();
    const r = new Recorder();
    const server = new ZmtpEngine({ socketType: "ROUTER", mechanism: { type: "CURVE", server: true, secretKey: keys.secretKey } }, r);
    server.start();
    const shortHello = Buffer.concat([Buffer.from([0x04, 6 + 10]), Buffer.from("\x05HELLO", "latin1"), Buffer.alloc(10)]);
    server.push(Buffer.concat([encodeGreeting({ mechanism: "CURVE", asServer: false }), shortHello]));
    expect(r.errors.map((e) => e.code)).toEqual(["ZMTP_MALFORMED_COMMAND"]);
  });

  it("enforces maxMessageSize on the decrypted message, over several wrapped frames", () => {
    const { a, rb } = curvePair({ maxMessageSize: 100 }, {});
    a.sendMessage([Buffer.alloc(100)]);
    expect(rb.messages).toHaveLength(1);
    a.sendMessage([Buffer.alloc(60), Buffer.alloc(60)]);
    expect(rb.errors.map((e) => e.code)).toEqual(["ZMTP_MESSAGE_TOO_LARGE"]);
  });

  it("rejects keys that are not keys when the engine is built", () => {
    expect(() => new ZmtpEngine({ socketType: "DEALER", mechanism: { type: "CURVE", serverKey: "short" } }, new Recorder())).toThrowError(
      expect.objectContaining({ code: "ZMTP_INVALID_OPTION" }) as Error,
    );
    const k = curveKeyPair();
    const other = curveKeyPair();
    expect(
      () => new ZmtpEngine({ socketType: "ROUTER", mechanism: { type: "CURVE", server: true, secretKey: k.secretKey, publicKey: other.publicKey } }, new Recorder()),
    ).toThrowError(expect.objectContaining({ code: "ZMTP_INVALID_OPTION" }) as Error);
    expect(new CurveClientMechanism({ serverKey: k.publicKey, secretKey: k.secretKey }).publicKey).toBe(k.publicKey);
  });

  it("framing round-trips any frame and counts nonces up from where the handshake left them", () => {
    const key = new Uint8Array(32).fill(9);
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 5 }), fc.uint8Array({ maxLength: 300 })), { maxLength: 20 }), (frames) => {
        const tx = new CurveFraming(key, false, 3, 1);
        const rx = new CurveFraming(key, true, 2, 2);
        for (const [flags, body] of frames) {
          const got = rx.unwrap(Buffer.from(tx.wrap(flags, body)), 0);
          expect(got.flags).toBe(flags & 0x05);
          expect(got.body).toEqual(Buffer.from(body));
        }
      }),
    );
  });
});

describe("CURVE, hostile input", () => {
  const keys = curveKeyPair();
  /** Frames a command body (short or long form). */
  const command = (body: Buffer): Buffer => {
    if (body.length <= 255) return Buffer.concat([Buffer.from([0x04, body.length]), body]);
    const header = Buffer.alloc(9);
    header[0] = 0x06; // COMMAND | LONG
    header.writeBigUInt64BE(BigInt(body.length), 1);
    return Buffer.concat([header, body]);
  };

  it("never throws on arbitrary or mutated commands, either role, and every error carries a ZMTP_ code", () => {
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.constantFrom("HELLO", "WELCOME", "INITIATE", "READY", "MESSAGE", "ERROR"),
        fc.uint8Array({ maxLength: 400 }),
        fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 4 }),
        fc.boolean(),
        (server, name, data, tail, end) => {
          const r = new Recorder();
          const e = new ZmtpEngine(
            server
              ? { socketType: "ROUTER", mechanism: { type: "CURVE", server: true, secretKey: keys.secretKey } }
              : { socketType: "DEALER", mechanism: { type: "CURVE", serverKey: keys.publicKey } },
            r,
          );
          e.start();
          e.push(encodeGreeting({ mechanism: "CURVE", asServer: !server }));
          const body = Buffer.concat([Buffer.from([name.length]), Buffer.from(name, "latin1"), data]);
          e.push(command(body));
          for (const c of tail) e.push(c);
          if (end) e.end();
          expect(r.errors.length).toBeLessThanOrEqual(1);
          for (const err of r.errors) expect(err.code).toMatch(/^ZMTP_[A-Z_]+$/);
          expect(r.peer).toBeUndefined();
        },
      ),
      { numRuns: 400 },
    );
  });
});
