/**
 * The `zbroker` add-on that joins the broker to a ZPIPES cluster. The
 * command loads this module (dist/cluster/zbroker-plugin.js) and calls
 * {@link plugin}; it fits the broker's `BrokerPlugin` shape.
 */
import { VtxError } from "@vtx/runtime/errors";
import { Cluster } from "./cluster.js";
import type { ClusterLogger, PipeRegistryLike } from "./seam.js";
import type { ZreNodeOptions } from "../zre/node.js";

type Values = Record<string, string | boolean | (string | boolean)[] | undefined>;

const OPTIONS = {
  cluster: { type: "boolean" },
  gossip: { type: "string", multiple: true },
  "zre-host": { type: "string" },
  "zre-advertise": { type: "string" },
  "zre-port": { type: "string" },
  "beacon-port": { type: "string" },
  "beacon-address": { type: "string" },
  "beacon-bind": { type: "string" },
  "beacon-interval": { type: "string" },
  "zre-evasive": { type: "string" },
  "zre-expired": { type: "string" },
  "cluster-window": { type: "string" },
  "cluster-max-inbound": { type: "string" },
} as const;

const HELP = `Cluster (ZRE, ZeroMQ RFC 36; group ZPIPES):
      --cluster              join a cluster, discovering brokers by UDP beacon
      --gossip EP            join a cluster by dialling EP (tcp://host:port of another
                             broker's ZRE node; repeatable). No UDP at all. A first
                             broker of a gossip cluster gives --gossip none.
      --zre-host ADDR        interface the ZRE ROUTER binds (default 0.0.0.0)
      --zre-advertise HOST   host other brokers dial (default: zre-host, or the first
                             external IPv4 when binding 0.0.0.0)
      --zre-port N           ZRE ROUTER port (default ephemeral; fix it for gossip)
      --beacon-port N        UDP beacon port (default 5670)
      --beacon-address ADDR  where beacons are sent (default 255.255.255.255)
      --beacon-bind ADDR     address the beacon receiver binds (default 0.0.0.0)
      --beacon-interval MS   beacon interval (default 1000)
      --zre-evasive MS       silence before a peer is pinged (default 5000)
      --zre-expired MS       silence before a peer is dropped and its transfers fail (default 30000)
      --cluster-window BYTES credit granted to a remote writer (default 8m)
      --cluster-max-inbound BYTES  credit granted to all remote writers together (default 256m)`;

function int(values: Values, key: string): number | undefined {
  const v = values[key];
  if (typeof v !== "string") return undefined;
  const m = /^(\d+)([kmg]?)$/i.exec(v.trim());
  if (!m) throw new VtxError("CLUSTER_BAD_OPTION", `--${key} expects a number, got '${v}'`);
  const mult = { "": 1, k: 1024, m: 1024 * 1024, g: 1024 * 1024 * 1024 }[m[2]!.toLowerCase() as "" | "k" | "m" | "g"];
  return Number(m[1]) * mult;
}

/** ZRE node options from `zbroker` values; undefined when clustering was not asked for. */
export function clusterOptionsFromArgs(values: Values, brokerName: string): { zre: ZreNodeOptions; window?: number; maxInbound?: number } | undefined {
  const gossipRaw = values.gossip;
  const gossip = Array.isArray(gossipRaw) ? gossipRaw.filter((g): g is string => typeof g === "string") : typeof gossipRaw === "string" ? [gossipRaw] : undefined;
  if (!values.cluster && gossip === undefined) return undefined;
  const zre: ZreNodeOptions = { name: brokerName, headers: { "X-ZPIPES-BROKER": brokerName }, host: (values["zre-host"] as string | undefined) ?? "0.0.0.0" };
  // zbroker's --no-direct: peers through libzmq too.
  if (values["no-direct"] === true) zre.direct = false;
  const advertise = values["zre-advertise"];
  if (typeof advertise === "string") zre.advertise = advertise;
  const port = int(values, "zre-port");
  if (port !== undefined) zre.port = port;
  const evasive = int(values, "zre-evasive");
  const expired = int(values, "zre-expired");
  if (evasive !== undefined) zre.evasiveMs = evasive;
  if (expired !== undefined) zre.expiredMs = expired;
  if (gossip !== undefined) {
    zre.gossip = gossip.filter((g) => g !== "none" && g !== "");
    zre.beacon = false;
  } else {
    const beacon: NonNullable<Exclude<ZreNodeOptions["beacon"], false>> = {};
    const bport = int(values, "beacon-port");
    if (bport !== undefined) beacon.port = bport;
    if (typeof values["beacon-address"] === "string") beacon.broadcast = values["beacon-address"];
    if (typeof values["beacon-bind"] === "string") beacon.bind = values["beacon-bind"];
    const interval = int(values, "beacon-interval");
    if (interval !== undefined) beacon.intervalMs = interval;
    zre.beacon = beacon;
  }
  const window = int(values, "cluster-window");
  const maxInbound = int(values, "cluster-max-inbound");
  return { zre, ...(window !== undefined ? { window } : {}), ...(maxInbound !== undefined ? { maxInbound } : {}) };
}

export const plugin = {
  name: "cluster",
  options: OPTIONS,
  help: HELP,
  async start(broker: { readonly name: string; readonly registry: PipeRegistryLike }, values: Values, logger: ClusterLogger): Promise<{ stop(): Promise<void> } | undefined> {
    const opts = clusterOptionsFromArgs(values, broker.name);
    if (opts === undefined) return undefined;
    const cluster = new Cluster({
      registry: broker.registry,
      zre: opts.zre,
      ...(opts.window !== undefined ? { window: opts.window } : {}),
      ...(opts.maxInbound !== undefined ? { maxInbound: opts.maxInbound } : {}),
      logger,
    });
    await cluster.start();
    logger.log("info", "cluster-ready", { zre: cluster.node.endpoint, id: cluster.node.id, gossip: opts.zre.gossip ?? null });
    return { stop: () => cluster.stop() };
  },
};
