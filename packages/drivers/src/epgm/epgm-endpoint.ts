/**
 * One bind or connect of the epgm:// driver (docs/protocols/epgm.md §5). As
 * in libzmq, bind and connect do the same: a PUB/XPUB app makes this a PGM
 * source, a SUB/XSUB app a PGM receiver; there is one bridge for the
 * endpoint's whole life.
 *
 * - **Source**: one UDP socket bound to interface:port sends ODATA, RDATA,
 *   SPMs and NCFs to group:port and receives the receivers' unicast NAKs and
 *   SPMRs there (the NLA in our SPMs is that interface address). The app's
 *   messages are cut into APDUs (zmq-payload.ts), kept in the transmit
 *   window (tx-window.ts) and sent under the rate limit; the bridge is
 *   paused (backpressure to the app's HWM) while the send queue is full.
 * - **Receiver**: one socket bound to group:port (so it takes no unicast
 *   meant for a source on this host) joined to the group on the interface,
 *   and one bound to interface:0 that sends NAKs to each source's NLA. Each
 *   source (TSI) has its own window and payload reader (source.ts); a
 *   source silent for `peerExpiry` is forgotten.
 *
 * Everything malformed is dropped and counted by code; counts are reported
 * as `peer-error` events (readDropReport).
 */
import * as dgram from "node:dgram";
import { randomBytes } from "node:crypto";
import type { Bridge, BridgeSink, DriverContext, EndpointRequest } from "@vtx/runtime/driver-kit";
import { VtxError } from "@vtx/runtime/driver-kit";
import { DropCounters } from "../udp/drop-counters.js";
import { resolveAddress, type EpgmAddress } from "./address.js";
import { DecodeError, EPGM_ERR } from "./codec-errors.js";
import type { ResolvedEpgmOptions } from "./epgm-options.js";
import { decodePacket, DATA_OVERHEAD, encodeData, encodeNak, encodeSpm, gsiEqual, tsiKey, type PgmPacket, type SessionIds } from "./packet.js";
import { PgmSource } from "./source.js";
import { TxWindow } from "./tx-window.js";
import { IPV4_UDP_OVERHEAD, MAX_NAK_LIST } from "./wire-constants.js";
import { PayloadWriter } from "./zmq-payload.js";
import { EarliestTimer } from "../net/earliest-timer.js";

/** APDUs queued for sending before the bridge is paused. */
const SEND_QUEUE = 256;
/** A NAK for data repaired within this many ms is answered with an NCF only. */
const REPAIR_HOLDOFF = 20;
/** SPMRs answered at most this often (ms). */
const SPMR_HOLDOFF = 20;

type Role = "source" | "receiver";

interface Outgoing {
  packet: Uint8Array;
  /** RDATA and NCFs go before new data. */
  repair: boolean;
}

export class EpgmEndpoint {
  readonly req: EndpointRequest;
  readonly opts: ResolvedEpgmOptions;
  readonly role: Role;
  readonly address: EpgmAddress;
  readonly drops: DropCounters;
  readonly #ctx: DriverContext;
  #closed = false;
  /** Retries, heartbeats, back-off: the earliest deadline asked for. */
  readonly #timer = new EarliestTimer(() => this.#onTimer());
  #untrack: () => void = () => undefined;
  #bridge: Bridge | null = null;
  #sockets: dgram.Socket[] = [];
  #housekeeping: NodeJS.Timeout | undefined;

  // ---- source ----
  #tx: dgram.Socket | null = null;
  #ids: SessionIds | null = null;
  #txw: TxWindow | null = null;
  #writer: PayloadWriter | null = null;
  #queue: Outgoing[] = [];
  #repairs: Outgoing[] = [];
  #tokens = 0;
  #tokensAt = 0;
  #spmSqn = 0;
  #nextAmbient = 0;
  #heartbeatIndex = Infinity;
  #nextHeartbeat = Infinity;
  #lastSpmr = -Infinity;
  #repairedAt = new Map<number, number>();
  #drainWaiters: Array<() => void> = [];
  #idleWaiters: Array<() => void> = [];

  // ---- receiver ----
  #rx: dgram.Socket | null = null;
  #ux: dgram.Socket | null = null;
  readonly #sources = new Map<string, { source: PgmSource; address: string; sport: number; gsi: Uint8Array; name: string }>();
  #appBehind = false;

