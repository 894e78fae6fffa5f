/**
 * Test certificates for wss://, made once per test process with Debian's
 * `openssl` in a temporary directory: a CA, a server certificate it signs
 * for localhost / 127.0.0.1 / ::1, a self-signed one nobody trusts, and one
 * for another host name.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { requireTool } from "../tools.js";

export interface TlsFixture {
  /** PEM of the test CA (give it as `ca` to trust the server). */
  ca: string;
  /** The server's key and certificate (signed by the CA, names localhost, 127.0.0.1, ::1). */
  key: string;
  cert: string;
  /** A self-signed certificate for 127.0.0.1 that no CA vouches for. */
  selfSignedKey: string;
  selfSignedCert: string;
  /** Signed by the CA, but for `other.invalid` only. */
  otherHostKey: string;
  otherHostCert: string;
}

let cached: TlsFixture | undefined;

export function tlsFixture(): TlsFixture {
  if (cached) return cached;
  const openssl = requireTool("openssl", "openssl");
  const dir = mkdtempSync(join(tmpdir(), "vtx-ws-tls-"));
  const run = (...args: string[]): void => {
    execFileSync(openssl, args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
  };
  try {
    const key = (name: string): void => run("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", `${name}.key`);
    key("ca");
    run("req", "-x509", "-new", "-key", "ca.key", "-subj", "/CN=vtx test CA", "-days", "3650", "-out", "ca.pem",
      "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign");
    const signed = (name: string, cn: string, san: string): void => {
      key(name);
      run("req", "-new", "-key", `${name}.key`, "-subj", `/CN=${cn}`, "-out", `${name}.csr`);
      writeFileSync(join(dir, `${name}.ext`), `subjectAltName=${san}\nextendedKeyUsage=serverAuth,clientAuth\n`);
      run("x509", "-req", "-in", `${name}.csr`, "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "3650",
        "-extfile", `${name}.ext`, "-out", `${name}.pem`);
    };
    signed("server", "localhost", "DNS:localhost,IP:127.0.0.1,IP:::1");
    signed("other", "other.invalid", "DNS:other.invalid");
    key("self");
    run("req", "-x509", "-new", "-key", "self.key", "-subj", "/CN=127.0.0.1", "-days", "3650", "-out", "self.pem",
      "-addext", "subjectAltName=IP:127.0.0.1");
    const read = (f: string): string => readFileSync(join(dir, f), "utf8");
    cached = {
      ca: read("ca.pem"),
      key: read("server.key"),
      cert: read("server.pem"),
      selfSignedKey: read("self.key"),
      selfSignedCert: read("self.pem"),
      otherHostKey: read("other.key"),
      otherHostCert: read("other.pem"),
    };
    return cached;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
