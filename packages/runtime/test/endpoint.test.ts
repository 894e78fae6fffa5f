import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { parseEndpoint, formatEndpoint, ENDPOINT_MALFORMED, ENDPOINT_PORT_RANGE } from "../src/endpoint.js";
import { VtxError } from "../src/errors.js";

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof VtxError ? err.code : "not a VtxError";
  }
  return undefined;
}

describe("endpoint parsing", () => {
  it("parses IPv4, wildcard, IPv6 and paths", () => {
    expect(parseEndpoint("ztcp://127.0.0.1:5555")).toMatchObject({ scheme: "ztcp", host: "127.0.0.1", port: 5555, path: "" });
    expect(parseEndpoint("udp://*:32000")).toMatchObject({ scheme: "udp", host: "*", port: 32000 });
    expect(parseEndpoint("udp://[::]:32000")).toMatchObject({ host: "::", port: 32000 });
    expect(parseEndpoint("ws://[::1]:80/zmq/x")).toMatchObject({ host: "::1", port: 80, path: "/zmq/x" });
    expect(parseEndpoint("ws://localhost:8080/")).toMatchObject({ host: "localhost", port: 8080, path: "/" });
    expect(parseEndpoint("ztcp://127.0.0.1:*")).toMatchObject({ port: 0 });
    expect(parseEndpoint("ZTCP://h:1").scheme).toBe("ztcp");
  });

  it("refuses malformed endpoints with VTX_ENDPOINT_MALFORMED", () => {
    for (const bad of ["", "ztcp", "ztcp:/127.0.0.1:1", "ztcp://127.0.0.1", "ztcp://127.0.0.1:abc", "ztcp://::1:5555", "ztcp://[::1]5555", "ztcp://ho st:1", "ztcp://[zz]:1", "ztcp://h:-1"]) {
      expect(codeOf(() => parseEndpoint(bad)), bad).toBe(ENDPOINT_MALFORMED);
    }
  });

  it("parses epgm's interface;group host (zmq_pgm(7)), only for pgm and epgm", () => {
    expect(parseEndpoint("epgm://lo;239.192.1.1:5555")).toMatchObject({ scheme: "epgm", host: "lo;239.192.1.1", port: 5555 });
    expect(parseEndpoint("epgm://192.168.1.1;239.192.1.1:5555")).toMatchObject({ host: "192.168.1.1;239.192.1.1" });
    expect(parseEndpoint("epgm://;239.192.1.1:5555")).toMatchObject({ host: ";239.192.1.1" });
    expect(codeOf(() => parseEndpoint("ztcp://lo;239.192.1.1:5555"))).toBe(ENDPOINT_MALFORMED);
    expect(codeOf(() => parseEndpoint("epgm://lo;239.1.1.1;x:5555"))).toBe(ENDPOINT_MALFORMED);
  });

  it("refuses ports above 65535 with VTX_ENDPOINT_PORT_RANGE", () => {
    expect(codeOf(() => parseEndpoint("ztcp://127.0.0.1:65536"))).toBe(ENDPOINT_PORT_RANGE);
    expect(codeOf(() => parseEndpoint("ztcp://127.0.0.1:999999"))).toBe(ENDPOINT_PORT_RANGE);
    expect(codeOf(() => parseEndpoint("ztcp://127.0.0.1:65535"))).toBeUndefined();
  });

  it("formats what it parses back to an equivalent endpoint", () => {
    fc.assert(
      fc.property(
        fc.constantFrom("ztcp", "udp", "tls", "ws"),
        fc.oneof(fc.ipV4(), fc.ipV6(), fc.constant("*"), fc.domain()),
        fc.integer({ min: 0, max: 65535 }),
        (scheme, host, port) => {
          const text = formatEndpoint(scheme, host, port);
          const e = parseEndpoint(text);
          expect([e.scheme, e.host, e.port]).toEqual([scheme, host, port]);
        },
      ),
    );
  });

  it("never throws anything but a coded VtxError on arbitrary input", () => {
    fc.assert(
      fc.property(fc.string(), (s) => {
        const code = codeOf(() => parseEndpoint(s));
        expect([undefined, ENDPOINT_MALFORMED, ENDPOINT_PORT_RANGE]).toContain(code);
      }),
    );
  });
});
