export { Cluster, type ClusterOptions, type ClusterStats } from "./cluster.js";
export { CLUSTER_GROUP, decodeCluster, encodeCluster, type ClusterMessage } from "./messages.js";
export type { PipeEndLike, PipeLike, PipeRegistryLike, ClusterLogger } from "./seam.js";
export { plugin as clusterPlugin, clusterOptionsFromArgs } from "./zbroker-plugin.js";
