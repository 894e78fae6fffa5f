import { describe, expect, it } from "vitest";
import { Mailbox, encodeMail, decodeMail, MAILBOX_CODEC_VERSION } from "../src/mailbox.js";
import { VtxError } from "../src/errors.js";

describe("mailbox", () => {
  it("round-trips typed control messages with the codec version", () => {
    const text = encodeMail({ t: "bind", ref: 3, nested: { a: [1, "x"] } });
    expect(JSON.parse(text)).toEqual({ v: MAILBOX_CODEC_VERSION, m: { t: "bind", ref: 3, nested: { a: [1, "x"] } } });
    expect(decodeMail(Buffer.from(text))).toEqual({ t: "bind", ref: 3, nested: { a: [1, "x"] } });
  });

  it("refuses another codec version and garbage with codes", () => {
    const wrong = Buffer.from(JSON.stringify({ v: MAILBOX_CODEC_VERSION + 1, m: {} }));
    expect(() => decodeMail(wrong)).toThrow(expect.objectContaining({ code: "VTX_MAILBOX_VERSION" }) as VtxError);
    expect(() => decodeMail(Buffer.from("{nope"))).toThrow(expect.objectContaining({ code: "VTX_MAILBOX_MALFORMED" }) as VtxError);
  });

  it("carries many messages in order over inproc without EBUSY", async () => {
    const addr = `inproc://mailbox-test-${process.pid}-${Math.random()}`;
    const a = await Mailbox.bind<{ n: number }, { n: number }>(addr);
    const b = Mailbox.connect<{ n: number }, { n: number }>(addr);
    try {
      // Sent back to back, without awaiting: the mailbox queues them.
      for (let n = 0; n < 500; n++) a.send({ n });
      const got: number[] = [];
      for await (const m of b) {
        got.push(m.n);
        if (got.length === 500) break;
      }
      expect(got).toEqual([...Array(500).keys()]);
    } finally {
      a.close();
      b.close();
    }
  });
});
