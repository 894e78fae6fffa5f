/**
 * The ws:// and wss:// entries of the shared transport table
 * (`TRANSPORTS` in ../helpers.ts), so suites parameterised by
 * `testTransports(...)` run over them.
 */
import { ws, wss } from "@vtx/drivers";
import type { TransportCase } from "../helpers.js";
import { tlsFixture } from "./tls-fixture.js";

export const WS_TRANSPORTS: Record<string, TransportCase> = {
  ws: {
    scheme: "ws",
    spec: () => ws(),
    bindEndpoint: () => "ws://127.0.0.1:0/zmq",
    endpointAt: (port) => `ws://127.0.0.1:${port}/zmq`,
    bindEndpoint6: () => "ws://[::1]:0/zmq",
    // libzmq's own ws:// speaks the same wire at the same address.
    native: (ep) => ep,
    fromNative: (ep) => ep,
  },
  wss: {
    scheme: "wss",
    // One Vtx binds (key, cert) and connects (trusting the test CA) in the suites.
    spec: () => {
      const t = tlsFixture();
      return wss({ key: t.key, cert: t.cert, ca: t.ca });
    },
    bindEndpoint: () => "wss://127.0.0.1:0/zmq",
    endpointAt: (port) => `wss://127.0.0.1:${port}/zmq`,
    bindEndpoint6: () => "wss://[::1]:0/zmq",
  },
};
