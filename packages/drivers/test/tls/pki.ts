/**
 * A throwaway PKI for TLS tests, made with Debian's `openssl` at test time
 * into a temp dir (no keys committed): a CA, and certificates it signs for
 * 127.0.0.1/localhost (valid, expired, for the wrong host, for a client),
 * plus a self-signed server certificate. EC P-256 keys: fast to make.
 * Generated once per test process; only the PEM strings are kept.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { requireTool } from "../tools.js";

export interface KeyCert {
  key: string;
  cert: string;
}

export interface Pki {
  ca: KeyCert;
  /** For 127.0.0.1 and localhost, signed by the CA, valid now. */
  server: KeyCert;
  /** Same names, signed by the CA, expired in 2020. */
  expired: KeyCert;
  /** Signed by the CA for wrong.example only. */
  wrongHost: KeyCert;
  /** For 127.0.0.1 and localhost, self-signed (no CA). */
  selfSigned: KeyCert;
  /** A client certificate signed by the CA (mutual TLS). */
  client: KeyCert;
  /** A client certificate from an unrelated self-signed CA. */
  strangerClient: KeyCert;
}

let cached: Pki | undefined;

const LOCAL_SAN = "subjectAltName=IP:127.0.0.1,DNS:localhost";

export function testPki(): Pki {
  if (cached !== undefined) return cached;
  const openssl = requireTool("openssl", "openssl");
  const dir = mkdtempSync(join(tmpdir(), "vtx-pki-"));
  const run = (...args: string[]): void => {
    execFileSync(openssl, args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
  };
  const read = (name: string): KeyCert => ({
    key: readFileSync(join(dir, `${name}.key`), "utf8"),
    cert: readFileSync(join(dir, `${name}.pem`), "utf8"),
  });
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];

  // `openssl ca` (not `x509 -req`) so validity dates can be set in the past.
  writeFileSync(join(dir, "index.txt"), "");
  writeFileSync(join(dir, "serial"), "1000\n");
  writeFileSync(
    join(dir, "ca.cnf"),
    [
      "[ ca ]",
      "default_ca = test_ca",
      "[ test_ca ]",
      `dir = ${dir}`,
      "database = $dir/index.txt",
      "new_certs_dir = $dir",
      "serial = $dir/serial",
      "default_md = sha256",
      "policy = any",
      "copy_extensions = copy",
      "unique_subject = no",
      "[ any ]",
      "commonName = supplied",
      "[ leaf ]",
      "basicConstraints = CA:FALSE",
      "keyUsage = digitalSignature, keyEncipherment",
      "extendedKeyUsage = serverAuth, clientAuth",
      "",
    ].join("\n"),
  );

  run("req", "-x509", ...ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=vtx test CA");
  const leaf = (name: string, cn: string, san: string | undefined, dates: string[]): void => {
    run("req", "-new", ...ec, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${cn}`, ...(san ? ["-addext", san] : []));
    run("ca", "-batch", "-notext", "-config", "ca.cnf", "-cert", "ca.pem", "-keyfile", "ca.key", "-extensions", "leaf", "-in", `${name}.csr`, "-out", `${name}.pem`, ...dates);
  };
  leaf("server", "127.0.0.1", LOCAL_SAN, ["-days", "2"]);
  leaf("expired", "127.0.0.1", LOCAL_SAN, ["-startdate", "20200101000000Z", "-enddate", "20200102000000Z"]);
  leaf("wronghost", "wrong.example", "subjectAltName=DNS:wrong.example", ["-days", "2"]);
  leaf("client", "vtx test client", undefined, ["-days", "2"]);
  run("req", "-x509", ...ec, "-keyout", "selfsigned.key", "-out", "selfsigned.pem", "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", LOCAL_SAN);
  run("req", "-x509", ...ec, "-keyout", "stranger.key", "-out", "stranger.pem", "-days", "2", "-subj", "/CN=stranger");

  const pki: Pki = {
    ca: read("ca"),
    server: read("server"),
    expired: read("expired"),
    wrongHost: read("wronghost"),
    selfSigned: read("selfsigned"),
    client: read("client"),
    strangerClient: read("stranger"),
  };
  // Keep the PEM in memory only: no key files left behind (a test needing files writes its own).
  rmSync(dir, { recursive: true, force: true });
  cached = pki;
  return cached;
}
