import type { DriverSpec } from "@vtx/runtime/driver-kit";
import { VtxError } from "@vtx/runtime/errors";

/**
 * `epgm://iface;group:port` (reliable multicast, zmq_pgm(7)) is part of the
 * target design (../shared/DESIGN.md imports it beside udp, tls and ws) but
 * no issue has asked for it yet, and it is not built. The name exists so
 * that the design's import line links; calling it fails at once with
 * `VTX_NOT_IMPLEMENTED` rather than registering a driver that cannot work.
 */
export function epgm(_options: Record<string, unknown> = {}): DriverSpec {
  throw new VtxError("VTX_NOT_IMPLEMENTED", "epgm:// (PGM reliable multicast) is not implemented in vtx yet; libzmq's own epgm:// (where it is built with OpenPGM) is unaffected");
}
