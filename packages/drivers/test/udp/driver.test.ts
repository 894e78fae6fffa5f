/**
 * The udp:// driver end to end on loopback: vtx sockets on both ends (the
 * driver in its worker), every classic pattern in plain mode, IPv4 and IPv6
 * endpoints, max message size, and hostile datagrams from a raw socket that
 * must be dropped and counted without disturbing a good peer.
 */
import { createSocket, type Socket } from "node:dgram";
import { once } from "node:events";
import { afterEach, describe, expect, it } from "vitest";
import { Vtx, type VtxEvent } from "@vtx/runtime";
import { readDropReport, udp, type UdpOptions } from "@vtx/drivers";
import { Batcher, encodeControlDatagram, parseDatagram, dispatchCommands, sealDatagram, type ControlCommand } from "../../src/udp/protocol.js";
import { expectEvent, strs, within } from "../helpers.js";

const WAIT = 5000;
let vtxs: Vtx[] = [];
let raws: Socket[] = [];

afterEach(async () => {
  for (const r of raws) r.close();
  raws = [];
  for (const v of vtxs) await v.destroy();
  vtxs = [];
});

function newVtx(options: UdpOptions = {}): Vtx {
  const v = new Vtx({ link: { heartbeatInterval: 250, heartbeatTimeout: 2000 } });
  v.register("udp", udp(options));
  vtxs.push(v);
  return v;
}

async function rawSocket(family: "udp4" | "udp6" = "udp4"): Promise<Socket> {
  const s = createSocket(family);
  s.bind(0, family === "udp4" ? "127.0.0.1" : "::1");
  await once(s, "listening");
  raws.push(s);
  return s;
}

function portOf(endpoint: string): number {
  return Number(/:(\d+)$/.exec(endpoint)?.[1]);
}

/** Resolves with the first drop report for `code` whose total reaches `atLeast`. */
function dropReport(vtx: Vtx, code: string, atLeast: number, what: string): Promise<VtxEvent> {
  return expectEvent(vtx, (e) => readDropReport(e)?.code === code && (readDropReport(e)?.total ?? 0) >= atLeast, WAIT, what);
}