  constructor(ctx: DriverContext, req: EndpointRequest, opts: ResolvedEpgmOptions) {
    this.#ctx = ctx;
    this.req = req;
    this.opts = opts;
    const t = req.socketType;
    if (t === "PUB" || t === "XPUB") this.role = "source";
    else if (t === "SUB" || t === "XSUB") this.role = "receiver";
    else throw new VtxError("EPGM_SOCKET_TYPE", `epgm:// carries PUB/XPUB → SUB/XSUB only (zmq_pgm(7)), not ${t}`);
    this.address = resolveAddress(req.endpoint);
    this.drops = new DropCounters((e) => ctx.emit(e), req.id, opts.dropReportInterval, "epgm");
  }

  /** Opens the sockets and the bridge. */
  async open(): Promise<void> {
    const { interfaceAddress, group, port } = this.address;
    try {
      if (this.role === "source") {
        const tx = await this.#bind(interfaceAddress, port);
        tx.setMulticastInterface(interfaceAddress);
        tx.setMulticastTTL(this.opts.hops);
        tx.setMulticastLoopback(this.opts.loop);
        tx.on("message", (m: Buffer, r: dgram.RemoteInfo) => this.#onUpstream(m, r));
        this.#tx = tx;
        this.#openSource();
      } else {
        const rx = await this.#bind(group, port);
        rx.addMembership(group, interfaceAddress);
        rx.on("message", (m: Buffer, r: dgram.RemoteInfo) => this.#onDownstream(m, r));
        this.#rx = rx;
        const ux = await this.#bind(interfaceAddress, 0);
        ux.on("message", () => undefined);
        this.#ux = ux;
        this.#openReceiver();
      }
    } catch (err) {
      this.close();
      throw err instanceof VtxError ? err : new VtxError("VTX_LISTEN", `epgm: ${this.req.endpoint.raw}: ${(err as Error).message}`, { cause: err });
    }
    this.#untrack = this.#ctx.track({ close: () => this.close() });
    this.#housekeeping = setInterval(() => this.#housekeep(), Math.min(1000, this.opts.peerExpiry));
  }

  #bind(address: string, port: number): Promise<dgram.Socket> {
    return new Promise((resolve, reject) => {
      const sock = dgram.createSocket({ type: "udp4", reuseAddr: true });
      const onError = (err: NodeJS.ErrnoException): void => {
        try {
          sock.close();
        } catch {
          // Never opened.
        }
        reject(new VtxError(err.code === "EADDRINUSE" ? "VTX_ADDRESS_IN_USE" : "VTX_LISTEN", `epgm: bind ${address}:${port}: ${err.message}`));
      };
      sock.once("error", onError);
      sock.bind(port, address, () => {
        sock.off("error", onError);
        sock.on("error", (err: NodeJS.ErrnoException) => this.drops.count(`EPGM_SOCKET_${err.code ?? "ERROR"}`, this.req.endpoint.raw));
        try {
          sock.setRecvBufferSize(this.opts.recvBufferSize);
          sock.setSendBufferSize(this.opts.sendBufferSize);
        } catch {
          // Capped by the kernel: fine.
        }
        this.#sockets.push(sock);
        resolve(sock);
      });
    });
  }

  // ---- source ------------------------------------------------------------------------------

  #openSource(): void {
    const { port, interfaceAddress } = this.address;
    let sport = port;
    while (sport === port) sport = 1024 + Math.floor(Math.random() * (65536 - 1024));
    this.#ids = { gsi: randomBytes(6), sport, dport: port };
    const o = this.opts;
    const maxApdu = o.maxTpdu - IPV4_UDP_OVERHEAD - DATA_OVERHEAD;
    const rateBytes = (o.rate * 1000) / 8;
    const maxPackets = Math.max(64, Math.min(1 << 20, Math.ceil((rateBytes * o.recoveryInterval) / 1000 / maxApdu)));
    this.#txw = new TxWindow({ maxPackets, maxBytes: o.maxWindowBytes, maxAge: o.recoveryInterval }, 0);
    this.#writer = new PayloadWriter(maxApdu, (apdu) => this.#queue.push({ packet: apdu, repair: false }));
    this.#tokensAt = performance.now();
    this.#tokens = this.#burst();
    const bridge = this.#ctx.openBridge(this.req, { peer: `epgm://${interfaceAddress};${this.address.group}:${port}` });
    this.#bridge = bridge;
    // PGM cannot carry subscriptions upstream: subscribe to everything (libzmq's pgm_sender does the same).
    bridge.deliverSubscribe(Buffer.alloc(0));
    const sink: BridgeSink = {
      message: (frames) => {
        this.#writer?.write(frames);
        this.#pump();
        return this.#queue.length < SEND_QUEUE;
      },
      flush: () => {
        this.#writer?.flush();
        this.#pump();
      },
      drained: () => (this.#queue.length < SEND_QUEUE / 2 || this.#closed ? Promise.resolve() : new Promise((r) => this.#drainWaiters.push(r))),
      subscribe: () => undefined,
      cancel: () => undefined,
    };
    bridge.attach(sink);
    this.#ctx.emit({ type: "listening", id: this.req.id, peer: this.req.endpoint.raw });
    // An SPM at once: receivers learn our NLA and leading edge before any data.
    this.#sendSpm();
    this.#nextAmbient = performance.now() + o.spmInterval;
    this.schedule(this.#nextAmbient);
  }

  /** Octets the rate limiter lets out in one go. */
  #burst(): number {
    return Math.max(4 * this.opts.maxTpdu, (this.opts.rate * 1000) / 8 / 100);
  }

  #refill(now: number): void {
    const rateBytes = (this.opts.rate * 1000) / 8;
    this.#tokens = Math.min(this.#burst(), this.#tokens + ((now - this.#tokensAt) * rateBytes) / 1000);
    this.#tokensAt = now;
  }

