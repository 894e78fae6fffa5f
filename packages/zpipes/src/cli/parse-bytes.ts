/** "4m" → 4194304, "64k" → 65536, "1000" → 1000. Throws on anything else. */
export function parseBytes(s: string): number {
  const m = /^(\d+)([kmg]?)i?b?$/i.exec(s.trim());
  if (!m) throw new Error(`not a size: ${s}`);
  const unit = (m[2] ?? "").toLowerCase();
  const mult = unit === "k" ? 1024 : unit === "m" ? 1024 ** 2 : unit === "g" ? 1024 ** 3 : 1;
  return Number(m[1]) * mult;
}
