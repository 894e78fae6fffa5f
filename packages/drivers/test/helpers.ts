/**
 * Test helpers shared by every driver's tests: one place that knows which
 * transports exist, how to make a fresh endpoint for each, and how to bound
 * a wait so a hung test fails with a clear message instead of a timeout.
 */
import { Vtx, type VtxOptions, type VtxEvent, type DriverSpec } from "@vtx/runtime";
import { udp, ztcp } from "@vtx/drivers";
import { WS_TRANSPORTS } from "./ws/transports.js";
import { TLS_TRANSPORTS } from "./tls/transports.js";

export interface TransportCase {
  /** Scheme registered with vtx. */
  scheme: string;
  spec: () => DriverSpec;
  /** A bind endpoint with an ephemeral port (bind resolves the real one). */
  bindEndpoint: () => string;
  /** The loopback endpoint at a fixed port (a peer that restarts binds the same one). */
  endpointAt: (port: number) => string;
  /** An IPv6 loopback bind endpoint with an ephemeral port, if the transport does IPv6. */
  bindEndpoint6?: () => string;
  /** The native libzmq endpoint that speaks the same wire (for interop), if any. */
  native?: (vtxEndpoint: string) => string;
  /** The virtual endpoint that reaches a native libzmq bind (inverse of `native`). */
  fromNative?: (nativeEndpoint: string) => string;
}

export const TRANSPORTS: Record<string, TransportCase> = {
  ztcp: {
    scheme: "ztcp",
    spec: ztcp,
    bindEndpoint: () => "ztcp://127.0.0.1:0",
    endpointAt: (port) => `ztcp://127.0.0.1:${port}`,
    bindEndpoint6: () => "ztcp://[::1]:0",
    native: (ep) => ep.replace(/^ztcp:/, "tcp:"),
    fromNative: (ep) => ep.replace(/^tcp:/, "ztcp:"),
  },
  // Reliable mode: the suite expects lossless, in-order delivery and
  // backpressure, which plain UDP does not give. Fast heartbeats: UDP has no
  // connection whose loss the kernel reports.
  udp: {
    scheme: "udp",
    spec: () => udp({ reliable: true, heartbeatInterval: 250, heartbeatTimeout: 2000 }),
    bindEndpoint: () => "udp://127.0.0.1:0",
    endpointAt: (port) => `udp://127.0.0.1:${port}`,
  },
  ...WS_TRANSPORTS,
  ...TLS_TRANSPORTS,
};

/** The transports a pattern suite runs over (VTX_TRANSPORTS=ztcp,udp narrows it). */
export function testTransports(...names: string[]): TransportCase[] {
  const wanted = process.env.VTX_TRANSPORTS?.split(",") ?? names;
  return names.filter((n) => wanted.includes(n)).map((n) => {
    const t = TRANSPORTS[n];
    if (!t) throw new Error(`unknown transport ${n}`);
    return t;
  });
}

/** A Vtx with the given transport registered; destroy it in afterEach. */
export function vtxWith(t: TransportCase, options?: VtxOptions): Vtx {
  const vtx = new Vtx(options);
  vtx.register(t.scheme, t.spec());
  return vtx;
}

/** Rejects with `what` if `p` does not settle within `ms`. */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]);
}

/** Frames as strings, for readable assertions on small messages. */
export function strs(frames: Buffer[]): string[] {
  return frames.map((f) => f.toString());
}

