/**
 * Socket types on the wire (libzmq's ZMQ_* numbering, docs/protocols/udp.md
 * §2.1) and the compatibility table a HELLO is validated against (§3.1, the
 * same table as ZMTP, RFC 37 / RFC 28).
 */

export type SocketType =
  | "PAIR"
  | "PUB"
  | "SUB"
  | "REQ"
  | "REP"
  | "DEALER"
  | "ROUTER"
  | "PULL"
  | "PUSH"
  | "XPUB"
  | "XSUB";

/** Index = wire code (libzmq's ZMQ_PAIR = 0 ... ZMQ_XSUB = 10). */
const BY_CODE: readonly SocketType[] = [
  "PAIR",
  "PUB",
  "SUB",
  "REQ",
  "REP",
  "DEALER",
  "ROUTER",
  "PULL",
  "PUSH",
  "XPUB",
  "XSUB",
];

const CODES: Readonly<Record<SocketType, number>> = {
  PAIR: 0,
  PUB: 1,
  SUB: 2,
  REQ: 3,
  REP: 4,
  DEALER: 5,
  ROUTER: 6,
  PULL: 7,
  PUSH: 8,
  XPUB: 9,
  XSUB: 10,
};

const COMPATIBLE: Readonly<Record<SocketType, readonly SocketType[]>> = {
  REQ: ["REP", "ROUTER"],
  REP: ["REQ", "DEALER"],
  DEALER: ["REP", "DEALER", "ROUTER"],
  ROUTER: ["REQ", "DEALER", "ROUTER"],
  PUB: ["SUB", "XSUB"],
  XPUB: ["SUB", "XSUB"],
  SUB: ["PUB", "XPUB"],
  XSUB: ["PUB", "XPUB"],
  PUSH: ["PULL"],
  PULL: ["PUSH"],
  PAIR: ["PAIR"],
};

export const SOCKET_TYPES: readonly SocketType[] = BY_CODE;

export function socketTypeCode(type: SocketType): number {
  return CODES[type];
}

/** The socket type for a wire code, or undefined if the code is not one. */
export function socketTypeFromCode(code: number): SocketType | undefined {
  return BY_CODE[code];
}

/** §3.1: may a `local` socket talk to a `remote` one? The table is symmetric. */
export function socketTypesCompatible(local: SocketType, remote: SocketType): boolean {
  return COMPATIBLE[local].includes(remote);
}
