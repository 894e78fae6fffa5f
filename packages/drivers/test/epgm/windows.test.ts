/**
 * Reliability without sockets: the transmit window's bounds, and a
 * receiver (PgmSource: receive window + payload reader) fed packets with
 * gaps, NCFs, repairs and a trailing edge that moves on. Time is simulated.
 */
import { describe, expect, it } from "vitest";
import { EPGM_ERR } from "../../src/epgm/codec-errors.js";
import type { DataPacket } from "../../src/epgm/packet.js";
import { PgmSource } from "../../src/epgm/source.js";
import { TxWindow } from "../../src/epgm/tx-window.js";
import { PayloadWriter } from "../../src/epgm/zmq-payload.js";

const OPTS = { nakBackoff: 50, nakRepeat: 200, nakRdata: 200, ncfRetries: 2, dataRetries: 5, maxWindow: 1000, maxMessage: -1, random: () => 0.5 };

function packets(messages: string[], apdu = 64): DataPacket[] {
  const out: DataPacket[] = [];
  const w = new PayloadWriter(apdu, (a) => {
    out.push({ kind: "ODATA", header: { sport: 1, dport: 2, type: 4, options: 0, checksum: 1, gsi: new Uint8Array(6), tsduLength: a.length }, sqn: out.length, trail: 0, data: a, fragment: undefined });
  });
  for (const m of messages) w.write([Buffer.from(m)]);
  w.flush();
  return out;
}

function receiver(): { src: PgmSource; got: string[]; naks: number[][]; drops: Array<[string, number]> } {
  const got: string[] = [];
  const naks: number[][] = [];
  const drops: Array<[string, number]> = [];
  const src = new PgmSource(OPTS, {
    message: (f) => {
      got.push(Buffer.from(f[0] as Uint8Array).toString());
      return true;
    },
    dropped: (code, n) => drops.push([code, n]),
    nak: (s) => naks.push(s),
  });
  return { src, got, naks, drops };
}

const MSGS = Array.from({ length: 40 }, (_, i) => `message-${i}-${"x".repeat(i * 7)}`);

describe("transmit window", () => {
  it("keeps what is younger than the recovery interval and within its size, advancing the trail", () => {
    const w = new TxWindow({ maxPackets: 3, maxBytes: 1e9, maxAge: 100 });
    expect([w.trail, w.lead]).toEqual([0, 0xffffffff]);
    for (let i = 0; i < 5; i++) w.push(new Uint8Array(10), i);
    expect([w.trail, w.lead, w.size]).toEqual([2, 4, 3]);
    expect(w.get(1)).toBeUndefined();
    expect(w.get(3)).toBeDefined();
    w.expire(250);
    expect([w.trail, w.size]).toEqual([4, 1]); // the newest stays for repairs
  });
});

