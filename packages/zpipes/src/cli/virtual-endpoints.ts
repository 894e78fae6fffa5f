import type * as zmq from "zeromq";
import type { BrokerSocketHooks } from "../broker/broker.js";
import type { Logger } from "../log.js";

/**
 * Schemes zbroker binds through a vtx manager and a driver from
 * @vtx/drivers, instead of libzmq: user-space transports a ROUTER cannot
 * bind natively. (tls:// needs certificates: use the library API with
 * `socketHooks` for it.)
 */
export const VIRTUAL_SCHEMES = ["ztcp", "ws", "udp"] as const;

export function isVirtual(endpoint: string): boolean {
  const scheme = endpoint.slice(0, endpoint.indexOf("://")).toLowerCase();
  return (VIRTUAL_SCHEMES as readonly string[]).includes(scheme);
}

interface VtxLike {
  register(scheme: string, spec: unknown): void;
  bind(socket: zmq.Router, endpoint: string): Promise<string>;
  close(socket: zmq.Router): Promise<void>;
  destroy(): Promise<void>;
}

/**
 * Socket hooks that bind virtual endpoints through a vtx manager (loaded only
 * when one is asked for) and native ones through libzmq.
 */
export async function virtualSocketHooks(endpoints: readonly string[], logger: Logger): Promise<BrokerSocketHooks | undefined> {
  const schemes = [...new Set(endpoints.filter(isVirtual).map((ep) => ep.slice(0, ep.indexOf("://")).toLowerCase()))];
  if (schemes.length === 0) return undefined;
  // Specifiers in variables: zpipes builds without the drivers' types, and
  // they load only when a virtual endpoint is used.
  const runtimeName = "@vtx/runtime";
  const driversName = "@vtx/drivers";
  const { Vtx } = (await import(runtimeName)) as { Vtx: new () => VtxLike };
  const drivers = (await import(driversName)) as Record<string, (() => unknown) | undefined>;
  const vtx = new Vtx();
  for (const scheme of schemes) {
    const factory = drivers[scheme];
    if (typeof factory !== "function") throw new Error(`no driver for ${scheme}:// in @vtx/drivers`);
    vtx.register(scheme, factory());
  }
  logger.log("info", "virtual-transports", { schemes });
  return {
    async bind(router, endpoint) {
      if (isVirtual(endpoint)) return vtx.bind(router, endpoint);
      await router.bind(endpoint);
      return /^tcp:\/\/.*:(\*|0)$/.test(endpoint) ? (router.lastEndpoint ?? endpoint) : endpoint;
    },
    async close(router) {
      await vtx.close(router);
      await vtx.destroy();
    },
  };
}
