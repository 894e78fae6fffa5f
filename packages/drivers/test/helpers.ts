/**
 * Test helpers shared by every driver's tests: one place that knows which
 * transports exist, how to make a fresh endpoint for each, and how to bound
 * a wait so a hung test fails with a clear message instead of a timeout.
 */
import { Vtx, type VtxOptions, type DriverSpec } from "@vtx/runtime";
import { ztcp } from "@vtx/drivers";

export interface TransportCase {
  /** Scheme registered with vtx. */
  scheme: string;
  spec: () => DriverSpec;
  /** A bind endpoint with an ephemeral port (bind resolves the real one). */
  bindEndpoint: () => string;
  /** The native libzmq endpoint that speaks the same wire (for interop), if any. */
  native?: (vtxEndpoint: string) => string;
}

export const TRANSPORTS: Record<string, TransportCase> = {
  ztcp: {
    scheme: "ztcp",
    spec: ztcp,
    bindEndpoint: () => "ztcp://127.0.0.1:0",
    native: (ep) => ep.replace(/^ztcp:/, "tcp:"),
  },
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
