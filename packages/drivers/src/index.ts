export { ztcp } from "./ztcp/index.js";
