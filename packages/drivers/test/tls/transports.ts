/**
 * The tls:// entry of the shared transport table (`TRANSPORTS` in
 * ../helpers.ts), so suites parameterised by `testTransports(...)` run over
 * it. One Vtx both binds (the test PKI's server key and cert) and connects
 * (trusting the test CA), with certificate checks on.
 */
import { tls } from "@vtx/drivers";
import type { TransportCase } from "../helpers.js";
import { testPki } from "./pki.js";

export const TLS_TRANSPORTS: Record<string, TransportCase> = {
  tls: {
    scheme: "tls",
    spec: () => {
      const p = testPki();
      return tls({ key: p.server.key, cert: p.server.cert, ca: p.ca.cert });
    },
    bindEndpoint: () => "tls://127.0.0.1:0",
    endpointAt: (port) => `tls://127.0.0.1:${port}`,
  },
};
