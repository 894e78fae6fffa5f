/**
 * The name service's messages (frames of a REQ/REP-style exchange over
 * udp://), after the seeds' "ZeroMQ Name Service": a server answers
 * "where is service X?" and takes registrations.
 *
 *   request  = id "LOOKUP" name            reply = id "FOUND" name endpoint / id "UNKNOWN" name
 *   request  = id "REGISTER" name endpoint reply = id "OK" name
 *
 * `id` is the client's request number, echoed so a client asking several
 * servers at once can match the answers.
 */
export const DEFAULT_PORT = 5670;

export type NameRequest =
  | { id: string; op: "LOOKUP"; name: string }
  | { id: string; op: "REGISTER"; name: string; endpoint: string };

export type NameReply = { id: string; op: "FOUND"; name: string; endpoint: string } | { id: string; op: "UNKNOWN"; name: string } | { id: string; op: "OK"; name: string };

export function parseRequest(frames: Buffer[]): NameRequest | undefined {
  const [id, op, name, endpoint] = frames.map((f) => f.toString("utf8"));
  if (id === undefined || name === undefined) return undefined;
  if (op === "LOOKUP" && frames.length === 3) return { id, op, name };
  if (op === "REGISTER" && frames.length === 4 && endpoint !== undefined) return { id, op, name, endpoint };
  return undefined;
}

export function replyFrames(r: NameReply): string[] {
  return r.op === "FOUND" ? [r.id, r.op, r.name, r.endpoint] : [r.id, r.op, r.name];
}

export function parseReply(frames: Buffer[]): NameReply | undefined {
  const [id, op, name, endpoint] = frames.map((f) => f.toString("utf8"));
  if (id === undefined || name === undefined) return undefined;
  if (op === "FOUND" && endpoint !== undefined) return { id, op, name, endpoint };
  if (op === "UNKNOWN" || op === "OK") return { id, op, name };
  return undefined;
}
