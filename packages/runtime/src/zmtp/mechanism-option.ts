/**
 * How an engine user picks a mechanism: a name or a small options object
 * for the built-in ones, or any {@link Mechanism} instance (how CURVE or a
 * test mechanism plugs in without touching the engine).
 */
import { VtxError } from "../errors.js";
import type { CurveAuthorizer, CurveKey } from "./curve-mechanism.js";
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

/**
 * CURVE is loaded on demand: its crypto libraries are a third of a driver
 * worker's heap, and every full GC walks the heap (see
 * docs/architecture.md, "Memory"). `curve-mechanism.ts` registers itself
 * here when imported; the @vtx/runtime index imports it, and the stream
 * driver calls {@link loadCurve} before a CURVE bind or connect.
 */
let curveFactory: ((option: CurveClientOption | CurveServerOption) => Mechanism) | undefined;

/** Called by curve-mechanism.ts when it loads. */
export function registerCurve(factory: (option: CurveClientOption | CurveServerOption) => Mechanism): void {
  curveFactory = factory;
}

/** Loads CURVE support (idempotent); {@link createMechanism} refuses CURVE options until it is loaded. */
export async function loadCurve(): Promise<void> {
  if (curveFactory === undefined) await import("./curve-mechanism.js");
}

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
  if ("type" in option && option.type === "CURVE" && (("server" in option && option.server) || "serverKey" in option)) {
    if (curveFactory === undefined) {
      throw new VtxError("ZMTP_CURVE_NOT_LOADED", "CURVE support is not loaded: await zmtp.loadCurve() first (importing @vtx/runtime loads it)");
    }
    return curveFactory(option);
  }
  throw new TypeError("unknown mechanism option");
}
