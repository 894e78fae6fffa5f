/**
 * The PLAIN mechanism (ZeroMQ RFC 24): clear-text username and password,
 * for trusted networks or inside TLS.
 *
 *   C: HELLO    username password      (each: OCTET size, 0..255 octets)
 *   S: WELCOME                         or ERROR, and close
 *   C: INITIATE metadata
 *   S: READY    metadata
 *
 * Each side knows its role from its own configuration. The peer's as-server
 * greeting field is NOT checked: libzmq 4.3.5 sends as-server = 0 even from
 * a PLAIN server (seen on the wire), so a check would refuse libzmq. Two
 * clients fail on the unexpected HELLO; two servers both wait for a HELLO
 * that never comes (the driver's handshake timeout ends that). The server checks credentials with
 * a user callback, like a ZAP handler (RFC 27), which may be asynchronous.
 * On refusal it sends ERROR with reason "400", the ZAP status code libzmq
 * sends and its clients parse. libzmq 4.3's PLAIN client only recognises its
 * own malformed ERROR (see `encodeLibzmqPlainError`): with an RFC ERROR it
 * reports a protocol error instead of an auth failure. So by default
 * ("auto") a peer whose greeting looks like libzmq's gets that form, others
 * the RFC 37 form.
 */
import { VtxError } from "../errors.js";
import {
  CMD_ERROR,
  CMD_READY,
  commandDataOffset,
  decodeError,
  encodeCommandBody,
  encodeError,
  encodeLibzmqPlainError,
  encodeReady,
  type ZmtpCommand,
} from "./commands.js";
import { looksLikeLibzmq } from "./greeting.js";
import type { Mechanism, MechanismContext, MechanismStep } from "./mechanism.js";
import { decodeMetadata } from "./metadata.js";
import { DecodeError } from "../errors.js";

export const CMD_HELLO = "HELLO";
export const CMD_WELCOME = "WELCOME";
export const CMD_INITIATE = "INITIATE";
/** RFC 24: username and password are at most 255 octets each. */
export const MAX_PLAIN_CREDENTIAL_LENGTH = 255;

export interface PlainCredentials {
  readonly username: string;
  readonly password: string;
  /** The transport's idea of the peer, when the driver passed one. */
  readonly peerAddress?: string | undefined;
}

/** Returns true to accept the client. Throwing or rejecting counts as refusal. */
export type PlainAuthenticator = (credentials: PlainCredentials) => boolean | Promise<boolean>;

/** Which ERROR a PLAIN server sends on refusal: libzmq 4.3's form, RFC 37's, or chosen from the peer's greeting. */
export type PlainErrorForm = "auto" | "libzmq" | "rfc";

/** Encodes HELLO. Throws TypeError when a credential exceeds 255 bytes. */
export function encodeHello(username: string | Uint8Array, password: string | Uint8Array): Buffer {
  const user = typeof username === "string" ? Buffer.from(username, "utf8") : username;
  const pass = typeof password === "string" ? Buffer.from(password, "utf8") : password;
  if (user.length > MAX_PLAIN_CREDENTIAL_LENGTH || pass.length > MAX_PLAIN_CREDENTIAL_LENGTH) {
    throw new TypeError(`PLAIN username and password must be at most ${MAX_PLAIN_CREDENTIAL_LENGTH} bytes`);
  }
  return encodeCommandBody(CMD_HELLO, Uint8Array.of(user.length), user, Uint8Array.of(pass.length), pass);
}

/** Decodes HELLO data. Throws DecodeError `ZMTP_MALFORMED_COMMAND`. */
export function decodeHello(data: Buffer, offset = 0): { username: Buffer; password: Buffer } {
  const userSize = data[0];
  if (userSize === undefined || 1 + userSize >= data.length) {
    throw new DecodeError("ZMTP_MALFORMED_COMMAND", "HELLO username overflows the command", offset, "plain-username");
  }
  const passAt = 1 + userSize;
  const passSize = data[passAt]!;
  if (passAt + 1 + passSize !== data.length) {
    throw new DecodeError("ZMTP_MALFORMED_COMMAND", "HELLO password size does not match the command", offset + passAt, "plain-password");
  }
  return { username: data.subarray(1, passAt), password: data.subarray(passAt + 1) };
}

export function encodeWelcome(): Buffer {
  return encodeCommandBody(CMD_WELCOME);
}

export function encodeInitiate(metadata: Uint8Array): Buffer {
  return encodeCommandBody(CMD_INITIATE, metadata);
}

function unexpected(command: ZmtpCommand, offset: number, phase: string): MechanismStep {
  return {
    error: new VtxError("ZMTP_UNEXPECTED_COMMAND", `unexpected ${command.name} while PLAIN ${phase}`, {
      detail: { command: command.name, offset },
    }),
  };
}

