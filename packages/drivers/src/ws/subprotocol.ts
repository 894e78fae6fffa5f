/**
 * ZWS 2.0 subprotocol negotiation (ZeroMQ RFC 45 §"Handshake"). The client
 * lists what it speaks in `Sec-WebSocket-Protocol`; the server picks one of
 * them and names it in its 101 answer, or refuses the connection when it
 * speaks none. The subprotocol chooses the ZMTP mechanism run inside the
 * WebSocket:
 *
 * | subprotocol    | mechanism                                                     |
 * |----------------|---------------------------------------------------------------|
 * | `ZWS2.0`       | none: each side's first message is its routing id (§"No Mechanism") |
 * | `ZWS2.0/NULL`  | ZMTP NULL (READY with Socket-Type and Identity)               |
 * | `ZWS2.0/PLAIN` | ZMTP PLAIN (RFC 24: HELLO, WELCOME, INITIATE, READY)          |
 *
 * `/` is not an HTTP token character, so strict WebSocket stacks (the `ws`
 * package, browsers) refuse `ZWS2.0/NULL` as a subprotocol name. libzmq
 * sends it anyway, so we read and write the header ourselves. Pure: no I/O.
 */

export const ZWS_NONE = "ZWS2.0";
export const ZWS_NULL = "ZWS2.0/NULL";
export const ZWS_PLAIN = "ZWS2.0/PLAIN";

export type ZwsSubprotocol = typeof ZWS_NONE | typeof ZWS_NULL | typeof ZWS_PLAIN;

/** The ZMTP mechanism our side of a link runs (from the link options). */
export type LocalMechanism = "NULL" | "PLAIN";

/** Bound on the header we parse; libzmq keeps 255 bytes of it. */
export const MAX_SUBPROTOCOL_HEADER = 1024;

/**
 * What a client offers, most preferred first. A NULL client offers both
 * NULL and no mechanism, as libzmq does ("ZWS2.0/NULL,ZWS2.0"), so it can
 * talk to a jszmq-style server too; a PLAIN client offers PLAIN only, since
 * falling back to no mechanism would skip authentication.
 */
export function offeredSubprotocols(mechanism: LocalMechanism): ZwsSubprotocol[] {
  return mechanism === "PLAIN" ? [ZWS_PLAIN] : [ZWS_NULL, ZWS_NONE];
}

/**
 * Splits a `Sec-WebSocket-Protocol` header value (possibly several headers
 * joined with ", " by the HTTP parser) into names, in the client's order.
 */
export function parseSubprotocolHeader(value: string | undefined): string[] {
  if (value === undefined) return [];
  return value
    .slice(0, MAX_SUBPROTOCOL_HEADER)
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
}

/**
 * The server's choice among the client's offer, or `undefined` when none
 * fits (the server must then refuse, RFC 45 §"Handshake"). A NULL server
 * prefers `ZWS2.0/NULL` over `ZWS2.0` whatever the client's order, because
 * only NULL carries the peer's Socket-Type for the RFC 37 compatibility
 * check. A PLAIN server accepts only `ZWS2.0/PLAIN`.
 */
export function selectSubprotocol(offered: readonly string[], mechanism: LocalMechanism): ZwsSubprotocol | undefined {
  if (mechanism === "PLAIN") return offered.includes(ZWS_PLAIN) ? ZWS_PLAIN : undefined;
  if (offered.includes(ZWS_NULL)) return ZWS_NULL;
  if (offered.includes(ZWS_NONE)) return ZWS_NONE;
  return undefined;
}

/** True when `name` is a subprotocol we offered (the client's check of the server's answer). */
export function isOffered(name: string, mechanism: LocalMechanism): name is ZwsSubprotocol {
  return (offeredSubprotocols(mechanism) as string[]).includes(name);
}
