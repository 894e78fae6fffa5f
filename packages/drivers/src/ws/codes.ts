/**
 * Error codes of the ws:// and wss:// drivers (docs/protocols/zws.md
 * §"Error codes"). Callers match on the code, never on the message. Errors
 * of the ZMTP handshake run inside ZWS keep the engine's `ZMTP_*` codes;
 * proxy tunnelling keeps `VTX_PROXY_*`; TLS keeps node's codes.
 */
export const ZWS_ERR = {
  /** A binary message with no flag byte (RFC 45 §"Framing": a frame is a FLAG byte and a body). */
  EMPTY_FRAME: "ZWS_EMPTY_FRAME",
  /** A flag byte other than 0x00 (last), 0x01 (more) or 0x02 (command). */
  BAD_FLAGS: "ZWS_BAD_FLAGS",
  /** Under `ZWS2.0` (no mechanism) the first frame is not a lone routing id of at most 255 bytes. */
  BAD_ROUTING_ID: "ZWS_BAD_ROUTING_ID",
  /** A command frame under `ZWS2.0` (no mechanism), whose grammar has none. */
  UNEXPECTED_COMMAND: "ZWS_UNEXPECTED_COMMAND",
  /** A text WebSocket message (RFC 45 §"Implementation": ZWS messages are binary). */
  NOT_BINARY: "ZWS_NOT_BINARY",
  /** A WebSocket message larger than the link's maxMessageSize allows (the WebSocket is closed with 1009). */
  MESSAGE_TOO_LARGE: "ZWS_MESSAGE_TOO_LARGE",
  /** The peer broke RFC 6455 framing (bad opcode, mask, fragment, control frame...); `detail.wsCode` has the `ws` package's code. */
  BAD_WEBSOCKET_FRAME: "ZWS_BAD_WEBSOCKET_FRAME",
  /** No ZWS 2.0 subprotocol both sides speak for the link's mechanism (server: refused with 400; client: the server answered with none or one we did not offer). */
  SUBPROTOCOL: "ZWS_SUBPROTOCOL",
  /** Not a WebSocket upgrade (plain HTTP request, bad Upgrade/Key/Version headers): answered 4xx. */
  BAD_UPGRADE: "ZWS_BAD_UPGRADE",
  /** The request's path is not the bound path: answered 404. */
  PATH_NOT_FOUND: "ZWS_PATH_NOT_FOUND",
  /** Client side: the server answered the upgrade with another status than 101 (`detail.status`). */
  UPGRADE_REFUSED: "ZWS_UPGRADE_REFUSED",
  /** The peer closed the WebSocket with an error status (`detail.code`, `detail.reason`). */
  PEER_CLOSED: "ZWS_PEER_CLOSED",
  /** Options for the driver are wrong (TLS material, proxy URL type...). */
  BAD_OPTION: "ZWS_BAD_OPTION",
} as const;

export type ZwsErrorCode = (typeof ZWS_ERR)[keyof typeof ZWS_ERR];
