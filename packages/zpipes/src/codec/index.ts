export * from "./constants.js";
export type * from "./messages.js";
export { encode, encodeWrite, encodeWriteGather, encodeWriteParts, encodeReadOk, writeReadOkHeader, FRAME } from "./encode.js";
export { decode, peekId, isMessageId, type DecodeOptions } from "./decode.js";
