/**
 * How an engine user picks a mechanism: a name or a small options object
 * for the built-in ones, or any {@link Mechanism} instance (how CURVE or a
 * test mechanism plugs in without touching the engine).
 */
import { CurveClientMechanism, CurveServerMechanism, type CurveAuthorizer, type CurveKey } from "./curve-mechanism.js";
import type { Mechanism } from "./mechanism.js";
import { NullMechanism } from "./null-mechanism.js";
import { PlainClientMechanism, PlainServerMechanism, type PlainAuthenticator, type PlainErrorForm } from "./plain-mechanism.js";

export interface PlainClientOption {
  readonly type: "PLAIN";
  readonly username: string;
  readonly password: string;
}

export interface PlainServerOption {
  readonly type: "PLAIN";
  readonly authenticate: PlainAuthenticator;
  /** ERROR form on refusal, default "auto" (libzmq's form to libzmq-looking peers). */
  readonly errorForm?: PlainErrorForm;
}

/** CURVE client (zeromq.js `curveServerKey` + optional `curvePublicKey`/`curveSecretKey`). */
export interface CurveClientOption {
  readonly type: "CURVE";
  readonly serverKey: CurveKey;
  readonly publicKey?: CurveKey | undefined;
  readonly secretKey?: CurveKey | undefined;
}

/** CURVE server (zeromq.js `curveServer: true` + `curveSecretKey`); `authorize` accepts every client when omitted. */
export interface CurveServerOption {
  readonly type: "CURVE";
  readonly server: true;
  readonly secretKey: CurveKey;
  readonly publicKey?: CurveKey | undefined;
  readonly authorize?: CurveAuthorizer | undefined;
}

export type MechanismOption = "NULL" | PlainClientOption | PlainServerOption | CurveClientOption | CurveServerOption | Mechanism;

/** Builds the mechanism for one connection. Throws TypeError on a malformed option. */
export function createMechanism(option: MechanismOption): Mechanism {
  if (option === "NULL") return new NullMechanism();
  if ("handle" in option && typeof option.handle === "function") return option;
  if ("type" in option && option.type === "PLAIN") {
    if ("authenticate" in option) {
      if (typeof option.authenticate !== "function") throw new TypeError("PLAIN server needs an authenticate function");
      return new PlainServerMechanism(option.authenticate, option.errorForm);
    }
    if ("username" in option) return new PlainClientMechanism(option.username, option.password);
  }
  if ("type" in option && option.type === "CURVE") {
    if ("server" in option && option.server) return new CurveServerMechanism(option);
    if ("serverKey" in option) return new CurveClientMechanism(option);
  }
  throw new TypeError("unknown mechanism option");
}
