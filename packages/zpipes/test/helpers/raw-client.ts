import * as zmq from "zeromq";

/**
 * A plain zeromq.js DEALER speaking ZPIPES bytes by hand: no vtx client code,
 * no codec. Frames are written and checked as hex.
 */
export class RawClient {
  readonly dealer = new zmq.Dealer({ linger: 0, receiveTimeout: -1 });
  readonly #inbox: Buffer[] = [];
  #waiter: ((b: Buffer) => void) | null = null;
  #closed = false;

  static async connect(endpoint: string): Promise<RawClient> {
    const c = new RawClient();
    c.dealer.connect(endpoint);
    void c.#pump();
    return c;
  }

  async #pump(): Promise<void> {
    try {
      for (;;) {
        const [frame] = await this.dealer.receive();
        const b = frame ?? Buffer.alloc(0);
        if (this.#waiter) {
          const w = this.#waiter;
          this.#waiter = null;
          w(b);
        } else this.#inbox.push(b);
      }
    } catch {
      /* closed */
    }
  }

  async send(frame: Buffer | string): Promise<void> {
    await this.dealer.send(typeof frame === "string" ? hexBytes(frame) : frame);
  }

  /** Next reply, as a Buffer; fails clearly after `timeoutMs`. */
  async recv(timeoutMs = 3000): Promise<Buffer> {
    const queued = this.#inbox.shift();
    if (queued) return queued;
    return await new Promise<Buffer>((resolve, reject) => {
      const t = setTimeout(() => {
        this.#waiter = null;
        reject(new Error(`no reply within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiter = (b) => {
        clearTimeout(t);
        resolve(b);
      };
    });
  }

  /** Next reply as hex. */
  async recvHex(timeoutMs?: number): Promise<string> {
    return (await this.recv(timeoutMs)).toString("hex");
  }

  /** Send a command, return the reply as hex. */
  async call(frame: Buffer | string, timeoutMs?: number): Promise<string> {
    await this.send(frame);
    return this.recvHex(timeoutMs);
  }

  get pending(): number {
    return this.#inbox.length;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.dealer.close();
  }
}

export function hexBytes(h: string): Buffer {
  return Buffer.from(h.replace(/\s+/g, ""), "hex");
}

// Hand-built frames (seed 002 ABNF), independent of src/codec.
const u32 = (n: number): string => n.toString(16).padStart(8, "0");
const str = (s: string): string => Buffer.byteLength(s).toString(16).padStart(2, "0") + Buffer.from(s).toString("hex");
export const F = {
  input: (name: string) => `aaa001${str(name)}`,
  output: (name: string) => `aaa004${str(name)}`,
  read: (size: number, timeout: number) => `aaa007${u32(size)}${u32(timeout)}`,
  write: (data: string | Buffer, timeout: number) => {
    const b = typeof data === "string" ? Buffer.from(data) : data;
    return `aaa00c${u32(b.length)}${b.toString("hex")}${u32(timeout)}`;
  },
  close: "aaa010",
  ping: "aaa013",
  INPUT_OK: "aaa002",
  inputFailed: (reason: string) => `aaa003${str(reason)}`,
  OUTPUT_OK: "aaa005",
  outputFailed: (reason: string) => `aaa006${str(reason)}`,
  readOk: (data: string | Buffer) => {
    const b = typeof data === "string" ? Buffer.from(data) : data;
    return `aaa008${u32(b.length)}${b.toString("hex")}`;
  },
  READ_END: "aaa009",
  READ_TIMEOUT: "aaa00a",
  readFailed: (reason: string) => `aaa00b${str(reason)}`,
  WRITE_OK: "aaa00d",
  WRITE_TIMEOUT: "aaa00e",
  writeFailed: (reason: string) => `aaa00f${str(reason)}`,
  CLOSE_OK: "aaa011",
  PING_OK: "aaa014",
  INVALID: "aaa015",
};

export function uniqueName(prefix = "t"): string {
  return `${prefix}-${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
}
