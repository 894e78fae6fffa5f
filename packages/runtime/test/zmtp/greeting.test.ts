import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DecodeError } from "../../src/errors.js";
import { GREETING_SIZE, GreetingDecoder, encodeGreeting, looksLikeLibzmq } from "../../src/zmtp/index.js";

function decodeAll(bytes: Uint8Array, splits: number[] = []): GreetingDecoder {
  const d = new GreetingDecoder();
  let at = 0;
  for (const s of [...splits, bytes.length]) {
    const end = Math.min(Math.max(s, at), bytes.length);
    d.push(bytes.subarray(at, end));
    at = end;
  }
  return d;
}

function decodeError(fn: () => void): DecodeError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(DecodeError);
    return err as DecodeError;
  }
  throw new Error("expected a DecodeError");
}

describe("ZMTP greeting", () => {
  it("encodes 64 bytes: signature, version 3.1, NUL-padded mechanism, as-server, zero filler", () => {
    const g = encodeGreeting({ mechanism: "PLAIN", asServer: true });
    expect(g.length).toBe(GREETING_SIZE);
    expect(g[0]).toBe(0xff);
    expect(g[9]).toBe(0x7f);
    expect([g[10], g[11]]).toEqual([3, 1]);
    expect(g.toString("latin1", 12, 17)).toBe("PLAIN");
    expect(g.subarray(17, 32).every((b) => b === 0)).toBe(true);
    expect(g[32]).toBe(1);
    expect(g.subarray(33).every((b) => b === 0)).toBe(true);
  });

  it("decodes a greeting fed one byte at a time", () => {
    const bytes = encodeGreeting({ mechanism: "NULL", asServer: false });
    const d = new GreetingDecoder();
    for (let i = 0; i < bytes.length; i++) {
      expect(d.done).toBe(false);
      expect(d.push(bytes.subarray(i, i + 1))).toBe(1);
    }
    expect(d.greeting).toEqual({ major: 3, minor: 1, mechanism: "NULL", asServer: false, padding: Buffer.alloc(8) });
    expect(looksLikeLibzmq(d.greeting!)).toBe(false);
  });

  it("accepts libzmq's staged greeting: signature with routing-id length in the padding, then major, then the rest", () => {
    const bytes = encodeGreeting({ mechanism: "NULL", asServer: false });
    bytes[8] = 0x01; // libzmq writes routing_id_size + 1 into the padding
    const d = decodeAll(bytes, [10, 11]);
    expect(d.greeting?.mechanism).toBe("NULL");
    expect(d.greeting?.padding).toEqual(Buffer.from([0, 0, 0, 0, 0, 0, 0, 1]));
    expect(looksLikeLibzmq(d.greeting!)).toBe(true);
  });

  it("stops consuming at byte 64 so the frames behind it stay in the chunk", () => {
    const bytes = Buffer.concat([encodeGreeting({ mechanism: "NULL", asServer: false }), Buffer.from([4, 1, 0])]);
    const d = new GreetingDecoder();
    expect(d.push(bytes)).toBe(64);
    expect(d.done).toBe(true);
  });

  it("accepts a ZMTP 3.0 peer and records minor 0, and a future major version", () => {
    expect(decodeAll(encodeGreeting({ mechanism: "NULL", asServer: false, minor: 0 })).greeting?.minor).toBe(0);
    const future = encodeGreeting({ mechanism: "NULL", asServer: false });
    future[10] = 4;
    expect(decodeAll(future).greeting?.major).toBe(4);
  });

  it("refuses a first byte other than 0xFF as soon as it arrives", () => {
    const err = decodeError(() => new GreetingDecoder().push(Buffer.from("GET / HTTP/1.1\r\n")));
    expect(err.code).toBe("ZMTP_BAD_SIGNATURE");
    expect(err.offset).toBe(0);
  });

  it("refuses a signature whose 10th byte is not 0x7F (ZMTP 1.0 peer)", () => {
    const bytes = encodeGreeting({ mechanism: "NULL", asServer: false });
    bytes[9] = 0x01;
    const d = new GreetingDecoder();
    d.push(bytes.subarray(0, 9));
    const err = decodeError(() => d.push(bytes.subarray(9, 10)));
    expect(err.code).toBe("ZMTP_BAD_SIGNATURE");
    expect(err.offset).toBe(9);
  });

  it("refuses major versions below 3 with ZMTP_UNSUPPORTED_VERSION at byte 10", () => {
    for (const major of [0, 1, 2]) {
      const bytes = encodeGreeting({ mechanism: "NULL", asServer: false });
      bytes[10] = major;
      const err = decodeError(() => decodeAll(bytes, [11]));
      expect(err.code).toBe("ZMTP_UNSUPPORTED_VERSION");
      expect(err.offset).toBe(10);
    }
  });

  it("treats a truncated greeting as incomplete, never as a greeting", () => {
    const bytes = encodeGreeting({ mechanism: "NULL", asServer: false });
    const d = decodeAll(bytes.subarray(0, 63));
    expect(d.done).toBe(false);
    expect(d.greeting).toBeUndefined();
    expect(d.received).toBe(63);
  });

  it("refuses a mechanism field that is empty, not NUL padded, or has invalid characters", () => {
    const empty = encodeGreeting({ mechanism: "NULL", asServer: false });
    empty.fill(0, 12, 32);
    expect(decodeError(() => decodeAll(empty)).code).toBe("ZMTP_MECHANISM_MISMATCH");
    const gap = encodeGreeting({ mechanism: "NULL", asServer: false });
    gap[20] = 0x41;
    expect(decodeError(() => decodeAll(gap)).code).toBe("ZMTP_MECHANISM_MISMATCH");
    const lower = encodeGreeting({ mechanism: "NULL", asServer: false });
    lower[12] = 0x6e; // 'n'
    const err = decodeError(() => decodeAll(lower));
    expect(err.code).toBe("ZMTP_MECHANISM_MISMATCH");
    expect(err.offset).toBe(12);
  });

  it("round-trips any valid mechanism name and role across any split", () => {
    const mechChar = fc.constantFrom(..."ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.+".split(""));
    fc.assert(
      fc.property(
        fc.array(mechChar, { minLength: 1, maxLength: 20 }).map((a) => a.join("")),
        fc.boolean(),
        fc.integer({ min: 0, max: 1 }),
        fc.array(fc.integer({ min: 0, max: 64 }), { maxLength: 6 }),
        (mechanism, asServer, minor, splits) => {
          const d = decodeAll(encodeGreeting({ mechanism, asServer, minor }), splits.sort((a, b) => a - b));
          expect(d.greeting).toMatchObject({ major: 3, minor, mechanism, asServer });
        },
      ),
    );
  });
});
