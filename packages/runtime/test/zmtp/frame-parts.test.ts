/**
 * One frame from several parts: `encodeFrameChunks` (gather list for a
 * writev/cork) and the engine's `sendFrameParts`, which ZPIPES uses to send
 * a WRITE's header, payload and trailer without building the frame body.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ZmtpEngine, encodeFrameChunks, encodeMessage, type ZmtpEngineOptions } from "../../src/zmtp/index.js";
import { Recorder, enginePair, rawNullPeer, wire } from "./helpers/engine-harness.js";

/** A part: a fresh array, or a view into the middle of a larger one (non-zero byteOffset). */
const partArb = (arb: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Uint8Array> =>
  fc.oneof(
    arb,
    fc.tuple(arb, fc.nat({ max: 7 }), fc.nat({ max: 7 })).map(([body, before, after]) => {
      const backing = new Uint8Array(before + body.length + after).fill(0xee);
      backing.set(body, before);
      return backing.subarray(before, before + body.length);
    }),
    arb.map((body) => Buffer.from(body)),
  );

const sizedPart = partArb(
  fc.oneof(
    { weight: 4, arbitrary: fc.uint8Array({ maxLength: 40 }) },
    { weight: 2, arbitrary: fc.uint8Array({ minLength: 120, maxLength: 140 }) },
    { weight: 2, arbitrary: fc.uint8Array({ minLength: 250, maxLength: 260 }) },
    { weight: 1, arbitrary: fc.uint8Array({ minLength: 0, maxLength: 3000 }) },
  ),
);

/** Parts whose total is 250..262 bytes: the short/long header boundary (255/256). */
const boundaryParts: fc.Arbitrary<Uint8Array[]> = fc
  .tuple(fc.integer({ min: 250, max: 262 }), fc.array(fc.nat({ max: 262 }), { maxLength: 5 }), fc.nat({ max: 255 }))
  .map(([total, cuts, fill]) => {
    const whole = new Uint8Array(total).map((_, i) => (i + fill) & 0xff);
    const points = [...new Set(cuts.map((c) => Math.min(c, total)))].sort((a, b) => a - b);
    const parts: Uint8Array[] = [];
    let at = 0;
    for (const p of [...points, total]) {
      parts.push(whole.subarray(at, p));
      at = p;
    }
    return parts;
  });

const partsArb = fc.oneof(fc.array(sizedPart, { maxLength: 6 }), boundaryParts);
const thresholdArb = fc.oneof(fc.constantFrom(0, 1, 255, 256, 32 * 1024), fc.integer({ min: 1, max: 600 }));

const concat = (parts: readonly Uint8Array[]): Buffer => Buffer.concat(parts.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength)));

/** True when `a` and `b` share at least one byte of memory. */
function overlaps(a: Uint8Array, b: Uint8Array): boolean {
  if (a.buffer !== b.buffer || a.length === 0 || b.length === 0) return false;
  return a.byteOffset < b.byteOffset + b.length && b.byteOffset < a.byteOffset + a.length;
}

