import { describe, expect, it } from "vitest";
import { clusterOptionsFromArgs, plugin } from "../../src/cluster/zbroker-plugin.js";

describe("zbroker cluster options", () => {
  it("stays off unless --cluster or --gossip is given", () => {
    expect(clusterOptionsFromArgs({}, "b")).toBeUndefined();
  });

  it("--cluster: UDP beacon discovery with the given port, address, bind and interval", () => {
    const o = clusterOptionsFromArgs(
      { cluster: true, "beacon-port": "45670", "beacon-address": "127.255.255.255", "beacon-bind": "127.255.255.255", "beacon-interval": "200", "zre-host": "127.0.0.1" },
      "alpha",
    );
    expect(o?.zre).toMatchObject({
      name: "alpha",
      host: "127.0.0.1",
      beacon: { port: 45670, broadcast: "127.255.255.255", bind: "127.255.255.255", intervalMs: 200 },
    });
    expect(o?.zre.gossip).toBeUndefined();
  });

  it("--gossip: explicit endpoints, no beacon; 'none' starts a cluster alone", () => {
    expect(clusterOptionsFromArgs({ gossip: ["none"] }, "a")?.zre).toMatchObject({ gossip: [], beacon: false });
    const o = clusterOptionsFromArgs({ gossip: ["tcp://10.0.0.1:49500", "tcp://10.0.0.2:49500"], "zre-port": "49501", "cluster-window": "16m", "zre-expired": "5000" }, "b");
    expect(o).toMatchObject({ window: 16 * 1024 * 1024, zre: { gossip: ["tcp://10.0.0.1:49500", "tcp://10.0.0.2:49500"], beacon: false, port: 49501, expiredMs: 5000 } });
  });

  it("refuses a malformed number with a coded error", () => {
    expect(() => clusterOptionsFromArgs({ cluster: true, "beacon-port": "x1" }, "b")).toThrow(expect.objectContaining({ code: "CLUSTER_BAD_OPTION" }));
  });

  it("declares its options for the command line and its help text", () => {
    expect(Object.keys(plugin.options)).toEqual(expect.arrayContaining(["cluster", "gossip", "beacon-port", "beacon-address", "zre-port", "cluster-window"]));
    expect(plugin.help).toContain("--gossip EP");
  });
});
