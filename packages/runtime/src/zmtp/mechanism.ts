/**
 * The security-mechanism interface of the engine (RFC 37 §"Authentication
 * and Confidentiality"). A mechanism owns the handshake that follows the
 * greeting and, optionally, the protection of every frame afterwards.
 *
 * The engine knows nothing about any mechanism beyond this interface:
 * - {@link Mechanism.start} runs once the peer's greeting has been accepted
 *   and returns the first commands (NULL: READY; PLAIN client: HELLO);
 * - every command frame received during the handshake goes to
 *   {@link Mechanism.handle}, which returns commands to send and, at the
 *   end, the peer's metadata (or an error). A step may be a Promise (a
 *   ZAP-like authenticator): the engine stops decoding until it settles;
 * - after the handshake, a mechanism with {@link Mechanism.framing} (CURVE,
 *   RFC 26: every frame travels encrypted inside a MESSAGE command) wraps
 *   each outgoing frame into a command body and unwraps each incoming
 *   command back into a frame. NULL and PLAIN have no framing, so the data
 *   path stays a plain frame codec.
 */
import type { VtxError } from "../errors.js";
import type { ZmtpCommand } from "./commands.js";
import type { Greeting } from "./greeting.js";
import type { Metadata } from "./metadata.js";
import type { ZmtpSocketType } from "./socket-type.js";

export interface MechanismContext {
  readonly socketType: ZmtpSocketType;
  /** Encoded metadata this side announces in READY / INITIATE (Socket-Type, Identity, X- properties). */
  readonly localMetadata: Buffer;
  /** The transport's idea of the peer (e.g. "127.0.0.1:5555"), for authenticators. */
  readonly peerAddress: string | undefined;
  /** The peer's greeting: version and as-server role. */
  readonly peerGreeting: Greeting;
}

/** What the peer proved or announced during the handshake. */
export interface MechanismDone {
  readonly metadata: Metadata;
  /** Authenticated user, when the mechanism has one (PLAIN username, CURVE key...). */
  readonly userId?: string;
}

export interface MechanismStep {
  /** Command bodies (`name-size name data`) to send, in order; the engine frames them. */
  readonly send?: readonly Uint8Array[];
  /** Present when the handshake completed. */
  readonly done?: MechanismDone;
  /** Present when the handshake failed; `send` (e.g. an ERROR command) goes out first. */
  readonly error?: VtxError;
}

/** Per-frame protection after the handshake (CURVE MESSAGE). */
export interface MechanismFraming {
  /**
   * Which ZMTP frames carry the wrapped bodies: "command" (default) sends
   * them with the COMMAND flag; "message" sends them as plain message
   * frames, as libzmq 4.x does with CURVE MESSAGE, and then either kind is
   * accepted and unwrapped on input.
   */
  readonly carrier?: "command" | "message";
  /** One outgoing frame (`flags`: MORE and/or COMMAND bits) → the command body that carries it. */
  wrap(flags: number, body: Uint8Array): Uint8Array;
  /**
   * One incoming command body → the frame it carries. Throws a VtxError on
   * a bad or forged command (the engine reports it as fatal).
   */
  unwrap(commandBody: Buffer, offset: number): { flags: number; body: Buffer };
}

export interface Mechanism {
  /** Name in the greeting: 1..20 of A-Z 0-9 - _ . + (RFC 37). */
  readonly name: string;
  /** The as-server field we announce in our greeting. */
  readonly asServer: boolean;
  start(context: MechanismContext): MechanismStep;
  handle(command: ZmtpCommand, offset: number): MechanismStep | Promise<MechanismStep>;
  /** Set (at the latest when the handshake is done) by mechanisms that protect frames. */
  readonly framing?: MechanismFraming | undefined;
  /**
   * The transport ended before the handshake completed: a mechanism may say
   * what that means (a CURVE server silently drops a HELLO it cannot open,
   * so to the client EOF after HELLO means "wrong server key"). Without an
   * answer the engine reports ZMTP_TRUNCATED.
   */
  explainEnd?(): VtxError | undefined;
}
