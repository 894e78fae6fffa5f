/** Structured logging: one JSON object per line. */
export type LogLevel = "debug" | "info" | "warn" | "error";

export interface Logger {
  log(level: LogLevel, event: string, fields?: Record<string, unknown>): void;
}

/** Discards everything (the library default). */
export const silentLogger: Logger = { log() {} };

/** JSON lines to a writable (stderr by default), e.g. `{"ts":...,"level":"warn","event":"bad-input",...}`. */
export function jsonLogger(
  write: (line: string) => void = (line) => process.stderr.write(line),
  minLevel: LogLevel = "info",
): Logger {
  const rank: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };
  return {
    log(level, event, fields) {
      if (rank[level] < rank[minLevel]) return;
      write(`${JSON.stringify({ ts: new Date().toISOString(), level, event, ...fields })}\n`);
    },
  };
}

/** Collects entries in memory (tests). */
export function memoryLogger(): Logger & { entries: { level: LogLevel; event: string; fields: Record<string, unknown> }[] } {
  const entries: { level: LogLevel; event: string; fields: Record<string, unknown> }[] = [];
  return {
    entries,
    log(level, event, fields) {
      if (entries.length < 100_000) entries.push({ level, event, fields: fields ?? {} });
    },
  };
}
