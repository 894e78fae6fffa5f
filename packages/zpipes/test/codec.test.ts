import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { DecodeError } from "@vtx/runtime/errors";
import { decode, encode, encodeReadOk, encodeWrite, encodeWriteGather, MAX_CHUNK, MSG, writeReadOkHeader } from "../src/codec/index.js";
import type { ZpipesMessage } from "../src/codec/index.js";

const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");
const bytes = (h: string): Buffer => Buffer.from(h.replace(/\s+/g, ""), "hex");

function decodeError(frame: Uint8Array, maxChunk?: number): DecodeError {
  try {
    decode(frame, maxChunk === undefined ? undefined : { maxChunk });
  } catch (err) {
    expect(err).toBeInstanceOf(DecodeError);
    return err as DecodeError;
  }
  throw new Error(`decoded ${hex(frame)} without error`);
}

describe("ZPIPES codec: golden frames captured from the original broker", () => {
  const golden: [string, ZpipesMessage][] = [
    ["aaa005", { type: "OUTPUT_OK" }],
    ["aaa00300", { type: "INPUT_FAILED", reason: "" }],
    ["aaa00800000003 68656c", { type: "READ_OK", chunk: Buffer.from("hel") }],
    ["aaa009", { type: "READ_END" }],
    ["aaa015", { type: "INVALID" }],
    ["aaa014", { type: "PING_OK" }],
  ];
  for (const [h, msg] of golden) {
    it(`encodes ${msg.type} as ${h}`, () => {
      expect(hex(encode(msg))).toBe(h.replace(/\s+/g, ""));
    });
    it(`decodes ${h} as ${msg.type}`, () => {
      const got = decode(bytes(h));
      expect(got.type).toBe(msg.type);
      if ("chunk" in msg && "chunk" in got) expect(hex(got.chunk)).toBe(hex(msg.chunk));
      if ("reason" in msg && "reason" in got) expect(got.reason).toBe(msg.reason);
    });
  }

  it("lays out every message with fields in ABNF order", () => {
    expect(hex(encode({ type: "INPUT", pipename: "ab" }))).toBe("aaa001026162");
    expect(hex(encode({ type: "OUTPUT", pipename: "ab" }))).toBe("aaa004026162");
    expect(hex(encode({ type: "READ", size: 0x01020304, timeout: 0x0a0b0c0d }))).toBe("aaa007010203040a0b0c0d");
    expect(hex(encode({ type: "WRITE", chunk: Buffer.from("hi"), timeout: 5 }))).toBe("aaa00c00000002686900000005");
    expect(hex(encode({ type: "CLOSE_FAILED", reason: "x" }))).toBe("aaa0120178");
    for (const [name, id] of Object.entries(MSG)) {
      expect(encode(sample(name as ZpipesMessage["type"]))[2]).toBe(id);
    }
  });

  it("ignores trailing octets after the last field, as the original does", () => {
    expect(decode(bytes("aaa014ffff"))).toEqual({ type: "PING_OK" });
    expect(decode(bytes("aaa0070000000100000002 99"))).toEqual({ type: "READ", size: 1, timeout: 2 });
  });

  it("turns a WRITE frame into a READ_OK frame in place", () => {
    const w = encodeWrite(Buffer.from("hello"), 77);
    writeReadOkHeader(w, 5);
    expect(hex(w.subarray(0, 12))).toBe(hex(encodeReadOk(Buffer.from("hello"))));
  });
});

