import type * as zmq from "zeromq";
import type { BrokerSocketHooks } from "../broker/broker.js";
import type { ClientSocketHooks } from "../client/zpipes-client.js";
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
  connect(socket: zmq.Dealer, endpoint: string): Promise<unknown>;
  close(socket: zmq.Router | zmq.Dealer): Promise<void>;
  destroy(): Promise<void>;
}

/** A vtx manager with the drivers for `schemes` registered (loaded on demand). */
async function managerFor(schemes: readonly string[]): Promise<VtxLike> {
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
  return vtx;
}

const schemeOf = (ep: string): string => ep.slice(0, ep.indexOf("://")).toLowerCase();

/** Client hooks for a virtual endpoint, or undefined for a native one. */
export async function virtualClientHooks(endpoint: string): Promise<ClientSocketHooks | undefined> {
  if (!isVirtual(endpoint)) return undefined;
  const vtx = await managerFor([schemeOf(endpoint)]);
  return {
    connect: (dealer, ep) => vtx.connect(dealer, ep),
    async close(dealer) {
      await vtx.close(dealer);
      await vtx.destroy();
    },
  };
}

/**
 * Socket hooks that bind virtual endpoints through a vtx manager (loaded only
 * when one is asked for) and native ones through libzmq.
 */
export async function virtualSocketHooks(endpoints: readonly string[], logger: Logger): Promise<BrokerSocketHooks | undefined> {
  const schemes = [...new Set(endpoints.filter(isVirtual).map(schemeOf))];
  if (schemes.length === 0) return undefined;
  const vtx = await managerFor(schemes);
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
