/**
 * Options of the epgm:// driver (docs/protocols/epgm.md §6). Later sources
 * win: the defaults (libzmq's, where libzmq has the option), the spec
 * (`epgm(options)`), the app socket's own zeromq.js options where set away
 * from libzmq's defaults (`rate`, `recoveryInterval`, `multicastHops`,
 * `multicastMaxTransportDataUnit`, through `LinkOptions.multicast`), then
 * per-call `LinkOptions.driver`. `maxMessageSize` and `linger` come from
 * the app socket's options through LinkOptions.
 */
import type { LinkOptions } from "@vtx/runtime/driver-kit";
import { VtxError } from "@vtx/runtime/driver-kit";
import { DEFAULT_MAX_TPDU, IPV4_UDP_OVERHEAD } from "./wire-constants.js";

export interface EpgmOptions {
  /** Sending rate limit in kilobits per second, as ZMQ_RATE (default 100, libzmq's). */
  rate?: number;
  /** How long (ms) the source keeps data for repairs, as ZMQ_RECOVERY_IVL (default 10 000). */
  recoveryInterval?: number;
  /** Largest IP packet (octets, IPv4 + UDP headers included), as ZMQ_MULTICAST_MAXTPDU (default 1500). */
  maxTpdu?: number;
  /** Multicast TTL, as ZMQ_MULTICAST_HOPS (default 1). */
  hops?: number;
  /** Multicast loop, so processes on this host hear each other, as ZMQ_MULTICAST_LOOP (default true). */
  loop?: boolean;
  /** Ambient SPM interval, ms (default 8192, libzmq's). */
  spmInterval?: number;
  /** Heartbeat SPMs after data, ms apart (default libzmq's 4, 4, 8 … 8192). */
  heartbeatSpm?: number[];
  /** NAK back-off upper bound, ms (default 50). */
  nakBackoff?: number;
  /** Wait for an NCF after a NAK, ms (default 200). */
  nakRepeat?: number;
  /** Wait for RDATA after an NCF, ms (default 200). */
  nakRdata?: number;
  /** NAKs without an NCF before data is declared lost (default 2). */
  ncfRetries?: number;
  /** NCFs without RDATA before data is declared lost (default 5). */
  dataRetries?: number;
  /** A source silent this long (ms) is forgotten (default 40 960, libzmq's 5 × 8192). */
  peerExpiry?: number;
  /** Sources one receiving endpoint follows at most (default 64). */
  maxSources?: number;
  /** Packets a receive window may hold ahead of delivery (default 16 384). */
  maxWindow?: number;
  /** Octets the transmit window holds at most (default 32 MiB). */
  maxWindowBytes?: number;
  /** SO_RCVBUF / SO_SNDBUF to ask for, octets (default 4 MiB each). */
  recvBufferSize?: number;
  sendBufferSize?: number;
  /** How often drop counts are reported as `peer-error` events, ms (default 1000). */
  dropReportInterval?: number;
}

export interface ResolvedEpgmOptions extends Required<EpgmOptions> {
  maxMessageSize: number;
  linger: number;
}

const DEFAULTS: Required<EpgmOptions> = {
  rate: 100,
  recoveryInterval: 10_000,
  maxTpdu: DEFAULT_MAX_TPDU,
  hops: 1,
  loop: true,
  spmInterval: 8192,
  heartbeatSpm: [4, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192],
  nakBackoff: 50,
  nakRepeat: 200,
  nakRdata: 200,
  ncfRetries: 2,
  dataRetries: 5,
  peerExpiry: 5 * 8192,
  maxSources: 64,
  maxWindow: 16_384,
  maxWindowBytes: 32 * 1024 * 1024,
  recvBufferSize: 4 * 1024 * 1024,
  sendBufferSize: 4 * 1024 * 1024,
  dropReportInterval: 1000,
};

function positive(name: string, v: unknown, min = 1): number {
  if (typeof v !== "number" || !Number.isFinite(v) || v < min) throw new VtxError("VTX_OPTION_INVALID", `epgm: ${name} must be a number >= ${min}`);
  return v;
}

export function resolveOptions(spec: unknown, link: LinkOptions): ResolvedEpgmOptions {
  const o: Record<string, unknown> = { ...DEFAULTS, ...(spec as EpgmOptions | undefined), ...link.multicast, ...(link.driver as EpgmOptions | undefined) };
  const r = o as unknown as Required<EpgmOptions>;
  positive("rate", r.rate);
  positive("recoveryInterval", r.recoveryInterval);
  positive("maxTpdu", r.maxTpdu, IPV4_UDP_OVERHEAD + 64);
  if (r.maxTpdu > 65_535) throw new VtxError("VTX_OPTION_INVALID", "epgm: maxTpdu must be <= 65535");
  positive("hops", r.hops, 0);
  for (const k of ["spmInterval", "nakBackoff", "nakRepeat", "nakRdata", "peerExpiry", "maxSources", "maxWindow", "maxWindowBytes", "dropReportInterval"] as const) positive(k, r[k]);
  positive("ncfRetries", r.ncfRetries, 0);
  positive("dataRetries", r.dataRetries, 0);
  if (!Array.isArray(r.heartbeatSpm) || r.heartbeatSpm.some((v) => typeof v !== "number" || !(v > 0))) {
    throw new VtxError("VTX_OPTION_INVALID", "epgm: heartbeatSpm must be a list of positive intervals");
  }
  return { ...r, loop: r.loop !== false, maxMessageSize: link.maxMessageSize, linger: link.linger };
}
