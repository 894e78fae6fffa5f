import { randomBytes } from "node:crypto";
import { VtxError } from "@vtx/runtime/errors";
import { ZreNode, type ZreNodeOptions } from "../zre/node.js";
import type { ZreEvent } from "../zre/events.js";
import { CLUSTER_GROUP, decodeCluster, encodeCluster, type ClusterMessage } from "./messages.js";
import { RemoteReader } from "./remote-reader.js";
import { RemoteWriter } from "./remote-writer.js";
import type { ClusterLogger, PipeEndLike, PipeLike, PipeRegistryLike } from "./seam.js";

export interface ClusterOptions {
  /** The broker's pipe table (the seam). */
  registry: PipeRegistryLike;
  /** ZRE node options (discovery: beacon or gossip); ignored when `node` is given. */
  zre?: ZreNodeOptions;
  /** A ZRE node the caller owns (started or not); the cluster does not stop it. */
  node?: ZreNode;
  /** Credit this broker grants a remote writer, in bytes. Default 8 MiB. */
  window?: number;
  /** Largest DATA chunk between brokers. Default 64 KiB. */
  maxData?: number;
  /** How often unmatched pipe ends are announced again. Default 1000 ms. */
  announceMs?: number;
  /**
   * Bound on credit granted to all remote writers together (bytes that may
   * wait here, beyond the pipes' budgets). Past it, local readers are not
   * offered to writers elsewhere until a transfer ends. Default 256 MiB.
   */
  maxInbound?: number;
  logger?: ClusterLogger;
}

export interface ClusterStats {
  peers: number;
  /** Transfers whose writer is here and reader on a peer. */
  outgoing: number;
  /** Transfers whose reader is here and writer on a peer. */
  incoming: number;
}

const silent: ClusterLogger = { log() {} };

/**
 * ZPIPES clustering over ZRE group `ZPIPES`: pipe ends on different brokers
 * find each other and their data flows between the brokers with sequence
 * numbers, acknowledgements and credit (docs/zpipes-cluster.md).
 *
 * The broker keeps serving its local clients exactly as before; the cluster
 * attaches {@link RemoteReader}/{@link RemoteWriter} ends to the broker's
 * pipes through the pipe table, so a local client never knows whether its
 * other end is local or remote.
 */
export class Cluster {
  readonly node: ZreNode;
  readonly #ownsNode: boolean;
  readonly #registry: PipeRegistryLike;
  readonly #window: number;
  readonly #maxData: number;
  readonly #announceMs: number;
  readonly #maxIncoming: number;
  readonly #log: ClusterLogger;
  readonly #outgoing = new Map<string, RemoteReader>();
  readonly #incoming = new Map<string, RemoteWriter>();
  /** Transfer ids we refused or finished: stray DATA for them is ignored, not answered again. */
  readonly #forgotten = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  #unsubscribe: (() => void) | undefined;
  #started = false;
  #stopped = false;

  readonly #onReaderAttached = (pipe: PipeLike, end: PipeEndLike): void => {
    if (!(end instanceof RemoteReader) && this.#unmatchedReader(pipe) && this.#roomForIncoming()) this.#announce(pipe, undefined);
  };
  readonly #onWriterAttached = (pipe: PipeLike, end: PipeEndLike): void => {
    if (!(end instanceof RemoteWriter) && this.#unmatchedWriter(pipe)) this.#announce(pipe, undefined);
  };

