export { ztcp } from "./ztcp/index.js";
export { ws, wss, type WsDriverOptions } from "./ws/index.js";
export { udp, readDropReport, type UdpOptions, type DropReport } from "./udp/index.js";
export { tls, type TlsOptions } from "./tls/index.js";
export { epgm, type EpgmOptions } from "./epgm/index.js";