describe("ZPIPES codec: bad input fails with a code, an offset and a state", () => {
  const cases: [string, string, string, number, string][] = [
    ["the empty frame", "", "ZPIPES_TRUNCATED", 0, "signature"],
    ["one octet", "aa", "ZPIPES_TRUNCATED", 1, "signature"],
    ["a bad first signature octet", "bba014", "ZPIPES_BAD_SIGNATURE", 0, "signature"],
    ["a bad second signature octet", "aaa114", "ZPIPES_BAD_SIGNATURE", 1, "signature"],
    ["no id", "aaa0", "ZPIPES_TRUNCATED", 2, "id"],
    ["id 0", "aaa000", "ZPIPES_UNKNOWN_ID", 2, "id"],
    ["id 22", "aaa016", "ZPIPES_UNKNOWN_ID", 2, "id"],
    ["id 255", "aaa0ff", "ZPIPES_UNKNOWN_ID", 2, "id"],
    ["INPUT without a length", "aaa001", "ZPIPES_TRUNCATED", 3, "pipename"],
    ["INPUT with a short name", "aaa0010561", "ZPIPES_TRUNCATED", 5, "pipename"],
    ["INPUT_FAILED without a reason", "aaa003", "ZPIPES_TRUNCATED", 3, "reason"],
    ["READ without a timeout", "aaa00700000001", "ZPIPES_TRUNCATED", 7, "timeout"],
    ["READ with half a size", "aaa0070000", "ZPIPES_TRUNCATED", 5, "size"],
    ["WRITE with half a length", "aaa00c00", "ZPIPES_TRUNCATED", 4, "chunk-length"],
    ["WRITE with a short chunk", "aaa00c00000005 6869", "ZPIPES_TRUNCATED", 9, "chunk"],
    ["WRITE without a timeout", "aaa00c00000002 6869 0000", "ZPIPES_TRUNCATED", 11, "timeout"],
    ["READ_OK with a short chunk", "aaa00800000003 68", "ZPIPES_TRUNCATED", 8, "chunk"],
    ["WRITE claiming a 4 GiB chunk", "aaa00cffffffff", "ZPIPES_CHUNK_TOO_LONG", 3, "chunk-length"],
  ];
  for (const [what, h, code, offset, state] of cases) {
    it(`rejects ${what} with ${code}`, () => {
      const err = decodeError(bytes(h));
      expect(err.code).toBe(code);
      expect(err.offset).toBe(offset);
      expect(err.state).toBe(state);
    });
  }

  it("bounds chunks by the configured maxChunk", () => {
    const frame = encodeWrite(Buffer.alloc(100), 0);
    expect(decode(frame, { maxChunk: 100 }).type).toBe("WRITE");
    expect(decodeError(frame, 99).code).toBe("ZPIPES_CHUNK_TOO_LONG");
    expect(MAX_CHUNK).toBeGreaterThanOrEqual(1 << 20);
  });

  it("never throws anything but a DecodeError, whatever the bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.boolean(), (raw, signed) => {
        const frame = signed && raw.length >= 2 ? Uint8Array.from([0xaa, 0xa0, ...raw.subarray(2)]) : raw;
        try {
          decode(frame, { maxChunk: 32 });
        } catch (err) {
          expect(err).toBeInstanceOf(DecodeError);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it("refuses to encode what the wire cannot carry", () => {
    expect(() => encode({ type: "INPUT", pipename: "x".repeat(256) })).toThrow(expect.objectContaining({ code: "ZPIPES_STRING_TOO_LONG" }));
    expect(() => encode({ type: "READ", size: -1, timeout: 0 })).toThrow(expect.objectContaining({ code: "ZPIPES_BAD_NUMBER" }));
    expect(() => encode({ type: "READ", size: 1, timeout: 2 ** 32 })).toThrow(expect.objectContaining({ code: "ZPIPES_BAD_NUMBER" }));
  });
});

describe("ZPIPES codec: round trips", () => {
  const u32 = fc.integer({ min: 0, max: 0xffffffff });
  const str = fc.string({ maxLength: 80, unit: "grapheme" }).filter((s) => Buffer.byteLength(s) <= 255);
  const chunk = fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a));
  const arbMessage: fc.Arbitrary<ZpipesMessage> = fc.oneof(
    fc.record({ type: fc.constantFrom("INPUT" as const, "OUTPUT" as const), pipename: str }),
    fc.record({
      type: fc.constantFrom("INPUT_FAILED" as const, "OUTPUT_FAILED" as const, "READ_FAILED" as const, "WRITE_FAILED" as const, "CLOSE_FAILED" as const),
      reason: str,
    }),
    fc.record({ type: fc.constant("READ" as const), size: u32, timeout: u32 }),
    fc.record({ type: fc.constant("READ_OK" as const), chunk }),
    fc.record({ type: fc.constant("WRITE" as const), chunk, timeout: u32 }),
    fc.record({
      type: fc.constantFrom(
        "INPUT_OK" as const, "OUTPUT_OK" as const, "READ_END" as const, "READ_TIMEOUT" as const, "WRITE_OK" as const,
        "WRITE_TIMEOUT" as const, "CLOSE" as const, "CLOSE_OK" as const, "PING" as const, "PING_OK" as const, "INVALID" as const,
      ),
    }),
  );

  it("decode(encode(m)) equals m for every message", () => {
    fc.assert(
      fc.property(arbMessage, (m) => {
        expect(decode(encode(m))).toEqual(m);
      }),
      { numRuns: 3000 },
    );
  });

  it("encode(decode(frame)) gives the frame back for every well-formed frame", () => {
    fc.assert(
      fc.property(arbMessage, (m) => {
        const frame = encode(m);
        expect(hex(encode(decode(frame)))).toBe(hex(frame));
      }),
      { numRuns: 1000 },
    );
  });

  it("a gathered WRITE equals the WRITE of the concatenated parts", () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 50 }), { maxLength: 6 }), u32, (parts, timeout) => {
        expect(hex(encodeWriteGather(parts, timeout))).toBe(hex(encodeWrite(Buffer.concat(parts), timeout)));
      }),
    );
  });

  it("any strict prefix of a frame with fields is a TRUNCATED error", () => {
    fc.assert(
      fc.property(arbMessage, fc.nat(), (m, cut) => {
        const frame = encode(m);
        if (frame.length <= 3) return;
        const n = cut % frame.length;
        const prefix = frame.subarray(0, n);
        if (n >= 3 && m.type !== "WRITE" && m.type !== "READ_OK" && m.type !== "READ" && !("reason" in m) && !("pipename" in m)) return;
        expect(decodeError(prefix).code).toBe("ZPIPES_TRUNCATED");
      }),
      { numRuns: 1000 },
    );
  });
});

function sample(type: ZpipesMessage["type"]): ZpipesMessage {
  switch (type) {
    case "INPUT":
    case "OUTPUT":
      return { type, pipename: "p" };
    case "INPUT_FAILED":
    case "OUTPUT_FAILED":
    case "READ_FAILED":
    case "WRITE_FAILED":
    case "CLOSE_FAILED":
      return { type, reason: "r" };
    case "READ":
      return { type, size: 1, timeout: 0 };
    case "READ_OK":
      return { type, chunk: Buffer.from("x") };
    case "WRITE":
      return { type, chunk: Buffer.from("x"), timeout: 0 };
    default:
      return { type };
  }
}
