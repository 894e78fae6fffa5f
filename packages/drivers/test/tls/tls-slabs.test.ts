/**
 * TLS sockets read into slabs too (node's TLSWrap copies each decrypted
 * record into the buffer the slab reader hands it): both the accepted and
 * the dialed side, every byte in order, consecutive records adjacent in a
 * slab so a ZMTP frame spanning records stays a view.
 */
import * as net from "node:net";
import * as tls from "node:tls";
import { afterEach, describe, expect, it } from "vitest";
import { readIntoSlabs, SLAB_BYTES, VIEW_MIN_BYTES } from "@vtx/runtime/stream/slab-reader";
import { FrameDecoder } from "@vtx/runtime/zmtp/frame-decoder";
import { encodeMessage } from "@vtx/runtime/zmtp/frame-encoder";
import { testPki } from "./pki.js";

const cleanup: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanup.splice(0)) c();
});

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (t = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms)));
  return Promise.race([p, timeout]).finally(() => clearTimeout(t));
}

async function tlsPair(): Promise<{ accepted: tls.TLSSocket; dialed: tls.TLSSocket }> {
  const pki = testPki();
  const server = tls.createServer({ key: pki.server.key, cert: pki.server.cert });
  cleanup.push(() => server.close());
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const accepted = new Promise<tls.TLSSocket>((r) => server.once("secureConnection", r));
  const dialed = tls.connect({ port: (server.address() as net.AddressInfo).port, host: "127.0.0.1", ca: pki.ca.cert });
  await within(new Promise<void>((r, j) => dialed.once("secureConnect", () => r()).once("error", j)), 5000, "TLS handshake");
  const a = await within(accepted, 5000, "accept");
  cleanup.push(() => {
    a.destroy();
    dialed.destroy();
  });
  return { accepted: a, dialed };
}

describe("slab reader on TLS", () => {
  for (const side of ["accepted", "dialed"] as const) {
    it(`reads a ${side} TLS socket into adjacent slab views, every byte in order, then 'end'`, async () => {
      const sockets = await tlsPair();
      const reader = sockets[side];
      const writer = side === "accepted" ? sockets.dialed : sockets.accepted;
      const views: Buffer[] = [];
      expect(readIntoSlabs(reader, (c) => (views.push(c), true))).toBe(true);
      reader.on("data", () => expect.unreachable("no 'data' events once slab reads are on"));
      const ended = new Promise<void>((r) => reader.once("end", () => r()));
      const sent = Buffer.alloc(1_500_000);
      for (let i = 0; i < sent.length; i++) sent[i] = (i * 7 + (i >> 12)) & 0xff;
      writer.end(sent);
      await within(ended, 10_000, "'end' after all bytes");
      expect(Buffer.concat(views).equals(sent)).toBe(true);
      let adjacent = 0;
      for (let i = 1; i < views.length; i++) {
        if (views[i]!.buffer === views[i - 1]!.buffer) {
          expect(views[i]!.byteOffset).toBe(views[i - 1]!.byteOffset + views[i - 1]!.length);
          adjacent++;
        }
      }
      expect(adjacent).toBeGreaterThan(10);
    });
  }

  it("fills TLS slabs to the last byte and carries a frame cut by a slab's end into the next: every 64 KiB frame is a view", async () => {
    const { accepted: reader, dialed: writer } = await tlsPair();
    const frames: Buffer[] = [];
    const count = 60;
    let all: () => void = () => undefined;
    const done = new Promise<void>((r) => (all = r));
    const decoder = new FrameDecoder(
      {
        message: (f) => {
          frames.push(...f);
          if (frames.length === count) all();
        },
        command: () => expect.unreachable("no commands are sent"),
        error: (err) => expect.unreachable(err.message),
      },
      { copyBelow: VIEW_MIN_BYTES },
    );
    const slabs = new Set<ArrayBufferLike>();
    expect(
      readIntoSlabs(reader, (c) => (slabs.add(c.buffer), decoder.push(c), true), SLAB_BYTES, (slab) => decoder.carrySpan(slab)),
    ).toBe(true);
    const body = (i: number): Buffer => Buffer.alloc(65_536, i);
    for (let i = 0; i < count; i++) writer.write(encodeMessage([body(i)]));
    await within(done, 10_000, `${count} frames`);
    expect(frames.map((f, i) => f.equals(body(i)))).toEqual(Array.from({ length: count }, () => true));
    expect(frames.filter((f) => !slabs.has(f.buffer))).toHaveLength(0); // none copied out of the slabs
    // Full slabs: the bytes, plus what carrying repeats, in as few slabs as that takes.
    const wireBytes = count * (65_536 + 9);
    expect(slabs.size).toBeLessThanOrEqual(Math.ceil(wireBytes / (SLAB_BYTES - 65_545)) + 1);
  });
});