describe("receive window", () => {
  it("delivers in order what arrives out of order, without NAKs once the gap is filled in time", () => {
    const { src, got, naks } = receiver();
    const ps = packets(MSGS);
    const order = ps.map((_, i) => i);
    [order[3], order[4]] = [order[4] as number, order[3] as number];
    for (const i of order) src.data(ps[i] as DataPacket, 0);
    expect(src.poll(10)).toBe(Infinity);
    expect(got).toEqual(MSGS);
    expect(naks).toEqual([]);
  });

  it("NAKs a gap after the back-off, waits for the NCF then the RDATA, and delivers everything", () => {
    const { src, got, naks, drops } = receiver();
    const ps = packets(MSGS);
    for (const p of ps) if (p.sqn !== 5 && p.sqn !== 6) src.data(p, 0);
    expect(got.length).toBeLessThan(MSGS.length);
    src.poll(24);
    expect(naks).toEqual([]);
    src.poll(25); // back-off 0.5 × 50 ms
    expect(naks).toEqual([[5, 6]]);
    src.ncf([5, 6], 30);
    src.poll(229);
    expect(naks.length).toBe(1); // within NAK_RDATA_IVL of the NCF: wait
    src.poll(230); // no RDATA: back-off again, then NAK again
    src.poll(255);
    expect(naks).toEqual([[5, 6], [5, 6]]);
    for (const s of [5, 6]) src.data({ ...(ps[s] as DataPacket), kind: "RDATA" }, 310);
    expect(got).toEqual(MSGS);
    expect(drops).toEqual([]);
  });

  it("a tail loss is found from the SPM's leading edge", () => {
    const { src, got, naks } = receiver();
    const ps = packets(MSGS);
    const last = ps.length - 1;
    for (const p of ps.slice(0, last)) src.data(p, 0);
    src.spm(last, 0, "10.0.0.1", 1);
    src.poll(100);
    expect(naks).toEqual([[last]]);
    src.data(ps[last] as DataPacket, 120);
    expect(got).toEqual(MSGS);
  });

  it("gives up after the retries, reports EPGM_DATA_LOST and goes on with the next whole message", () => {
    const { src, got, naks, drops } = receiver();
    const ps = packets(MSGS);
    for (const p of ps) if (p.sqn !== 8) src.data(p, 0);
    let now = 0;
    for (let i = 0; i < 2000 && drops.length === 0; i++) src.poll((now += 5));
    expect(naks.length).toBe(OPTS.ncfRetries + 1);
    expect(drops).toEqual([[EPGM_ERR.DATA_LOST, 1]]);
    // Every message delivered is whole, in order, and only those touching sqn 8 are missing.
    expect(got.length).toBeGreaterThan(30);
    const idx = got.map((m) => MSGS.indexOf(m));
    expect(idx.every((v) => v >= 0)).toBe(true);
    expect([...idx].sort((a, b) => a - b)).toEqual(idx);
  });

  it("data the source no longer holds (its trail passed) is lost at once, not NAKed", () => {
    const { src, got, naks, drops } = receiver();
    const ps = packets(MSGS);
    src.data(ps[0] as DataPacket, 0);
    src.data({ ...(ps[3] as DataPacket), trail: 3 }, 1);
    for (const p of ps.slice(4)) src.data(p, 2);
    src.poll(1000);
    expect(naks).toEqual([]);
    expect(drops).toEqual([[EPGM_ERR.DATA_LOST, 2]]);
    expect(got.length).toBeGreaterThan(0);
  });

  it("a late joiner starts at its first packet and finds the first whole message by the offset", () => {
    const { src, got } = receiver();
    const ps = packets(MSGS, 40);
    for (const p of ps.slice(7)) src.data(p, 0);
    expect(got.length).toBeGreaterThan(0);
    expect(MSGS.slice(MSGS.length - got.length)).toEqual(got);
  });

  it("a sequence number far ahead bounds the window: the old gaps are lost, nothing stalls", () => {
    const { src, got, drops } = receiver();
    const ps = packets(MSGS);
    src.data(ps[0] as DataPacket, 0);
    src.data({ ...(ps[1] as DataPacket), sqn: 5000 }, 0);
    expect(drops[0]?.[0]).toBe(EPGM_ERR.DATA_LOST);
    expect(src.window.gaps).toBeLessThanOrEqual(OPTS.maxWindow);
    expect(got[0]).toBe(MSGS[0]);
  });

  it("holds data in the window while the application is behind, then delivers it all in order", () => {
    const got: string[] = [];
    let open = false;
    const src = new PgmSource(OPTS, {
      message: (f) => {
        got.push(Buffer.from(f[0] as Uint8Array).toString());
        return open;
      },
      dropped: (code) => {
        throw new Error(code);
      },
      nak: () => undefined,
    });
    const ps = packets(MSGS);
    for (const p of ps) src.data(p, 0);
    const early = got.length;
    expect(early).toBeLessThan(MSGS.length);
    open = true;
    src.resume();
    expect(got).toEqual(MSGS);
  });

  it("a timer that fires late does not count as a failed try: the NCF may be waiting unread", () => {
    const { src, naks, drops } = receiver();
    const ps = packets(MSGS);
    for (const p of ps) if (p.sqn !== 4) src.data(p, 0);
    src.poll(25);
    expect(naks).toEqual([[4]]);
    // The process stalls for 10 s; the NCF arrived meanwhile and is read right after the late tick.
    src.poll(10_000);
    src.ncf([4], 10_000);
    src.data(ps[4] as DataPacket, 10_001);
    expect(drops).toEqual([]);
  });
});