  /** Sends what the rate limit allows: repairs first, then new data. */
  #pump(): void {
    if (this.#closed || this.#tx === null) return;
    const now = performance.now();
    this.#refill(now);
    const txw = this.#txw as TxWindow;
    const ids = this.#ids as SessionIds;
    let sentData = false;
    for (let n = 0; n < 100_000; n++) {
      const out = this.#repairs[0] ?? this.#queue[0];
      if (out === undefined) break;
      const cost = (out.repair ? out.packet.length : out.packet.length + DATA_OVERHEAD) + IPV4_UDP_OVERHEAD;
      if (this.#tokens < cost) break;
      this.#tokens -= cost;
      if (out.repair) {
        this.#repairs.shift();
        this.#send(out.packet);
      } else {
        this.#queue.shift();
        const sqn = txw.push(out.packet, now);
        this.#send(encodeData(ids, "ODATA", sqn, txw.trail, out.packet));
        sentData = true;
      }
    }
    if (sentData) {
      // Heartbeat SPMs after data (§6.1): receivers learn the lead, and so find a lost tail.
      this.#heartbeatIndex = 0;
      this.#nextHeartbeat = now + (this.opts.heartbeatSpm[0] as number);
      this.schedule(this.#nextHeartbeat);
    }
    if (this.#queue.length < SEND_QUEUE / 2 && this.#drainWaiters.length > 0) {
      const ws = this.#drainWaiters;
      this.#drainWaiters = [];
      for (const w of ws) w();
    }
    if (this.#repairs.length > 0 || this.#queue.length > 0) {
      const rateBytes = (this.opts.rate * 1000) / 8;
      this.schedule(now + Math.max(1, ((this.opts.maxTpdu - this.#tokens) * 1000) / rateBytes));
    } else if (this.#idleWaiters.length > 0) {
      const ws = this.#idleWaiters;
      this.#idleWaiters = [];
      for (const w of ws) w();
    }
  }

  #send(packet: Uint8Array): void {
    this.#tx?.send(packet, this.address.port, this.address.group, () => undefined);
  }

  #sendSpm(): void {
    const txw = this.#txw as TxWindow;
    this.#send(encodeSpm(this.#ids as SessionIds, this.#spmSqn, txw.trail, txw.lead, this.address.interfaceAddress));
    this.#spmSqn = (this.#spmSqn + 1) >>> 0;
  }

  /** A received packet, or undefined when it is malformed (counted by its code). */
  #decode(m: Buffer, from: string): PgmPacket | undefined {
    try {
      return decodePacket(m);
    } catch (err) {
      this.drops.count(err instanceof DecodeError ? err.code : EPGM_ERR.TRUNCATED, from);
      return undefined;
    }
  }

  /** NAKs and SPMRs from receivers (unicast to our NLA). */
  #onUpstream(m: Buffer, r: dgram.RemoteInfo): void {
    const from = `${r.address}:${r.port}`;
    const pkt = this.#decode(m, from);
    if (pkt === undefined) return;
    const ids = this.#ids as SessionIds;
    if (pkt.kind !== "NAK" && pkt.kind !== "SPMR") {
      this.drops.count(EPGM_ERR.IGNORED_TYPE, from);
      return;
    }
    // Upstream: ports reversed, our GSI (§8).
    if (pkt.header.dport !== ids.sport || pkt.header.sport !== ids.dport || !gsiEqual(pkt.header.gsi, ids.gsi)) {
      this.drops.count(EPGM_ERR.NOT_OURS, from);
      return;
    }
    const now = performance.now();
    if (pkt.kind === "SPMR") {
      if (now - this.#lastSpmr >= SPMR_HOLDOFF) {
        this.#lastSpmr = now;
        this.#sendSpm();
      }
      return;
    }
    const txw = this.#txw as TxWindow;
    const held = pkt.sqns.filter((s) => txw.get(s) !== undefined);
    if (held.length === 0) return; // §5.3: nothing we can repair; the receiver learns from our trail.
    // §6.2: confirm with an NCF at once (it also suppresses other receivers' NAKs), then repair.
    for (let i = 0; i < held.length; i += MAX_NAK_LIST + 1) {
      this.#repairs.push({ packet: encodeNak(ids, "NCF", held.slice(i, i + MAX_NAK_LIST + 1), this.address.interfaceAddress, this.address.group), repair: true });
    }
    for (const s of held) {
      const last = this.#repairedAt.get(s);
      if (last !== undefined && now - last < REPAIR_HOLDOFF) continue;
      if (this.#repairedAt.size > 65_536) this.#repairedAt.clear();
      this.#repairedAt.set(s, now);
      this.#repairs.push({ packet: encodeData(ids, "RDATA", s, txw.trail, txw.get(s) as Uint8Array), repair: true });
    }
    this.#pump();
  }

  // ---- receiver ----------------------------------------------------------------------------

  #openReceiver(): void {
    const { interfaceAddress, group, port } = this.address;
    const bridge = this.#ctx.openBridge(this.req, { peer: `epgm://${interfaceAddress};${group}:${port}` });
    this.#bridge = bridge;
    // Subscriptions cannot go upstream over PGM: the app socket filters (as with libzmq's pgm_receiver).
    bridge.attach({
      message: () => true,
      flush: () => undefined,
      drained: () => Promise.resolve(),
      subscribe: () => undefined,
      cancel: () => undefined,
    });
    this.#ctx.emit({ type: "listening", id: this.req.id, peer: this.req.endpoint.raw });
  }

  #onDownstream(m: Buffer, r: dgram.RemoteInfo): void {
    const from = `${r.address}:${r.port}`;
    const pkt = this.#decode(m, from);
    if (pkt === undefined) return;
    if (pkt.kind !== "ODATA" && pkt.kind !== "RDATA" && pkt.kind !== "SPM" && pkt.kind !== "NCF") return; // other receivers' NAKs, SPMRs: not ours to act on
    if (pkt.header.dport !== this.address.port) {
      this.drops.count(EPGM_ERR.NOT_OURS, from);
      return;
    }
    const now = performance.now();
    const key = tsiKey(pkt.header.gsi, pkt.header.sport);
    let entry = this.#sources.get(key);
    if (entry === undefined) {
      if (pkt.kind === "NCF") return;
      if (this.#sources.size >= this.opts.maxSources) {
        this.drops.count(EPGM_ERR.TOO_MANY_SOURCES, from);
        return;
      }
      entry = this.#newSource(key, pkt.header.gsi, pkt.header.sport, r.address);
    }
    entry.address = r.address;
    try {
      if (pkt.kind === "SPM") entry.source.spm(pkt.lead, pkt.trail, pkt.nla, now);
      else if (pkt.kind === "ODATA" || pkt.kind === "RDATA") entry.source.data(pkt, now);
      else if (pkt.kind === "NCF") entry.source.ncf(pkt.sqns, now);
    } catch (err) {
      this.drops.count(err instanceof DecodeError ? err.code : EPGM_ERR.BAD_OFFSET, from);
      return;
    }
    this.schedule(entry.source.poll(now));
  }

  #newSource(key: string, gsiView: Uint8Array, sport: number, address: string): { source: PgmSource; address: string; sport: number; gsi: Uint8Array; name: string } {
    const o = this.opts;
    const gsi = Uint8Array.from(gsiView);
    const name = `${address}#${key}`;
    const entry = { source: null as unknown as PgmSource, address, sport, gsi, name };
    entry.source = new PgmSource(
      {
        nakBackoff: o.nakBackoff,
        nakRepeat: o.nakRepeat,
        nakRdata: o.nakRdata,
        ncfRetries: o.ncfRetries,
        dataRetries: o.dataRetries,
        maxWindow: o.maxWindow,
        maxMessage: o.maxMessageSize,
      },
      {
        message: (frames) => this.#deliver(frames),
        dropped: (code, count) => this.drops.count(code, name, count),
        nak: (sqns) => {
          const nla = entry.source.nla ?? entry.address;
          const ids: SessionIds = { gsi, sport, dport: this.address.port };
          this.#ux?.send(encodeNak(ids, "NAK", sqns, nla, this.address.group), this.address.port, nla, () => undefined);
        },
      },
    );
    this.#sources.set(key, entry);
    this.#ctx.emit({ type: "connected", id: this.req.id, peer: `epgm://${name}` });
    return entry;
  }