describe("encodeFrameChunks", () => {
  it("concatenated, equals encodeMessage([concat(parts)]) for any parts and threshold", () => {
    fc.assert(
      fc.property(partsArb, thresholdArb, (parts, threshold) => {
        const chunks = encodeFrameChunks(parts, threshold);
        expect(Buffer.concat(chunks).toString("hex")).toBe(encodeMessage([concat(parts)]).toString("hex"));
        for (const c of chunks) expect(Buffer.isBuffer(c)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it("returns parts of at least `threshold` bytes by reference and copies the smaller ones", () => {
    fc.assert(
      fc.property(partsArb, thresholdArb, (parts, threshold) => {
        const chunks = encodeFrameChunks(parts, threshold);
        for (const p of parts) {
          if (p.length === 0) continue;
          if (p.length >= threshold) {
            // The very bytes of the part: same ArrayBuffer, same offset, same length.
            const same = chunks.filter((c) => c.buffer === p.buffer && c.byteOffset === p.byteOffset && c.length === p.length);
            expect(same.length).toBeGreaterThanOrEqual(1);
          } else {
            for (const c of chunks) expect(overlaps(c, p)).toBe(false);
          }
        }
        // Nothing but the part itself may share its memory (a small part is never a view of a big one).
        const refs = parts.filter((p) => p.length > 0 && p.length >= threshold);
        for (const c of chunks) {
          const isRef = refs.some((p) => c.buffer === p.buffer && c.byteOffset === p.byteOffset && c.length === p.length);
          if (!isRef) for (const p of refs) expect(overlaps(c, p)).toBe(false);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("keeps big parts by reference: changing one afterwards changes the output, changing a copied one does not", () => {
    const head = Buffer.from("head");
    const big = Buffer.alloc(40_000, 1);
    const tail = Buffer.from("tail");
    const chunks = encodeFrameChunks([head, big, tail]);
    big[0] = 2;
    head[0] = 0x48; // 'H'
    const out = Buffer.concat(chunks);
    expect(out.length).toBe(9 + 4 + 40_000 + 4);
    expect(out.subarray(9, 13).toString()).toBe("head");
    expect(out[13]).toBe(2);
  });

  it("uses a 2-byte header up to 255 bytes of body and a 9-byte one from 256, whatever the split", () => {
    const short = Buffer.concat(encodeFrameChunks([new Uint8Array(100), new Uint8Array(155)], 1000));
    expect([short[0], short[1], short.length]).toEqual([0, 255, 257]);
    const long = Buffer.concat(encodeFrameChunks([new Uint8Array(100), new Uint8Array(156)], 1000));
    expect(long[0]).toBe(0x02);
    expect(long.readBigUInt64BE(1)).toBe(256n);
    expect(long.length).toBe(9 + 256);
  });

  it("encodes no parts and empty parts as an empty frame", () => {
    expect([...Buffer.concat(encodeFrameChunks([]))]).toEqual([0, 0]);
    expect([...Buffer.concat(encodeFrameChunks([new Uint8Array(0), new Uint8Array(0)], 0))]).toEqual([0, 0]);
  });
});

/** An engine made READY by a hand-written PULL peer, its output recorded (and gathered writes apart, when `sendv`). */
function readyPush(options: Partial<ZmtpEngineOptions>, withSendv: boolean): { e: ZmtpEngine; r: Recorder; gathered: Buffer[][]; handshake: number } {
  const r = new Recorder();
  const gathered: Buffer[][] = [];
  const sink = withSendv
    ? Object.assign(r, {
        sendv: (chunks: Buffer[]) => {
          gathered.push(chunks);
          r.sent.push(Buffer.concat(chunks));
        },
      })
    : r;
  const e = new ZmtpEngine({ socketType: "PUSH", ...options }, sink);
  e.start();
  e.push(rawNullPeer("PULL"));
  expect(e.state).toBe("ready");
  return { e, r, gathered, handshake: r.sent.length };
}

describe("ZmtpEngine.sendFrameParts", () => {
  for (const withSendv of [false, true]) {
    for (const batchSize of [0, 1024]) {
      it(`delivers one frame equal to the concatenation to a peer engine (${withSendv ? "sendv sink" : "send only"}, batchSize ${batchSize})`, async () => {
        const ra = new Recorder();
        const rb = new Recorder();
        const b = new ZmtpEngine({ socketType: "PULL" }, rb);
        const sink = withSendv ? Object.assign(ra, { sendv: (chunks: Buffer[]) => ra.send(Buffer.concat(chunks)) }) : ra;
        const a = new ZmtpEngine({ socketType: "PUSH", batchSize, copyThreshold: 1024 }, sink);
        ra.forward = wire(b);
        rb.forward = wire(a);
        a.start();
        b.start();
        await ra.until(() => ra.peer !== undefined && rb.peer !== undefined, "both ready");
        const messages: Uint8Array[][] = [
          [Buffer.from("a")],
          [],
          [Buffer.from("head"), new Uint8Array(0), Buffer.from("tail")],
          [Buffer.from("hdr"), Buffer.alloc(5000, 7), Buffer.from("trl")], // big part: by reference with sendv
          [new Uint8Array(128), new Uint8Array(128)], // 256: a long header
          [Buffer.alloc(300, 1), Buffer.alloc(300, 2)], // over batchSize/2: not batched
        ];
        for (const m of messages) a.sendFrameParts(m);
        a.flush();
        await rb.until(() => rb.messages.length === messages.length, `${messages.length} messages at the peer`);
        expect(rb.messages.map((m) => m.length)).toEqual(messages.map(() => 1));
        expect(rb.messages.map((m) => m[0]!.toString("hex"))).toEqual(messages.map((m) => concat(m).toString("hex")));
        expect([...ra.errors, ...rb.errors]).toEqual([]);
      });
    }
  }

  it("with a sendv sink, hands big parts by reference and small messages to send", () => {
    const { e, r, gathered, handshake } = readyPush({ copyThreshold: 1024 }, true);
    const big = Buffer.alloc(4096, 3);
    e.sendFrameParts([Buffer.from("x"), Buffer.from("y")]);
    expect(gathered).toHaveLength(0);
    expect(r.sent.slice(handshake)).toEqual([encodeMessage([Buffer.from("xy")])]);
    e.sendFrameParts([Buffer.from("head"), big, Buffer.from("tail")]);
    expect(gathered).toHaveLength(1);
    expect(gathered[0]).toContain(big);
    expect(Buffer.concat(gathered[0]!)).toEqual(encodeMessage([Buffer.concat([Buffer.from("head"), big, Buffer.from("tail")])]));
    // Total over the threshold though every part is small: gathered too, nothing by reference.
    const smalls = Array.from({ length: 4 }, (_, i) => Buffer.alloc(300, i));
    e.sendFrameParts(smalls);
    expect(gathered).toHaveLength(2);
    expect(Buffer.concat(gathered[1]!)).toEqual(encodeMessage([Buffer.concat(smalls)]));
    for (const c of gathered[1]!) for (const s of smalls) expect(overlaps(c, s)).toBe(false);
  });

  it("with batching, keeps small frames until flush and flushes them before a gathered frame (bytes stay in order)", () => {
    const { e, r, gathered, handshake } = readyPush({ copyThreshold: 1024, batchSize: 4096 }, true);
    e.sendFrameParts([Buffer.from("a"), Buffer.from("b")]);
    e.sendMessage([Buffer.from("c")]);
    expect(r.sent.length).toBe(handshake);
    const big = Buffer.alloc(2048, 9);
    e.sendFrameParts([Buffer.from("h"), big]);
    expect(r.sent.slice(handshake)).toEqual([
      Buffer.concat([encodeMessage([Buffer.from("ab")]), encodeMessage([Buffer.from("c")])]),
      encodeMessage([Buffer.concat([Buffer.from("h"), big])]),
    ]);
    expect(gathered).toHaveLength(1);
    e.sendFrameParts([Buffer.from("d")]);
    expect(r.sent.length).toBe(handshake + 2);
    e.flush();
    expect(r.sent.slice(handshake + 2)).toEqual([encodeMessage([Buffer.from("d")])]);
  });

  it("produces the byte stream of sendMessage([concat]) for any parts, threshold, batching and sink", () => {
    fc.assert(
      fc.property(
        fc.array(partsArb, { minLength: 1, maxLength: 6 }),
        fc.integer({ min: 1, max: 2048 }),
        fc.constantFrom(0, 64, 1024),
        fc.boolean(),
        (messages, copyThreshold, batchSize, withSendv) => {
          const plain = readyPush({}, false);
          const parts = readyPush({ copyThreshold, batchSize }, withSendv);
          for (const m of messages) {
            plain.e.sendMessage([concat(m)]);
            parts.e.sendFrameParts(m);
          }
          parts.e.flush();
          expect(parts.r.bytes.equals(plain.r.bytes)).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("throws ZMTP_NOT_READY before the handshake is done and after close", () => {
    const notReady = expect.objectContaining({ code: "ZMTP_NOT_READY" });
    const r = new Recorder();
    const e = new ZmtpEngine({ socketType: "PUSH" }, r);
    expect(() => e.sendFrameParts([Buffer.from("x")])).toThrow(notReady);
    e.start();
    expect(() => e.sendFrameParts([Buffer.from("x")])).toThrow(notReady);
    expect(() => e.sendFrameParts([Buffer.alloc(64 * 1024)])).toThrow(notReady);
    const sent = r.sent.length;
    e.push(rawNullPeer("PULL"));
    e.sendFrameParts([Buffer.from("ok")]);
    expect(r.sent.length).toBeGreaterThan(sent);
    e.close();
    expect(() => e.sendFrameParts([Buffer.from("x")])).toThrow(notReady);
    expect(r.errors).toEqual([]);
  });

  it("works through a pair built by the harness (DEALER ↔ ROUTER), in both directions", async () => {
    const { a, b, ra, rb } = enginePair({ socketType: "DEALER" }, { socketType: "ROUTER" }, "bytewise");
    await ra.until(() => ra.peer !== undefined && rb.peer !== undefined, "both ready");
    a.sendFrameParts([Buffer.from([0xaa, 0xa0, 0x0c]), Buffer.alloc(700, 5), Buffer.from([0, 0, 0, 0])]);
    b.sendFrameParts([Buffer.from([0xaa, 0xa0, 0x0d])]);
    await rb.until(() => rb.messages.length === 1 && ra.messages.length === 1, "one message each way");
    expect(rb.messages[0]!.map((f) => f.length)).toEqual([707]);
    expect(ra.messages[0]![0]!.toString("hex")).toBe("aaa00d");
  });
});