/** A port nobody listens on right now (bind to 0, read, close). */
export async function freePort(): Promise<number> {
  const net = await import("node:net");
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** A frame for tests: strings as UTF-8, Buffers as they are. */
export function buf(x: string | Buffer): Buffer {
  return typeof x === "string" ? Buffer.from(x) : x;
}

/**
 * Asserts two multipart messages are byte-identical, with a short message
 * (frame index, sizes, first bytes) instead of a diff of a 1 MiB buffer.
 */
export function expectFrames(actual: Buffer[], expected: Array<string | Buffer>, what = "message"): void {
  const want = expected.map(buf);
  const show = (fs: Buffer[]): string =>
    `[${fs.map((f) => (f.length <= 24 ? JSON.stringify(f.toString("latin1")) : `${f.length} B ${f.subarray(0, 8).toString("hex")}…`)).join(", ")}]`;
  const same = actual.length === want.length && actual.every((f, i) => f.equals(want[i]!));
  if (!same) throw new Error(`${what}: got ${show(actual)}, expected ${show(want)}`);
}

/** Resolves after `ms` (for pacing a bounded probe loop, never for waiting on an event). */
export function tick(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

interface Receiver {
  receive(): Promise<Buffer[]>;
}
interface Sender {
  send(msg: Buffer[] | Buffer | string): Promise<void>;
}

/**
 * PUB/SUB slow joiner (zguide ch. 1): a subscription takes a moment to reach
 * the publisher, and anything published before that is dropped. Publishes
 * `probe` every `everyMs` until the subscriber receives it, bounded by
 * `maxProbes` and `timeoutMs`. Whatever else the subscriber receives
 * meanwhile (stragglers of an earlier probe) is discarded; later copies of
 * this probe still in flight are the caller's to skip (see
 * {@link receiveSkipping}).
 */
export async function publishUntilSeen(
  pub: Sender,
  sub: Receiver,
  probe: Array<string | Buffer>,
  { everyMs = 10, maxProbes = 500, timeoutMs = 5000 } = {},
): Promise<number> {
  const frames = probe.map(buf);
  const isProbe = (m: Buffer[]): boolean => m.length === frames.length && m.every((f, i) => f.equals(frames[i]!));
  let seen = false;
  let stop = false;
  const got = (async () => {
    for (let i = 0; i < 100_000 && !stop; i++) {
      if (isProbe(await sub.receive())) {
        seen = true;
        return;
      }
    }
  })();
  got.catch(() => undefined);
  const deadline = Date.now() + timeoutMs;
  try {
    for (let n = 1; n <= maxProbes && Date.now() < deadline; n++) {
      await pub.send(frames);
      await Promise.race([got, tick(everyMs)]);
      if (seen) return n;
    }
  } finally {
    stop = true;
  }
  throw new Error(`subscriber never saw the probe (${maxProbes} probes, ${timeoutMs} ms)`);
}

/** Receives the next message whose first frame is not `skip` (stragglers of a probe). */
export async function receiveSkipping(sock: Receiver, skip: string | Buffer, ms: number, what: string): Promise<Buffer[]> {
  const s = buf(skip);
  const deadline = Date.now() + ms;
  for (let i = 0; i < 10_000; i++) {
    const m = await within(sock.receive(), Math.max(1, deadline - Date.now()), what);
    if (!(m.length === 1 && m[0]!.equals(s))) return m;
  }
  throw new Error(`${what}: only probes arrived`);
}

/**
 * Starts waiting for a vtx event now (so it cannot be missed) and returns
 * the promise, already guarded: a test that fails before awaiting it does
 * not also leave an unhandled rejection behind.
 */
export function expectEvent(vtx: Vtx, pred: (e: VtxEvent) => boolean, ms: number, what: string): Promise<VtxEvent> {
  const p = vtx.waitFor(pred, ms).catch((err: unknown) => {
    throw new Error(`${what}: ${(err as Error).message}`);
  });
  p.catch(() => undefined);
  return p;
}

/**
 * Starts collecting vtx events matching `pred` now and resolves once `n`
 * have arrived (e.g. "3 workers connected"), or rejects after `ms`.
 */
export function expectEvents(vtx: Vtx, pred: (e: VtxEvent) => boolean, n: number, ms: number, what: string): Promise<VtxEvent[]> {
  const seen: VtxEvent[] = [];
  let off: () => void = () => undefined;
  const p = within(
    new Promise<VtxEvent[]>((resolve) => {
      off = vtx.on((e) => {
        if (!pred(e)) return;
        seen.push(e);
        if (seen.length === n) resolve(seen);
      });
    }),
    ms,
    `${what} (${seen.length} of ${n} seen)`,
  ).finally(() => off());
  p.catch(() => undefined);
  return p;
}

/** A child Node process running a fixture, with its stdout lines awaitable. */
export interface Child {
  readonly pid: number;
  /** Resolves with the first stdout line matching `re` (rejects after `ms` or if the child exits first). */
  line(re: RegExp, ms: number): Promise<RegExpMatchArray>;
  /** Kills the child (SIGKILL: the process dies without closing anything) and waits for it to be gone. */
  kill(): Promise<void>;
}

/** Runs `node <fixture> ...args` (fixtures live in test/fixtures/ and import the built @vtx/* dist). */
export async function spawnFixture(fixture: string, args: string[]): Promise<Child> {
  const { spawn } = await import("node:child_process");
  const path = new URL(`./fixtures/${fixture}`, import.meta.url).pathname;
  const proc = spawn(process.execPath, [path, ...args], { stdio: ["ignore", "pipe", "inherit"] });
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  let exited = false;
  const exit = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
  void exit.then(() => {
    exited = true;
    for (const w of [...waiters]) w();
  });
  let partial = "";
  proc.stdout.setEncoding("utf8");
  proc.stdout.on("data", (chunk: string) => {
    partial += chunk;
    const parts = partial.split("\n");
    partial = parts.pop() ?? "";
    lines.push(...parts);
    for (const w of [...waiters]) w();
  });
  return {
    pid: proc.pid ?? -1,
    line(re, ms) {
      return within(
        new Promise<RegExpMatchArray>((resolve, reject) => {
          const check = (): void => {
            for (const l of lines) {
              const m = re.exec(l);
              if (m) {
                waiters.delete(check);
                resolve(m);
                return;
              }
            }
            if (exited) {
              waiters.delete(check);
              reject(new Error(`${fixture} exited before printing ${String(re)}`));
            }
          };
          waiters.add(check);
          check();
        }),
        ms,
        `${fixture}: a line matching ${String(re)}`,
      );
    },
    async kill() {
      if (!exited) proc.kill("SIGKILL");
      await within(exit, 5000, `${fixture} to exit after SIGKILL`);
    },
  };
}