  /**
   * Hands a message to the app. When the bridge's backlog is full the
   * sources hold further data in their windows (still NAKing gaps) until it
   * drains; a window that fills meanwhile gives up its oldest data.
   */
  #deliver(frames: Uint8Array[]): boolean {
    const bridge = this.#bridge;
    if (bridge === null) return true;
    const bufs = frames.map((f) => (Buffer.isBuffer(f) ? f : Buffer.from(f.buffer, f.byteOffset, f.length)));
    if (bridge.deliver(bufs)) return true;
    if (!this.#appBehind) {
      this.#appBehind = true;
      void bridge.drained().then(() => {
        this.#appBehind = false;
        if (this.#closed) return;
        for (const { source } of this.#sources.values()) source.resume();
        const now = performance.now();
        for (const { source } of this.#sources.values()) this.schedule(source.poll(now));
      });
    }
    return false;
  }

  // ---- timers ------------------------------------------------------------------------------

  /** Closing stops the timer: a deadline asked for afterwards is ignored. */
  schedule(deadline: number): void {
    this.#timer.schedule(deadline);
  }

  /** Runs due deadlines (never after close: the timer is stopped then). */
  #onTimer(): void {
    const now = performance.now();
    let next = Infinity;
    if (this.role === "source") {
      this.#pump();
      if (now >= this.#nextHeartbeat) {
        this.#sendSpm();
        this.#heartbeatIndex++;
        const hb = this.opts.heartbeatSpm[this.#heartbeatIndex];
        this.#nextHeartbeat = hb === undefined ? Infinity : now + hb;
        this.#nextAmbient = now + this.opts.spmInterval;
      }
      if (now >= this.#nextAmbient) {
        this.#sendSpm();
        this.#nextAmbient = now + this.opts.spmInterval;
      }
      next = Math.min(this.#nextHeartbeat, this.#nextAmbient);
    } else {
      for (const { source } of this.#sources.values()) next = Math.min(next, source.poll(now));
    }
    this.schedule(next);
  }

  #housekeep(): void {
    if (this.#closed) return;
    const now = performance.now();
    if (this.role === "source") {
      this.#txw?.expire(now);
      return;
    }
    for (const [key, e] of this.#sources) {
      if (now - e.source.lastHeard > this.opts.peerExpiry) {
        this.#sources.delete(key);
        this.#ctx.emit({ type: "disconnected", id: this.req.id, peer: `epgm://${e.name}`, error: { code: "EPGM_PEER_EXPIRED", message: "nothing heard from this source for the peer expiry" } });
      }
    }
  }

  // ---- closing -----------------------------------------------------------------------------

  /** A source sends what the app had queued, for up to `linger` ms (−1: until `signal`). */
  async drain(signal: AbortSignal): Promise<void> {
    const linger = this.opts.linger;
    if (this.role !== "source" || linger === 0 || this.#closed) return;
    this.#writer?.flush();
    this.#pump();
    if (this.#queue.length === 0 && this.#repairs.length === 0) return;
    await new Promise<void>((resolve) => {
      const t = linger > 0 ? setTimeout(resolve, linger) : undefined;
      signal.addEventListener("abort", () => resolve(), { once: true });
      this.#idleWaiters.push(() => {
        if (t !== undefined) clearTimeout(t);
        resolve();
      });
    });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#timer.stop();
    if (this.#housekeeping !== undefined) clearInterval(this.#housekeeping);
    for (const w of [...this.#drainWaiters, ...this.#idleWaiters]) w();
    this.#drainWaiters = [];
    this.#idleWaiters = [];
    if (this.#bridge !== null) this.#ctx.closeBridge(this.req, this.#bridge);
    this.#bridge = null;
    this.drops.close();
    this.#untrack();
    for (const s of this.#sockets) {
      try {
        s.close();
      } catch {
        // Already closed.
      }
    }
    this.#sockets = [];
    this.#sources.clear();
  }

  /** Drop totals by code (tests). */
  get dropTotals(): Record<string, number> {
    return this.drops.totals;
  }
}