describe("udp:// driver, plain mode, on loopback", () => {
  it("REQ/REP round trips, and a 1 MiB request is fragmented and reassembled whole", async () => {
    const vtx = newVtx();
    const rep = vtx.socket("REP", { linger: 0 });
    const ep = await vtx.bind(rep, "udp://127.0.0.1:0");
    const req = vtx.socket("REQ", { linger: 0 });
    await vtx.connect(req, ep);
    for (let i = 0; i < 20; i++) {
      await within(req.send(`q${i}`), WAIT, "send");
      expect(strs(await within(rep.receive(), WAIT, "request"))).toEqual([`q${i}`]);
      await within(rep.send([`a${i}`, "second frame", ""]), WAIT, "reply");
      expect(strs(await within(req.receive(), WAIT, "reply"))).toEqual([`a${i}`, "second frame", ""]);
    }
    const big = Buffer.alloc(1 << 20);
    for (let i = 0; i < big.length; i += 4) big.writeUInt32BE(i, i);
    await req.send(big);
    const [got] = await within(rep.receive(), WAIT, "1 MiB request");
    expect(got?.equals(big)).toBe(true);
  });

  it("binds udp://*:port and udp://[::]:port, and connects over IPv4, IPv6 and a host name", async () => {
    const vtx = newVtx();
    const pull4 = vtx.socket("PULL", { linger: 0 });
    const any4 = await vtx.bind(pull4, "udp://*:0");
    expect(any4).toMatch(/^udp:\/\/\*:\d+$/);
    const pull6 = vtx.socket("PULL", { linger: 0 });
    const any6 = await vtx.bind(pull6, "udp://[::]:0");
    expect(any6).toMatch(/^udp:\/\/\[::\]:\d+$/);
    const pull61 = vtx.socket("PULL", { linger: 0 });
    const loop6 = await vtx.bind(pull61, "udp://[::1]:0");

    const cases: Array<[string, typeof pull4]> = [
      [`udp://127.0.0.1:${portOf(any4)}`, pull4],
      [`udp://localhost:${portOf(any4)}`, pull4],
      [`udp://[::1]:${portOf(any6)}`, pull6],
      // dual stack: an IPv4 peer of a [::] bind
      [`udp://127.0.0.1:${portOf(any6)}`, pull6],
      [loop6, pull61],
    ];
    for (const [to, pull] of cases) {
      const push = vtx.socket("PUSH", { linger: 0 });
      const up = expectEvent(vtx, (e) => e.socket === push && e.type === "connected", WAIT, `connected to ${to}`);
      await vtx.connect(push, to);
      await up;
      await push.send(`via ${to}`);
      expect(strs(await within(pull.receive(), WAIT, `message via ${to}`))).toEqual([`via ${to}`]);
      await vtx.close(push);
    }
  });

  it("PUB filters by subscription before sending; DEALER/ROUTER route by identity; PUSH/PULL deliver in order", async () => {
    const vtx = newVtx();
    const pub = vtx.socket("PUB", { linger: 0 });
    const pubEp = await vtx.bind(pub, "udp://127.0.0.1:0");
    const sub = vtx.socket("SUB", { linger: 0 });
    sub.subscribe("a");
    await vtx.connect(sub, pubEp);
    // Subscriptions travel reliably; publish until the first one gets through.
    let first: Buffer[] | undefined;
    const got = sub.receive().then((m) => (first = m));
    for (let i = 0; i < 200 && first === undefined; i++) {
      await pub.send("a-probe");
      await Promise.race([got, new Promise((r) => setTimeout(r, 10))]);
    }
    expect(strs(await within(got, WAIT, "probe"))).toEqual(["a-probe"]);
    for (const m of ["b1", "a1", "b2", "a-end"]) await pub.send(m);
    const seen: string[] = [];
    for (let i = 0; i < 300; i++) {
      const [m] = strs(await within(sub.receive(), WAIT, "a-end"));
      if (m === "a-probe") continue;
      seen.push(m!);
      if (m === "a-end") break;
    }
    expect(seen).toEqual(["a1", "a-end"]);

    const router = vtx.socket("ROUTER", { linger: 0 });
    const rEp = await vtx.bind(router, "udp://127.0.0.1:0");
    const dealer = vtx.socket("DEALER", { linger: 0, routingId: "dee" });
    await vtx.connect(dealer, rEp);
    await dealer.send(["", "hi"]);
    expect(strs(await within(router.receive(), WAIT, "at router"))).toEqual(["dee", "", "hi"]);
    await router.send(["dee", "", "back"]);
    expect(strs(await within(dealer.receive(), WAIT, "at dealer"))).toEqual(["", "back"]);

    const pull = vtx.socket("PULL", { linger: 0 });
    const pEp = await vtx.bind(pull, "udp://127.0.0.1:0");
    const push = vtx.socket("PUSH", { linger: 0 });
    await vtx.connect(push, pEp);
    for (let i = 0; i < 2000; i++) await push.send(String(i));
    for (let i = 0; i < 2000; i++) expect(strs(await within(pull.receive(), WAIT, `message ${i}`))).toEqual([String(i)]);
  });

  it("an XPUB sees a remote SUB's subscribe and cancel", async () => {
    const vtx = newVtx();
    const xpub = vtx.socket("XPUB", { linger: 0 });
    const ep = await vtx.bind(xpub, "udp://127.0.0.1:0");
    const sub = vtx.socket("SUB", { linger: 0 });
    // As a subscriber application would, the SUB waits for messages: a socket
    // that makes no call does not process libzmq's commands, so the bridge's
    // pipe would not attach and the subscription would not leave it.
    sub.receive().catch(() => undefined);
    await vtx.connect(sub, ep);
    sub.subscribe("topic-a");
    expect(strs(await within(xpub.receive(), WAIT, "subscribe at the XPUB"))).toEqual(["\x01topic-a"]);
    sub.unsubscribe("topic-a");
    expect(strs(await within(xpub.receive(), WAIT, "cancel at the XPUB"))).toEqual(["\x00topic-a"]);
  });

  it("an XSUB's subscription message reaches a remote PUB, which then sends it the topic", async () => {
    const vtx = newVtx();
    const pub = vtx.socket("PUB", { linger: 0 });
    const pubEp = await vtx.bind(pub, "udp://127.0.0.1:0");
    const xsub = vtx.socket("XSUB", { linger: 0 });
    await vtx.connect(xsub, pubEp);
    await xsub.send(Buffer.from("\x01news"));
    let first: Buffer[] | undefined;
    const got = xsub.receive().then((m) => (first = m));
    for (let i = 0; i < 200 && first === undefined; i++) {
      await pub.send(["other", "x"]);
      await pub.send(["news", `n${i}`]);
      await Promise.race([got, new Promise((r) => setTimeout(r, 10))]);
    }
    expect(strs(await within(got, WAIT, "news at the XSUB"))[0]).toBe("news");
  });

  it("a bound PAIR refuses a second peer (REFUSE BUSY) and an incompatible socket type is refused", async () => {
    const vtx = newVtx();
    const pair = vtx.socket("PAIR", { linger: 0 });
    const ep = await vtx.bind(pair, "udp://127.0.0.1:0");
    const a = vtx.socket("PAIR", { linger: 0 });
    const aUp = expectEvent(vtx, (e) => e.socket === a && e.type === "connected", WAIT, "first PAIR connected");
    await vtx.connect(a, ep);
    await aUp;
    const b = vtx.socket("PAIR", { linger: 0 });
    const bRefused = expectEvent(vtx, (e) => e.socket === b && e.type === "handshake-failed", WAIT, "second PAIR refused");
    await vtx.connect(b, ep);
    expect((await bRefused).error?.code).toBe("UDP_REFUSED");
    await a.send("only a");
    expect(strs(await within(pair.receive(), WAIT, "from a"))).toEqual(["only a"]);

    const push = vtx.socket("PUSH", { linger: 0 });
    const refused = expectEvent(vtx, (e) => e.socket === push && e.type === "handshake-failed", WAIT, "PUSH refused by PAIR");
    await vtx.connect(push, ep);
    expect((await refused).error?.code).toBe("UDP_REFUSED");
  });

  it("a message over the receiver's max message size is dropped and counted; smaller ones still arrive", async () => {
    const vtx = newVtx();
    const pull = vtx.socket("PULL", { linger: 0, maxMessageSize: 10_000 });
    const ep = await vtx.bind(pull, "udp://127.0.0.1:0");
    const push = vtx.socket("PUSH", { linger: 0 });
    await vtx.connect(push, ep);
    const tooLarge = dropReport(vtx, "UDP_TOO_LARGE", 1, "UDP_TOO_LARGE counted");
    await push.send(Buffer.alloc(20_000, 1));
    await push.send("small");
    expect(strs(await within(pull.receive(), WAIT, "small message"))).toEqual(["small"]);
    await tooLarge;
  });
});

