/**
 * What a ZRE node reports to its application. Peers are named by their UUID
 * as 32 upper-case hex digits (as Zyre prints them).
 */
export type ZreExitReason =
  /** Silent for longer than `expiredMs` (RFC 36: a peer that does not answer PING is gone). */
  | "expired"
  /** Sent a beacon with port 0 (RFC 36: the node is leaving). */
  | "left"
  /** A gap in its sequence numbers: messages were lost, the link is no longer trusted. */
  | "lost-messages"
  /** Sent a new HELLO while we already knew it: it restarted with the same UUID. */
  | "restarted";

export type ZreEvent =
  | { type: "ENTER"; peer: string; name: string; endpoint: string; headers: Readonly<Record<string, string>> }
  | { type: "EXIT"; peer: string; name: string; reason: ZreExitReason }
  | { type: "JOIN"; peer: string; name: string; group: string }
  | { type: "LEAVE"; peer: string; name: string; group: string }
  | { type: "WHISPER"; peer: string; name: string; content: Buffer[] }
  | { type: "SHOUT"; peer: string; name: string; group: string; content: Buffer[] }
  /** Silent for longer than `evasiveMs`: we sent it a PING. */
  | { type: "EVASIVE"; peer: string; name: string };

export type ZreEventType = ZreEvent["type"];

/** One structured log record (the node never writes to stdout itself). */
export interface ZreLogRecord {
  level: "debug" | "info" | "warn";
  msg: string;
  [key: string]: unknown;
}
