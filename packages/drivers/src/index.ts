export { ztcp } from "./ztcp/index.js";
export { udp, readDropReport, type UdpOptions, type DropReport } from "./udp/index.js";
