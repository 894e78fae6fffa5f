import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { DecodeError } from "@vtx/runtime/errors";
import { decodeCluster, encodeCluster, type ClusterMessage } from "../../src/cluster/messages.js";

const b = (s: string): Buffer => Buffer.from(s);
const hex = (h: string): Buffer => Buffer.from(h, "hex");
const xfer = hex("0102030405060708");
const readOk = (chunk: string | Uint8Array): Buffer => {
  const c = Buffer.from(chunk as string);
  const f = Buffer.alloc(7 + c.length);
  f.set([0xaa, 0xa0, 0x08], 0);
  f.writeUInt32BE(c.length, 3);
  c.copy(f, 7);
  return f;
};

function codeOf(frames: Buffer[]): { code: string; offset: number; state: string } {
  try {
    decodeCluster(frames);
  } catch (err) {
    if (err instanceof DecodeError) return { code: err.code, offset: err.offset, state: err.state };
    throw err;
  }
  throw new Error("expected a DecodeError");
}

describe("inter-broker messages", () => {
  it("keeps the original's first frames: [command][pipename] (+ [data] for DATA)", () => {
    expect(encodeCluster({ type: "HAVE WRITER", pipe: "p" }).map(String)).toEqual(["HAVE WRITER", "p"]);
    const data = encodeCluster({ type: "DATA", pipe: "p", readOk: readOk("xyz"), xfer, seq: 258 });
    expect(data.slice(0, 2).map(String)).toEqual(["DATA", "p"]);
    // The data frame is the chunk as a ZPIPES READ_OK frame (AA A0 08, length, chunk).
    expect(data.slice(2).map((f) => f.toString("hex"))).toEqual(["aaa00800000003" + b("xyz").toString("hex"), "0102030405060708", "00000102"]);
    expect(encodeCluster({ type: "DROP READER", pipe: "p", xfer, reason: "" }).map((f) => f.toString("hex"))).toEqual([
      b("DROP READER").toString("hex"),
      "70",
      "0102030405060708",
      "",
    ]);
  });

  it("reads a bare original HAVE READER (no window frame) as window 0 = the receiver's default", () => {
    expect(decodeCluster([b("HAVE READER"), b("p")])).toEqual({ type: "HAVE READER", pipe: "p", window: 0 });
  });

  it("rejects crafted bad input with stable codes", () => {
    expect(codeOf([])).toMatchObject({ code: "CLUSTER_MISSING_FRAME", offset: 0 });
    expect(codeOf([b("DUMP"), b("p")])).toMatchObject({ code: "CLUSTER_UNKNOWN_COMMAND", offset: 0 });
    expect(codeOf([b("DATA")])).toMatchObject({ code: "CLUSTER_MISSING_FRAME", offset: 1, state: "pipename" });
    expect(codeOf([b("DATA"), b("")])).toMatchObject({ code: "CLUSTER_BAD_FIELD", offset: 1 });
    expect(codeOf([b("DATA"), b("x".repeat(256))])).toMatchObject({ code: "CLUSTER_BAD_FIELD", offset: 1 });
    expect(codeOf([b("DATA"), b("p"), readOk("d"), xfer])).toMatchObject({ code: "CLUSTER_MISSING_FRAME", offset: 4, state: "seq" });
    expect(codeOf([b("DATA"), b("p"), readOk("d"), hex("01"), hex("00000001")])).toMatchObject({ code: "CLUSTER_BAD_FIELD", offset: 3, state: "xfer" });
    // A data frame that is not a READ_OK of its own length.
    expect(codeOf([b("DATA"), b("p"), b("d"), xfer, hex("00000001")])).toMatchObject({ code: "CLUSTER_BAD_FIELD", offset: 2, state: "data" });
    expect(codeOf([b("DATA"), b("p"), hex("aaa00900000001ff"), xfer, hex("00000001")])).toMatchObject({ code: "CLUSTER_BAD_FIELD", offset: 2 });
    expect(codeOf([b("DATA"), b("p"), hex("aaa00800000002ff"), xfer, hex("00000001")])).toMatchObject({ code: "CLUSTER_BAD_FIELD", offset: 2 });
    expect(codeOf([b("ACK"), b("p"), xfer, hex("0001")])).toMatchObject({ code: "CLUSTER_BAD_FIELD", offset: 3, state: "seq" });
    expect(codeOf([b("DROP WRITER"), b("p"), xfer, hex("00000001")])).toMatchObject({ code: "CLUSTER_MISSING_FRAME", offset: 4, state: "reason" });
    expect(codeOf([b("DROP READER"), b("p"), xfer, Buffer.alloc(2000)])).toMatchObject({ code: "CLUSTER_BAD_FIELD", offset: 3, state: "reason" });
  });

  const name = fc.string({ minLength: 1, maxLength: 40 }).filter((s) => Buffer.byteLength(s) <= 255);
  const id = fc.uint8Array({ minLength: 8, maxLength: 8 }).map((a) => Buffer.from(a));
  const u32 = fc.integer({ min: 0, max: 0xffffffff });
  const msg: fc.Arbitrary<ClusterMessage> = fc.oneof(
    fc.record({ type: fc.constant("HAVE WRITER" as const), pipe: name }),
    fc.record({ type: fc.constant("HAVE WRITER" as const), pipe: name, xfer: id }),
    fc.record({ type: fc.constant("HAVE READER" as const), pipe: name, window: u32 }),
    fc.record({ type: fc.constant("DATA" as const), pipe: name, readOk: fc.uint8Array({ maxLength: 100 }).map((a) => readOk(a)), xfer: id, seq: u32 }),
    fc.record({ type: fc.constant("ACK" as const), pipe: name, xfer: id, seq: u32 }),
    fc.record({ type: fc.constant("DROP WRITER" as const), pipe: name, xfer: id, last: u32, reason: fc.string({ maxLength: 50 }) }),
    fc.record({ type: fc.constant("DROP READER" as const), pipe: name, xfer: id, reason: fc.string({ maxLength: 50 }) }),
  );

  it("round-trips every message (fast-check)", () => {
    fc.assert(
      fc.property(msg, (m) => {
        expect(decodeCluster(encodeCluster(m))).toEqual(m);
      }),
      { numRuns: 500 },
    );
  });

  it("never throws anything but a DecodeError on random frames (fast-check)", () => {
    const cmd = fc.constantFrom("HAVE WRITER", "HAVE READER", "DATA", "ACK", "DROP WRITER", "DROP READER", "X").map(b);
    const frame = fc.uint8Array({ maxLength: 12 }).map((a) => Buffer.from(a));
    fc.assert(
      fc.property(cmd, fc.array(frame, { maxLength: 6 }), (c, rest) => {
        try {
          decodeCluster([c, ...rest]);
        } catch (err) {
          expect(err).toBeInstanceOf(DecodeError);
        }
      }),
      { numRuns: 2000 },
    );
  });
});
