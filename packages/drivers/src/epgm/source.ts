/**
 * What a receiver keeps per source (one TSI): the receive window, OPT_FRAGMENT
 * reassembly of APDUs larger than one TPDU, and the zmq_pgm(7) payload
 * reader that turns the in-order APDUs into messages. After an
 * unrecoverable loss the partial message is dropped and the reader joins
 * the stream again at the next APDU with a message start, as libzmq's
 * pgm_receiver does after PGM_IO_STATUS_RESET. Pure.
 */
import { DecodeError, EPGM_ERR } from "./codec-errors.js";
import type { DataPacket, Fragment } from "./packet.js";
import { RxWindow, type RxWindowOptions } from "./rx-window.js";
import { PayloadReader, payloadOffset } from "./zmq-payload.js";
import { MAX_APDU } from "./wire-constants.js";

export interface SourceOptions extends RxWindowOptions {
  /** Largest message accepted; -1 = unlimited. */
  maxMessage: number;
}

export interface SourceSink {
  /** A whole message; false when the application is behind (delivery pauses until {@link PgmSource.resume}). */
  message(frames: Uint8Array[]): boolean;
  /** Something was dropped: `count` packets (DATA_LOST) or one message/APDU (other codes). */
  dropped(code: string, count: number, detail: string): void;
  nak(sqns: number[]): void;
}

interface Item {
  data: Uint8Array;
  fragment: Fragment | undefined;
}

interface Assembly {
  first: number;
  buf: Uint8Array;
  fill: number;
}

export class PgmSource {
  readonly #sink: SourceSink;
  readonly #window: RxWindow<Item>;
  readonly #reader: PayloadReader;
  #assembly: Assembly | null = null;
  #behind = false;
  /** Last time anything came from this source (for expiry). */
  lastHeard = 0;
  /** The source's NLA from its SPMs (where NAKs go), once known. */
  nla: string | null = null;

  constructor(opts: SourceOptions, sink: SourceSink) {
    this.#sink = sink;
    this.#reader = new PayloadReader(
      {
        message: (frames) => {
          if (!sink.message(frames)) this.#behind = true;
        },
        dropped: (code, detail) => sink.dropped(code, 1, detail),
      },
      opts.maxMessage,
    );
    this.#window = new RxWindow<Item>(opts, {
      deliver: (item, sqn) => {
        this.#deliver(item, sqn);
        return !this.#behind;
      },
      lost: (first, count) => {
        this.#assembly = null;
        this.#reader.reset();
        sink.dropped(EPGM_ERR.DATA_LOST, count, `${count} packet(s) from sqn ${first} are lost for good`);
      },
      nak: (sqns) => sink.nak(sqns),
    });
  }

  get window(): RxWindow<unknown> {
    return this.#window;
  }

  /**
   * ODATA or RDATA. A payload whose offset points past its data throws
   * (EPGM_BAD_OFFSET) before the window sees it: the packet is dropped as
   * malformed and will be NAKed like a lost one.
   */
  data(pkt: DataPacket, now: number): void {
    if (pkt.fragment === undefined) payloadOffset(pkt.data);
    else if (pkt.fragment.apduLength > MAX_APDU) {
      throw new DecodeError(EPGM_ERR.BAD_OPTION, `APDU of ${pkt.fragment.apduLength} octets`, 0, "opt-fragment");
    }
    this.lastHeard = now;
    this.#window.data(pkt.sqn, pkt.trail, { data: pkt.data, fragment: pkt.fragment }, now);
  }

  spm(lead: number, trail: number, nla: string, now: number): void {
    this.lastHeard = now;
    this.nla = nla;
    this.#window.spm(lead, trail, now);
  }

  ncf(sqns: readonly number[], now: number): void {
    this.lastHeard = now;
    this.#window.ncf(sqns, now);
  }

  poll(now: number): number {
    return this.#window.poll(now);
  }

  /** The application caught up: deliver what the window held meanwhile. */
  resume(): void {
    this.#behind = false;
    this.#window.resume();
  }

  #deliver(item: Item, sqn: number): void {
    const f = item.fragment;
    if (f === undefined) {
      if (this.#assembly !== null) this.#brokenAssembly("an APDU ended before all its fragments came");
      this.#push(item.data);
      return;
    }
    if (f.first === sqn && f.offset === 0) {
      if (this.#assembly !== null) this.#brokenAssembly("a new APDU started before the last one was whole");
      this.#assembly = { first: sqn, buf: new Uint8Array(f.apduLength), fill: 0 };
    }
    const a = this.#assembly;
    if (a === null || a.first !== f.first || a.fill !== f.offset || a.buf.length !== f.apduLength) {
      // A fragment of an APDU whose start we missed (late join) or that disagrees with it.
      if (a !== null) this.#brokenAssembly("fragments disagree");
      return;
    }
    a.buf.set(item.data, a.fill);
    a.fill += item.data.length;
    if (a.fill === a.buf.length) {
      this.#assembly = null;
      this.#push(a.buf);
    }
  }

  #brokenAssembly(detail: string): void {
    this.#assembly = null;
    this.#reader.reset();
    this.#sink.dropped(EPGM_ERR.BAD_FRAGMENT, 1, detail);
  }

  #push(apdu: Uint8Array): void {
    try {
      this.#reader.push(apdu);
    } catch (err) {
      // Only a reassembled APDU can get here with a bad offset (single-TPDU ones were checked on arrival).
      this.#reader.reset();
      this.#sink.dropped(err instanceof DecodeError ? err.code : EPGM_ERR.BAD_OFFSET, 1, (err as Error).message);
    }
  }
}