/** PLAIN client side: sends credentials, then its metadata. */
export class PlainClientMechanism implements Mechanism {
  readonly name = "PLAIN";
  readonly asServer = false;
  readonly #hello: Buffer;
  #metadata: Buffer = Buffer.alloc(0);
  #state: "welcome" | "ready" | "done" = "welcome";

  constructor(username: string | Uint8Array, password: string | Uint8Array) {
    this.#hello = encodeHello(username, password); // validates sizes at construction
  }

  start(context: MechanismContext): MechanismStep {
    this.#metadata = context.localMetadata;
    return { send: [this.#hello] };
  }

  handle(command: ZmtpCommand, offset: number): MechanismStep {
    const at = commandDataOffset(command, offset);
    if (command.name === CMD_ERROR) {
      const reason = decodeError(command.data, at);
      // An ERROR in answer to HELLO is the server refusing our credentials.
      const code = this.#state === "welcome" ? "ZMTP_AUTH_FAILED" : "ZMTP_PEER_ERROR";
      return { error: new VtxError(code, `PLAIN server sent ERROR: ${reason}`, { detail: { reason } }) };
    }
    if (this.#state === "welcome" && command.name === CMD_WELCOME) {
      if (command.data.length !== 0) {
        return { error: new DecodeError("ZMTP_MALFORMED_COMMAND", "WELCOME carries data", at, "plain-welcome") };
      }
      this.#state = "ready";
      return { send: [encodeInitiate(this.#metadata)] };
    }
    if (this.#state === "ready" && command.name === CMD_READY) {
      this.#state = "done";
      return { done: { metadata: decodeMetadata(command.data, at) } };
    }
    return unexpected(command, offset, `client waiting for ${this.#state.toUpperCase()}`);
  }
}

/** PLAIN server side: checks credentials with the authenticator, then exchanges metadata. */
export class PlainServerMechanism implements Mechanism {
  readonly name = "PLAIN";
  readonly asServer = true;
  readonly #authenticate: PlainAuthenticator;
  readonly #errorForm: PlainErrorForm;
  #context: MechanismContext | undefined;
  #state: "hello" | "authenticating" | "initiate" | "done" = "hello";
  #username = "";

  constructor(authenticate: PlainAuthenticator, errorForm: PlainErrorForm = "auto") {
    this.#authenticate = authenticate;
    this.#errorForm = errorForm;
  }

  start(context: MechanismContext): MechanismStep {
    this.#context = context;
    return {};
  }

  handle(command: ZmtpCommand, offset: number): MechanismStep | Promise<MechanismStep> {
    const at = commandDataOffset(command, offset);
    if (command.name === CMD_ERROR) {
      const reason = decodeError(command.data, at);
      return { error: new VtxError("ZMTP_PEER_ERROR", `PLAIN client sent ERROR: ${reason}`, { detail: { reason } }) };
    }
    if (this.#state === "hello" && command.name === CMD_HELLO) {
      const { username, password } = decodeHello(command.data, at);
      this.#state = "authenticating";
      this.#username = username.toString("utf8");
      const credentials: PlainCredentials = {
        username: this.#username,
        password: password.toString("utf8"),
        peerAddress: this.#context?.peerAddress,
      };
      let verdict: boolean | Promise<boolean>;
      try {
        verdict = this.#authenticate(credentials);
      } catch (err) {
        return this.#refuse(err);
      }
      if (typeof verdict === "boolean") return this.#decide(verdict);
      return Promise.resolve(verdict).then(
        (ok) => this.#decide(ok === true),
        (err: unknown) => this.#refuse(err),
      );
    }
    if (this.#state === "initiate" && command.name === CMD_INITIATE) {
      const metadata = decodeMetadata(command.data, at);
      this.#state = "done";
      return {
        send: [encodeReady(this.#context!.localMetadata)],
        done: { metadata, userId: this.#username },
      };
    }
    return unexpected(command, offset, `server waiting for ${this.#state === "initiate" ? "INITIATE" : "HELLO"}`);
  }

  #decide(ok: boolean): MechanismStep {
    if (!ok) return this.#refuse(undefined);
    this.#state = "initiate";
    return { send: [encodeWelcome()] };
  }

  #refuse(cause: unknown): MechanismStep {
    const form = this.#errorForm;
    const libzmq = form === "libzmq" || (form === "auto" && this.#context !== undefined && looksLikeLibzmq(this.#context.peerGreeting));
    return {
      send: [libzmq ? encodeLibzmqPlainError("400") : encodeError("400")],
      error: new VtxError("ZMTP_AUTH_FAILED", `PLAIN credentials refused for user ${JSON.stringify(this.#username)}`, {
        cause,
        detail: { username: this.#username },
      }),
    };
  }
}