describe("udp:// driver under hostile datagrams", () => {
  it("garbage, wrong versions, truncated and bogus-length datagrams are dropped and counted; a good peer keeps exchanging", async () => {
    const vtx = newVtx({ dropReportInterval: 50 });
    const pull = vtx.socket("PULL", { linger: 0 });
    const ep = await vtx.bind(pull, "udp://127.0.0.1:0");
    const port = portOf(ep);
    const push = vtx.socket("PUSH", { linger: 0 });
    await vtx.connect(push, ep);
    await push.send("before");
    expect(strs(await within(pull.receive(), WAIT, "before"))).toEqual(["before"]);

    const raw = await rawSocket();
    const valid = encodeControlDatagram(7, 0, [{ type: "PING", token: 1 }]);
    const wrongVersion = Buffer.from(valid);
    wrongVersion[2] = 9;
    const truncated = Buffer.from(valid).subarray(0, 9);
    const bogusLength = Buffer.from(valid);
    bogusLength[13] = 0x7f; // the PING's body length runs past the datagram
    const reports = {
      UDP_BAD_SIGNATURE: dropReport(vtx, "UDP_BAD_SIGNATURE", 1000, "garbage counted"),
      UDP_BAD_VERSION: dropReport(vtx, "UDP_BAD_VERSION", 1000, "wrong versions counted"),
      // Truncated datagrams and bogus lengths both end inside a command: 2 × 1000.
      UDP_TRUNCATED: dropReport(vtx, "UDP_TRUNCATED", 2000, "truncated and bogus lengths counted"),
    };
    // A flood from one source, interleaved with the good peer's traffic.
    const garbage = Buffer.from("this is not VXU at all");
    let sent = 0;
    for (let round = 0; round < 10; round++) {
      for (let i = 0; i < 100; i++) {
        raw.send(garbage, port, "127.0.0.1");
        raw.send(wrongVersion, port, "127.0.0.1");
        raw.send(truncated, port, "127.0.0.1");
        raw.send(bogusLength, port, "127.0.0.1");
      }
      await push.send(`during ${round}`);
      sent++;
      // Pace the flood so the kernel's receive buffer is not what drops it.
      await new Promise((r) => setTimeout(r, 5));
    }
    for (let i = 0; i < sent; i++) expect(strs(await within(pull.receive(), WAIT, `good message ${i}`))).toEqual([`during ${i}`]);
    for (const [code, p] of Object.entries(reports)) expect(readDropReport(await p)?.code).toBe(code);
    await push.send("after");
    expect(strs(await within(pull.receive(), WAIT, "after"))).toEqual(["after"]);
  });

  it("a valid datagram from an address with no session is counted and answered REFUSE NO-SESSION at most once a second", async () => {
    const vtx = newVtx({ dropReportInterval: 50 });
    const pull = vtx.socket("PULL", { linger: 0 });
    const port = portOf(await vtx.bind(pull, "udp://127.0.0.1:0"));
    const raw = await rawSocket();
    const refusals: ControlCommand[] = [];
    const refused = new Promise<void>((resolve) =>
      raw.on("message", (dg: Buffer) => {
        const h = parseDatagram(dg);
        dispatchCommands(dg, h.bodyOffset, { message() {}, fragment() {}, control: (c) => refusals.push(c) });
        resolve();
      }),
    );
    const counted = dropReport(vtx, "UDP_NO_SESSION", 20, "NO-SESSION datagrams counted");
    const t0 = performance.now();
    for (let i = 0; i < 20; i++) raw.send(encodeControlDatagram(0xabcd, i, [{ type: "PING", token: i }]), port, "127.0.0.1");
    await within(refused, WAIT, "a REFUSE");
    await counted;
    // 20 datagrams within a second earn one REFUSE (a second could only follow a second later).
    if (performance.now() - t0 < 1000) expect(refusals).toHaveLength(1);
    expect(refusals[0]).toMatchObject({ type: "REFUSE", code: 3, refusedTag: 0xabcd });
  });

  it("fragments of a message that never completes are dropped after the reassembly timeout, and counted", async () => {
    const vtx = newVtx({ dropReportInterval: 50, reassemblyTimeout: 100 });
    const pull = vtx.socket("PULL", { linger: 0 });
    const port = portOf(await vtx.bind(pull, "udp://127.0.0.1:0"));
    const raw = await rawSocket();
    // A hand-made PUSH session: HELLO, wait for HELLO-OK.
    const tag = 0x1234;
    const ok = new Promise<void>((resolve) =>
      raw.on("message", (dg: Buffer) => {
        const h = parseDatagram(dg);
        dispatchCommands(dg, h.bodyOffset, { message() {}, fragment() {}, control: (c) => c.type === "HELLO_OK" && resolve() });
      }),
    );
    const hello: ControlCommand = { type: "HELLO", socketType: "PUSH", reliable: false, maxDatagram: 512, window: 16, heartbeat: 0, identity: new Uint8Array(0) };
    raw.send(encodeControlDatagram(tag, 0, [hello]), port, "127.0.0.1");
    await within(ok, WAIT, "HELLO-OK");
    // Cut a 2000-octet message into 512-octet datagrams and send all but the last.
    const rooms: Uint8Array[] = [];
    const b = new Batcher((room) => rooms.push(room.slice()), { maxDatagram: 512 });
    b.add([Buffer.alloc(2000, 9)]);
    b.flush();
    expect(rooms.length).toBeGreaterThan(2);
    const timedOut = dropReport(vtx, "UDP_FRAGMENT_TIMEOUT", 1, "partial message timed out");
    for (let i = 0; i < rooms.length - 1; i++) raw.send(sealDatagram(rooms[i]!, false, tag, i + 1, false), port, "127.0.0.1");
    await timedOut;
    // The session is still good: a whole message goes through after.
    const whole = new Batcher((room) => raw.send(sealDatagram(room, false, tag, 100, false), port, "127.0.0.1"), { maxDatagram: 512 });
    whole.add([Buffer.from("whole")]);
    whole.flush();
    expect(strs(await within(pull.receive(), WAIT, "a whole message after the partial one"))).toEqual(["whole"]);
  });

  it("a flood of fragments each announcing a 16 MiB message is evicted and counted, memory stays bounded, and a good peer is unaffected", async () => {
    const vtx = newVtx({ dropReportInterval: 50 });
    const pull = vtx.socket("PULL", { linger: 0 });
    const port = portOf(await vtx.bind(pull, "udp://127.0.0.1:0"));
    const push = vtx.socket("PUSH", { linger: 0 });
    await vtx.connect(push, `udp://127.0.0.1:${port}`);
    await push.send("good 0");
    expect(strs(await within(pull.receive(), WAIT, "good 0"))).toEqual(["good 0"]);

    const raw = await rawSocket();
    const tag = 0x4321;
    const ok = new Promise<void>((resolve) =>
      raw.on("message", (dg: Buffer) => {
        const h = parseDatagram(dg);
        dispatchCommands(dg, h.bodyOffset, { message() {}, fragment() {}, control: (c) => c.type === "HELLO_OK" && resolve() });
      }),
    );
    const hello: ControlCommand = { type: "HELLO", socketType: "PUSH", reliable: false, maxDatagram: 1200, window: 16, heartbeat: 0, identity: new Uint8Array(0) };
    raw.send(encodeControlDatagram(tag, 0, [hello]), port, "127.0.0.1");
    await within(ok, WAIT, "HELLO-OK");
    // FRAGMENT index 0 of a message of 16 MiB in chunks of 1000: msg-id, index, count, total.
    const TOTAL = 16 * 1024 * 1024;
    const CHUNK = 1000;
    const frag = (msgId: number): Uint8Array => {
      const room = new Uint8Array(20 + 3 + 16 + CHUNK);
      const v = new DataView(room.buffer);
      room[20] = 0x11;
      v.setUint16(21, 16 + CHUNK);
      v.setUint32(23, msgId);
      v.setUint32(27, 0);
      v.setUint32(31, TOTAL / CHUNK + 1);
      v.setUint32(35, TOTAL);
      return sealDatagram(room, false, tag, msgId + 1, false);
    };
    const rssBefore = process.memoryUsage().rss;
    const evicted = dropReport(vtx, "UDP_FRAGMENT_EVICTED", 900, "partial messages evicted");
    for (let i = 0; i < 1000; i++) {
      raw.send(frag(i), port, "127.0.0.1");
      if (i % 100 === 99) await new Promise((r) => setTimeout(r, 5));
    }
    await evicted;
    // 1000 × 16 MiB announced: had anything been reserved up front this would be gigabytes.
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(256 * 1024 * 1024);
    await push.send("good 1");
    expect(strs(await within(pull.receive(), WAIT, "good 1 after the flood"))).toEqual(["good 1"]);
  });

  it("an unknown or out-of-range udp option fails the bind with UDP_BAD_OPTION", async () => {
    const vtx = newVtx();
    const pull = vtx.socket("PULL", { linger: 0 });
    await expect(vtx.bind(pull, "udp://127.0.0.1:0", { driver: { maxDatagram: 100 } })).rejects.toMatchObject({ code: "UDP_BAD_OPTION" });
    await expect(vtx.bind(pull, "udp://127.0.0.1:0", { driver: { reliabel: true } })).rejects.toMatchObject({ code: "UDP_BAD_OPTION" });
    expect(await vtx.bind(pull, "udp://127.0.0.1:0", { driver: { reliable: true, maxDatagram: 4096 } })).toMatch(/^udp:\/\/127\.0\.0\.1:\d+$/);
  });

  it("random mutations of valid datagrams from a session peer never crash the driver, and a good peer keeps exchanging", async () => {
    const vtx = newVtx({ dropReportInterval: 50 });
    const crashed: VtxEvent[] = [];
    vtx.on((e) => (e.type === "driver-crashed" ? crashed.push(e) : undefined));
    const pull = vtx.socket("PULL", { linger: 0 });
    const port = portOf(await vtx.bind(pull, "udp://127.0.0.1:0"));
    const push = vtx.socket("PUSH", { linger: 0 });
    await vtx.connect(push, `udp://127.0.0.1:${port}`);

    const raw = await rawSocket();
    const tag = 0x5151;
    const ok = new Promise<void>((resolve) =>
      raw.on("message", (dg: Buffer) => {
        try {
          const h = parseDatagram(dg);
          dispatchCommands(dg, h.bodyOffset, { message() {}, fragment() {}, control: (c) => c.type === "HELLO_OK" && resolve() });
        } catch {
          // not ours to judge
        }
      }),
    );
    const hello: ControlCommand = { type: "HELLO", socketType: "PUSH", reliable: true, maxDatagram: 1200, window: 16, heartbeat: 0, identity: new Uint8Array(0) };
    raw.send(encodeControlDatagram(tag, 0, [hello]), port, "127.0.0.1");
    await within(ok, WAIT, "HELLO-OK");
    // Valid seeds: batches of messages (some fragmented), reliable and not, under the session's tag.
    const seeds: Uint8Array[] = [];
    let seq = 0;
    for (const reliable of [false, true]) {
      const b = new Batcher((room) => seeds.push(sealDatagram(room.slice(), reliable, tag, seq++, reliable, 0, 0)), { maxDatagram: 1200, reliable });
      b.add([Buffer.from("a"), Buffer.alloc(300, 2)]);
      b.add([Buffer.alloc(3000, 3)]);
      b.add([Buffer.alloc(0)]);
      b.flush();
    }
    seeds.push(encodeControlDatagram(tag, seq++, [{ type: "PING", token: 9 }]));
    // A deterministic PRNG: the run is reproducible.
    let x = 0x9e3779b9;
    const rnd = (n: number): number => {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      return (x >>> 0) % n;
    };
    for (let i = 0; i < 3000; i++) {
      const dg = Buffer.from(seeds[rnd(seeds.length)]!);
      const flips = 1 + rnd(4);
      // Keep the signature and tag most of the time, so mutations reach the session's decoder.
      for (let f = 0; f < flips; f++) dg[rnd(10) === 0 ? rnd(dg.length) : 8 + rnd(Math.max(1, dg.length - 8))] = rnd(256);
      raw.send(rnd(20) === 0 ? dg.subarray(0, rnd(dg.length)) : dg, port, "127.0.0.1");
      if (i % 200 === 199) await new Promise((r) => setTimeout(r, 5));
    }
    for (let i = 0; i < 20; i++) await push.send(`good ${i}`);
    for (let i = 0; i < 20; i++) {
      // The mutated session's own messages may arrive too (a mutation can be valid); skip anything not ours.
      for (let k = 0; k < 5000; k++) {
        const m = strs(await within(pull.receive(), WAIT, `good ${i}`));
        if (m[0]?.startsWith("good ")) {
          expect(m).toEqual([`good ${i}`]);
          break;
        }
      }
    }
    expect(crashed).toEqual([]);
  });

  it("after its driver crashes and restarts, a bound REP serves a REQ again (the REQ's old session is refused NO-SESSION and it reconnects)", async () => {
    const server = newVtx();
    const client = newVtx();
    const rep = server.socket("REP", { linger: 0 });
    const ep = await server.bind(rep, "udp://127.0.0.1:0");
    const req = client.socket("REQ", { linger: 0 });
    await client.connect(req, ep, { reconnectInterval: 50, reconnectIntervalMax: 200 });
    await req.send("one");
    await rep.receive();
    await rep.send("re one");
    expect(strs(await within(req.receive(), WAIT, "reply one"))).toEqual(["re one"]);

    const restarted = expectEvent(server, (e) => e.type === "driver-restarted", 10_000, "server driver restarted");
    const lost = expectEvent(client, (e) => e.socket === req && e.type === "disconnected", 10_000, "REQ sees its session end");
    server.crashDriver("udp", "throw");
    await restarted;
    const back = expectEvent(client, (e) => e.socket === req && e.type === "connected", 10_000, "REQ reconnected");
    await lost;
    await back;
    await req.send("two");
    expect(strs(await within(rep.receive(), WAIT, "request two after the restart"))).toEqual(["two"]);
    await rep.send("re two");
    expect(strs(await within(req.receive(), WAIT, "reply two"))).toEqual(["re two"]);
  });

  it("a flood of HELLOs under fresh tags from one source is rate-limited and counted, and a good peer keeps exchanging", async () => {
    const vtx = newVtx({ dropReportInterval: 50, maxSessionsPerSecond: 5 });
    const pull = vtx.socket("PULL", { linger: 0 });
    const port = portOf(await vtx.bind(pull, "udp://127.0.0.1:0"));
    const push = vtx.socket("PUSH", { linger: 0 });
    await vtx.connect(push, `udp://127.0.0.1:${port}`);
    await push.send("good 0");
    expect(strs(await within(pull.receive(), WAIT, "good 0"))).toEqual(["good 0"]);

    const raw = await rawSocket();
    const hello: ControlCommand = { type: "HELLO", socketType: "PUSH", reliable: false, maxDatagram: 1200, window: 16, heartbeat: 0, identity: new Uint8Array(0) };
    const limited = dropReport(vtx, "UDP_HELLO_RATE", 400, "HELLO flood rate-limited");
    const t0 = performance.now();
    for (let i = 0; i < 500; i++) {
      // A new tag each time: each would be a restarted peer, a new session and a new bridge.
      raw.send(encodeControlDatagram(0x10000 + i, 0, [hello]), port, "127.0.0.1");
      if (i % 100 === 99) await new Promise((r) => setTimeout(r, 5));
    }
    const report = readDropReport(await limited);
    // Within the first second at most 5 were accepted; the rest are counted.
    if (performance.now() - t0 < 1000) expect(report?.total).toBeGreaterThanOrEqual(495);
    await push.send("good 1");
    expect(strs(await within(pull.receive(), WAIT, "good 1 after the flood"))).toEqual(["good 1"]);
  });
});
