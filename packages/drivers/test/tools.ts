/**
 * Debian tools the interop tests drive (stunnel4, tinyproxy, openssl). CI
 * installs them (.ci/run); a test that needs one fails with a clear message
 * when it is missing instead of silently skipping.
 */
import { execFileSync } from "node:child_process";

const found = new Map<string, string>();

/** Absolute path of `bin` on PATH; throws naming the Debian package to install. */
export function requireTool(bin: string, debianPackage: string): string {
  const hit = found.get(bin);
  if (hit !== undefined) return hit;
  let path = "";
  try {
    path = execFileSync("sh", ["-c", `command -v ${bin}`], { encoding: "utf8" }).trim();
  } catch {
    path = "";
  }
  if (path === "") {
    throw new Error(`this test needs \`${bin}\`: apt-get install ${debianPackage} (.ci/run installs it)`);
  }
  found.set(bin, path);
  return path;
}
