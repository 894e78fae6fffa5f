import type { DriverSpec } from "@vtx/runtime/driver-kit";

/**
 * `ztcp://host:port` — ZMTP 3.1 over plain TCP, run as a vtx driver. Wire
 * compatible with libzmq's `tcp://`; it exists as the interop test bed and
 * the reference driver to copy.
 *
 * ```ts
 * vtx.register("ztcp", ztcp());
 * ```
 */
export function ztcp(): DriverSpec {
  return { module: new URL("./driver.js", import.meta.url).href, export: "createZtcpDriver" };
}
