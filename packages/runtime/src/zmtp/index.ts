export * from "./codes.js";
export * from "./socket-type.js";
export * from "./frame.js";
export * from "./greeting.js";
export * from "./frame-decoder.js";
export * from "./frame-encoder.js";
export * from "./commands.js";
export * from "./metadata.js";
export * from "./mechanism.js";
export * from "./null-mechanism.js";
export * from "./plain-mechanism.js";
// CURVE (curve-mechanism.js) loads on demand: see loadCurve() in mechanism-option.js.
export * from "./z85.js";
export * from "./mechanism-option.js";
export * from "./engine.js";
