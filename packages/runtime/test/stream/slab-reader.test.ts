/**
 * The slab reader on real loopback TCP sockets: it must be active on this
 * node for both accepted and dialed sockets (it relies on net.Socket
 * internals, so a node upgrade that changes them fails here rather than
 * silently falling back), deliver every byte in order with consecutive
 * reads adjacent inside a slab, and leave 'end' working. TLS sockets are
 * covered in drivers/test/tls/tls-slabs.test.ts (they need a PKI).
 */
import * as net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { readIntoSlabs, SLAB_BYTES } from "../../src/stream/slab-reader.js";

const cleanup: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanup.splice(0)) c();
});

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (t = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms)));
  return Promise.race([p, timeout]).finally(() => clearTimeout(t));
}

async function pair(): Promise<{ accepted: net.Socket; dialed: net.Socket }> {
  const server = net.createServer();
  cleanup.push(() => server.close());
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const accepted = new Promise<net.Socket>((r) => server.once("connection", r));
  const dialed = net.connect((server.address() as net.AddressInfo).port, "127.0.0.1");
  await new Promise<void>((r) => dialed.once("connect", () => r()));
  const a = await within(accepted, 5000, "accept");
  cleanup.push(() => {
    a.destroy();
    dialed.destroy();
  });
  return { accepted: a, dialed };
}

const pattern = (n: number): Buffer => {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (i * 13 + (i >> 10)) & 0xff;
  return b;
};

describe("slab reader", () => {
  for (const side of ["accepted", "dialed"] as const) {
    it(`reads a ${side} socket into adjacent slab views, every byte in order, then 'end'`, async () => {
      const sockets = await pair();
      const reader = sockets[side];
      const writer = side === "accepted" ? sockets.dialed : sockets.accepted;
      const chunks: Buffer[] = [];
      expect(readIntoSlabs(reader, (c) => (chunks.push(Buffer.from(c)), chunks.push(c), true))).toBe(true);
      const ended = new Promise<void>((r) => reader.once("end", () => r()));
      reader.on("data", () => expect.unreachable("no 'data' events once slab reads are on"));
      const sent = pattern(3 * SLAB_BYTES + 12_345);
      for (let at = 0; at < sent.length; at += 100_000) writer.write(sent.subarray(at, at + 100_000));
      writer.end();
      await within(ended, 10_000, "'end' after all bytes");
      // chunks alternate: a copy taken at delivery time, then the view itself.
      const copies = chunks.filter((_, i) => i % 2 === 0);
      const views = chunks.filter((_, i) => i % 2 === 1);
      expect(Buffer.concat(copies).equals(sent)).toBe(true);
      // Views were not overwritten by later reads (each slab region is handed out once).
      expect(Buffer.concat(views).equals(sent)).toBe(true);
      let adjacent = 0;
      for (let i = 1; i < views.length; i++) {
        const p = views[i - 1]!;
        const v = views[i]!;
        if (v.buffer === p.buffer) {
          expect(v.byteOffset).toBe(p.byteOffset + p.length);
          adjacent++;
        }
        expect(v.length).toBeLessThanOrEqual(SLAB_BYTES);
      }
      expect(adjacent).toBeGreaterThan(0);
    });
  }

  it("declines a socket that already reads into a user buffer (onread): the caller keeps 'data' events", async () => {
    const server = net.createServer();
    cleanup.push(() => server.close());
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const own = net.connect({ port: (server.address() as net.AddressInfo).port, host: "127.0.0.1", onread: { buffer: Buffer.alloc(1024), callback: () => true } });
    cleanup.push(() => own.destroy());
    await new Promise<void>((r) => own.once("connect", () => r()));
    expect(readIntoSlabs(own, () => true)).toBe(false);
  });
});
