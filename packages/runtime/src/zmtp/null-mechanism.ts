/**
 * The NULL mechanism (RFC 37 §"The NULL Security Mechanism"): no
 * authentication, no confidentiality. Each peer sends READY with its
 * metadata right after the greeting and is done on the peer's READY.
 * The as-server field is not used by NULL; we announce 0 as libzmq does.
 */
import { VtxError } from "../errors.js";
import { CMD_ERROR, CMD_READY, commandDataOffset, decodeError, encodeReady, type ZmtpCommand } from "./commands.js";
import type { Mechanism, MechanismContext, MechanismStep } from "./mechanism.js";
import { decodeMetadata } from "./metadata.js";

export class NullMechanism implements Mechanism {
  readonly name = "NULL";
  readonly asServer = false;
  #done = false;

  start(context: MechanismContext): MechanismStep {
    return { send: [encodeReady(context.localMetadata)] };
  }

  handle(command: ZmtpCommand, offset: number): MechanismStep {
    if (command.name === CMD_READY && !this.#done) {
      this.#done = true;
      return { done: { metadata: decodeMetadata(command.data, commandDataOffset(command, offset)) } };
    }
    if (command.name === CMD_ERROR) {
      const reason = decodeError(command.data, commandDataOffset(command, offset));
      return { error: new VtxError("ZMTP_PEER_ERROR", `peer sent ERROR: ${reason}`, { detail: { reason } }) };
    }
    return { error: new VtxError("ZMTP_UNEXPECTED_COMMAND", `unexpected ${command.name} during NULL handshake`, { detail: { command: command.name, offset } }) };
  }
}
