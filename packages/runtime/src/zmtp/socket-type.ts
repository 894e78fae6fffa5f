/**
 * ZMTP socket types and the compatibility table of ZeroMQ RFC 37 §"The
 * Socket-Type Property": a peer that announces an incompatible type in its
 * READY (or INITIATE) metadata is refused.
 */

/** The classic ØMQ socket types, spelled as they travel in `Socket-Type`. */
export type ZmtpSocketType =
  | "PAIR"
  | "PUB"
  | "SUB"
  | "XPUB"
  | "XSUB"
  | "REQ"
  | "REP"
  | "DEALER"
  | "ROUTER"
  | "PUSH"
  | "PULL";

export const ZMTP_SOCKET_TYPES: readonly ZmtpSocketType[] = [
  "PAIR", "PUB", "SUB", "XPUB", "XSUB", "REQ", "REP", "DEALER", "ROUTER", "PUSH", "PULL",
];

// RFC 37: REQ↔REP/ROUTER, REP↔REQ/DEALER, DEALER↔REP/DEALER/ROUTER,
// ROUTER↔REQ/DEALER/ROUTER, PUB/XPUB↔SUB/XSUB, PUSH↔PULL, PAIR↔PAIR.
const COMPATIBLE: Readonly<Record<ZmtpSocketType, readonly ZmtpSocketType[]>> = {
  PAIR: ["PAIR"],
  PUB: ["SUB", "XSUB"],
  XPUB: ["SUB", "XSUB"],
  SUB: ["PUB", "XPUB"],
  XSUB: ["PUB", "XPUB"],
  REQ: ["REP", "ROUTER"],
  REP: ["REQ", "DEALER"],
  DEALER: ["REP", "DEALER", "ROUTER"],
  ROUTER: ["REQ", "DEALER", "ROUTER"],
  PUSH: ["PULL"],
  PULL: ["PUSH"],
};

/** True if `name` is one of the socket types this engine speaks. */
export function isZmtpSocketType(name: string): name is ZmtpSocketType {
  return Object.prototype.hasOwnProperty.call(COMPATIBLE, name);
}

/** RFC 37 compatibility: may a `local` socket talk to a `remote` one? Symmetric. */
export function isCompatible(local: ZmtpSocketType, remote: ZmtpSocketType): boolean {
  return COMPATIBLE[local].includes(remote);
}

/** Types whose READY carries an `Identity` property (libzmq sends it for these). */
export function sendsIdentity(type: ZmtpSocketType): boolean {
  return type === "REQ" || type === "DEALER" || type === "ROUTER";
}

/** Types that receive subscriptions from their peers (PUB side of RFC 37 §SUBSCRIBE). */
export function receivesSubscriptions(type: ZmtpSocketType): boolean {
  return type === "PUB" || type === "XPUB";
}
