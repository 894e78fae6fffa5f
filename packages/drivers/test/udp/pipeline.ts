/** Test helpers: the receive half of the protocol pipeline, without sockets. */
import {
  Reassembler,
  decodeFrames,
  dispatchCommands,
  parseDatagram,
  type ControlCommand,
  type DatagramSink,
  type ReassemblerOptions,
} from "../../src/udp/protocol.js";

/** Decodes datagrams into whole messages, reassembling fragments. */
export class Receiver {
  readonly messages: Uint8Array[][] = [];
  readonly controls: ControlCommand[] = [];
  readonly reassembler: Reassembler;
  now = 0;
  readonly sink: DatagramSink;

  constructor(options?: ReassemblerOptions) {
    this.reassembler = new Reassembler(options);
    this.sink = {
      message: (frames) => this.messages.push(frames.map((f) => f.slice())),
      fragment: (msgId, index, count, total, chunk) => {
        const body = this.reassembler.push(msgId, index, count, total, chunk, this.now);
        if (body !== undefined) this.messages.push(decodeFrames(body));
      },
      control: (cmd) => this.controls.push(cmd),
    };
  }

  /** Parse and dispatch a sealed datagram. */
  take(dg: Uint8Array): void {
    const h = parseDatagram(dg, { maxMessageSize: this.reassembler.maxMessageSize });
    dispatchCommands(dg, h.bodyOffset, this.sink);
  }
}

export const hexFrames = (m: readonly Uint8Array[]): string[] => m.map((f) => Buffer.from(f).toString("hex"));