  constructor(opts: ClusterOptions) {
    this.#registry = opts.registry;
    this.#ownsNode = opts.node === undefined;
    this.node = opts.node ?? new ZreNode(opts.zre);
    this.#window = opts.window ?? 8 * 1024 * 1024;
    this.#maxData = opts.maxData ?? 64 * 1024;
    this.#announceMs = opts.announceMs ?? 1000;
    this.#maxIncoming = Math.max(1, Math.floor((opts.maxInbound ?? 256 * 1024 * 1024) / this.#window));
    this.#log = opts.logger ?? silent;
    if (!(this.#window > 0 && this.#maxData > 0)) throw new VtxError("CLUSTER_BAD_OPTION", "window and maxData must be positive");
  }

  /** Starts the ZRE node (if ours), joins `ZPIPES` and begins matching pipe ends. */
  async start(): Promise<void> {
    if (this.#started) throw new VtxError("CLUSTER_STATE", "cluster already started");
    this.#started = true;
    this.#unsubscribe = this.node.on((ev) => this.#onZre(ev));
    if (this.#ownsNode) await this.node.start();
    this.node.join(CLUSTER_GROUP);
    this.#registry.on("reader-attached", this.#onReaderAttached);
    this.#registry.on("writer-attached", this.#onWriterAttached);
    this.#timer = setInterval(() => this.#announceAll(undefined), this.#announceMs);
    this.#timer.unref();
    this.#log.log("info", "cluster-started", { node: this.node.id, endpoint: this.node.endpoint });
  }

  /**
   * Fails every transfer in progress on both sides (the peers are told with
   * DROP WRITER / DROP READER), leaves `ZPIPES` and stops the node if ours.
   */
  async stop(): Promise<void> {
    if (!this.#started || this.#stopped) return;
    this.#stopped = true;
    clearInterval(this.#timer);
    this.#registry.off("reader-attached", this.#onReaderAttached);
    this.#registry.off("writer-attached", this.#onWriterAttached);
    for (const r of [...this.#outgoing.values()]) r.fail("broker stopping", true);
    for (const w of [...this.#incoming.values()]) w.abort("broker stopping");
    this.node.leave(CLUSTER_GROUP);
    this.#unsubscribe?.();
    if (this.#ownsNode) await this.node.stop();
    this.#log.log("info", "cluster-stopped", { node: this.node.id });
  }

  stats(): ClusterStats {
    return { peers: this.node.peersIn(CLUSTER_GROUP).length, outgoing: this.#outgoing.size, incoming: this.#incoming.size };
  }

  // ── matching ─────────────────────────────────────────────────────────────

  /** Whether another remote writer may be granted credit (see `maxInbound`). */
  #roomForIncoming(): boolean {
    return this.#incoming.size < this.#maxIncoming;
  }

  #unmatchedWriter(pipe: PipeLike | undefined): pipe is PipeLike {
    return pipe !== undefined && pipe.writerState === "attached" && pipe.readerState === "none" && !(pipe.writer instanceof RemoteWriter);
  }

  #unmatchedReader(pipe: PipeLike | undefined): pipe is PipeLike {
    return pipe !== undefined && pipe.readerState === "attached" && pipe.writerState === "none" && !(pipe.reader instanceof RemoteReader);
  }

  /** HAVE WRITER / HAVE READER for one unmatched local end: to all (SHOUT) or one peer. */
  #announce(pipe: PipeLike, peer: string | undefined): void {
    const name = pipe.name;
    const msg: ClusterMessage = this.#unmatchedWriter(pipe)
      ? { type: "HAVE WRITER", pipe: name }
      : { type: "HAVE READER", pipe: name, window: this.#window };
    const frames = encodeCluster(msg);
    const sent = peer === undefined ? this.node.shout(CLUSTER_GROUP, frames) : this.node.whisper(peer, frames);
    sent.catch((err: unknown) => this.#log.log("debug", "cluster-announce-failed", { pipe: name, err: String(err) }));
  }

  #announceAll(peer: string | undefined): void {
    if (this.#stopped) return;
    for (const pipe of this.#registry.pipes()) {
      if (this.#unmatchedWriter(pipe) || (this.#unmatchedReader(pipe) && this.#roomForIncoming())) this.#announce(pipe, peer);
    }
  }

  /**
   * Fire and forget: a lost link shows up as the peer's EXIT, which fails
   * every transfer with it, so a send error needs no handling of its own.
   */
  #whisper(peer: string, msg: ClusterMessage): void {
    if (!this.node.post(peer, encodeCluster(msg))) this.#log.log("debug", "cluster-send-to-unknown-peer", { peer, type: msg.type });
  }

  // ── ZRE events ───────────────────────────────────────────────────────────

  #onZre(ev: ZreEvent): void {
    if (this.#stopped) return;
    switch (ev.type) {
      case "JOIN":
        if (ev.group === CLUSTER_GROUP) {
          this.#log.log("info", "cluster-peer-joined", { peer: ev.peer, name: ev.name });
          this.#announceAll(ev.peer);
        }
        break;
      case "LEAVE":
        if (ev.group === CLUSTER_GROUP) this.#peerGone(ev.peer, `broker ${ev.name || ev.peer.slice(0, 8)} left the cluster`);
        break;
      case "EXIT":
        this.#peerGone(ev.peer, `broker ${ev.name || ev.peer.slice(0, 8)} is gone (${ev.reason})`);
        break;
      case "WHISPER":
        this.#onMessage(ev.peer, ev.content, false);
        break;
      case "SHOUT":
        if (ev.group === CLUSTER_GROUP) this.#onMessage(ev.peer, ev.content, true);
        break;
      default:
        break;
    }
  }

  #peerGone(peer: string, reason: string): void {
    let failed = 0;
    for (const r of [...this.#outgoing.values()]) {
      if (r.opts.peer === peer) {
        failed++;
        r.fail(reason);
      }
    }
    for (const w of [...this.#incoming.values()]) {
      if (w.opts.peer === peer) {
        failed++;
        w.peerGone(reason);
      }
    }
    this.#log.log(failed > 0 ? "warn" : "info", "cluster-peer-gone", { peer, reason, transfers: failed });
  }

  #onMessage(peer: string, content: Buffer[], shouted: boolean): void {
    let msg: ClusterMessage;
    try {
      msg = decodeCluster(content);
    } catch (err) {
      this.#log.log("warn", "cluster-bad-message", { peer, code: (err as VtxError).code, err: String(err) });
      return;
    }
    switch (msg.type) {
      case "HAVE WRITER":
        if ("xfer" in msg && !shouted) this.#onConfirmed(peer, msg.pipe, msg.xfer);
        else if (this.#unmatchedReader(this.#registry.get(msg.pipe)) && this.#roomForIncoming()) {
          this.#whisper(peer, { type: "HAVE READER", pipe: msg.pipe, window: this.#window });
        }
        break;
      case "HAVE READER":
        this.#onReaderWanted(peer, msg.pipe, msg.window > 0 ? msg.window : this.#window);
        break;
      case "DATA": {
        const w = this.#incoming.get(msg.xfer.toString("hex"));
        if (w && w.opts.peer === peer) w.onData(msg.seq, msg.readOk);
        else this.#stray(peer, msg.pipe, msg.xfer, "DATA");
        break;
      }
      case "ACK": {
        const r = this.#outgoing.get(msg.xfer.toString("hex"));
        if (r && r.opts.peer === peer) r.onAck(msg.seq);
        break;
      }
      case "DROP WRITER": {
        const w = this.#incoming.get(msg.xfer.toString("hex"));
        if (w && w.opts.peer === peer) w.onDropWriter(msg.last, msg.reason);
        break;
      }
      case "DROP READER": {
        const r = this.#outgoing.get(msg.xfer.toString("hex"));
        if (r && r.opts.peer === peer) r.fail(msg.reason === "" ? "reader closed" : msg.reason);
        break;
      }
    }
  }

  /** On the writer's broker: a reader elsewhere asks for our unmatched writer. */
  #onReaderWanted(peer: string, name: string, window: number): void {
    if (!this.#unmatchedWriter(this.#registry.get(name))) return;
    const xfer = randomBytes(8);
    const key = xfer.toString("hex");
    const end = new RemoteReader({
      pipe: name,
      peer,
      xfer,
      window,
      maxData: this.#maxData,
      send: (m) => this.#whisper(peer, m),
      logger: this.#log,
      sendFrames: (frames) => {
        if (!this.node.post(peer, frames)) this.#log.log("debug", "cluster-send-to-unknown-peer", { peer, type: "DATA" });
      },
      done: (e) => {
        if (this.#outgoing.get(key) === e) {
          this.#outgoing.delete(key);
          this.#remember(key);
        }
      },
    });
    const opened = this.#registry.openReader(name, end);
    if (!opened.ok) return;
    this.#outgoing.set(key, end);
    // Confirmation first, then data (RemoteReader sends nothing before start).
    this.#whisper(peer, { type: "HAVE WRITER", pipe: name, xfer });
    this.#log.log("info", "cluster-matched", { pipe: name, peer, side: "writer", xfer: key });
    end.start(opened.pipe);
  }

  /** On the reader's broker: the writer's broker attached us as its reader. */
  #onConfirmed(peer: string, name: string, xfer: Buffer): void {
    const key = xfer.toString("hex");
    if (this.#incoming.has(key)) return;
    const pipe = this.#registry.get(name);
    // Requests already out may all be confirmed; past twice the bound they
    // are refused, so what waits here stays bounded whatever peers do.
    if (!this.#unmatchedReader(pipe) || this.#incoming.size >= 2 * this.#maxIncoming) {
      // Another writer won, or our reader left: refuse, so that writer fails
      // rather than writing into nowhere.
      const reason = this.#unmatchedReader(pipe) ? "too many transfers into this broker" : "no reader waiting for this pipe";
      this.#whisper(peer, { type: "DROP READER", pipe: name, xfer, reason });
      this.#remember(key);
      return;
    }
    const end = new RemoteWriter({
      pipe: name,
      peer,
      xfer,
      window: this.#window,
      maxData: this.#maxData,
      logger: this.#log,
      send: (m) => this.#whisper(peer, m),
      done: (e) => {
        if (this.#incoming.get(key) === e) {
          this.#incoming.delete(key);
          this.#remember(key);
        }
      },
    });
    this.#incoming.set(key, end);
    const opened = this.#registry.openWriter(name, end);
    if (!opened.ok) {
      this.#incoming.delete(key);
      this.#whisper(peer, { type: "DROP READER", pipe: name, xfer, reason: opened.reason });
      return;
    }
    end.attach(opened.pipe);
    this.#log.log("info", "cluster-matched", { pipe: name, peer, side: "reader", xfer: key });
  }

  #stray(peer: string, name: string, xfer: Buffer, what: string): void {
    const key = xfer.toString("hex");
    if (this.#forgotten.has(key)) return;
    this.#remember(key);
    this.#log.log("warn", "cluster-unknown-transfer", { peer, pipe: name, xfer: key, what });
    this.#whisper(peer, { type: "DROP READER", pipe: name, xfer, reason: "unknown transfer" });
  }

  #remember(key: string): void {
    this.#forgotten.add(key);
    if (this.#forgotten.size > 4096) {
      const first = this.#forgotten.values().next().value;
      if (first !== undefined) this.#forgotten.delete(first);
    }
  }
}
