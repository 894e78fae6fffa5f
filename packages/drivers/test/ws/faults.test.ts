/**
 * Misbehaving ws:// peers: each is dropped with a stable code (reported as
 * a vtx event), and a well-behaved peer of the same bound socket keeps
 * exchanging throughout. The bad peers are raw WebSocket clients (the `ws`
 * package), raw TCP and raw HTTP, so every byte they send is chosen here.
 */
import * as net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { WebSocket, WebSocketServer } from "ws";
import { Vtx, zmtp, type VtxEvent } from "@vtx/runtime";
import { ws } from "@vtx/drivers";
import { expectEvent, expectFrames, within } from "../helpers.js";

const WAIT = 5000;

/** A READY command frame as a ZWS message (flag 0x02, RFC 45 §Framing). */
function readyFrame(socketType: string): Buffer {
  return Buffer.concat([Buffer.from([0x02]), zmtp.encodeReady(zmtp.encodeMetadata([["Socket-Type", socketType]]))]);
}

interface RawClient {
  ws: WebSocket;
  /** Resolves with the close code the server sent (or 1006 when it just cut the TCP connection). */
  closed: Promise<number>;
  /** Every message received, from the first (which may arrive with the 101 answer). */
  received: Buffer[];
  /** Resolves once `n` messages have been received. */
  receivedCount(n: number): Promise<void>;
}

/** A raw WebSocket client offering `protocols` (joined by hand: `ws` refuses "/" in names). */
function rawClient(url: string, protocols: string[]): Promise<RawClient> {
  return within(
    new Promise<RawClient>((resolve, reject) => {
      const sock = new WebSocket(url, { perMessageDeflate: false, headers: { "Sec-WebSocket-Protocol": protocols.join(", ") } });
      sock.on("upgrade", (res) => delete res.headers["sec-websocket-protocol"]);
      const closed = new Promise<number>((r) => sock.on("close", (code) => r(code)));
      // Listening from the start: the server's first message can come in the same read as its 101.
      const received: Buffer[] = [];
      const waiters = new Set<() => void>();
      sock.on("message", (m: Buffer) => {
        received.push(m);
        for (const w of [...waiters]) w();
      });
      const receivedCount = (n: number): Promise<void> =>
        new Promise((done) => {
          const check = (): void => {
            if (received.length < n) return;
            waiters.delete(check);
            done();
          };
          waiters.add(check);
          check();
        });
      sock.on("error", reject);
      sock.on("open", () => resolve({ ws: sock, closed, received, receivedCount }));
    }),
    WAIT,
    `raw WebSocket open at ${url}`,
  );
}

/** Sends an HTTP request on raw TCP and resolves with the whole answer. */
function rawHttp(port: number, request: string): Promise<string> {
  return within(
    new Promise<string>((resolve, reject) => {
      const s = net.connect({ host: "127.0.0.1", port });
      let answer = "";
      s.on("data", (b: Buffer) => (answer += b.toString("latin1")));
      s.on("close", () => resolve(answer));
      s.on("error", reject);
      s.write(request);
    }),
    WAIT,
    "raw HTTP answer",
  );
}

describe("ws:// refuses misbehaving peers with a code, and other peers carry on", () => {
  let vtx: Vtx;
  afterEach(async () => {
    await vtx?.destroy();
  });

  /** A REP bound on ws:// with a good vtx REQ connected, and a check that the pair still works. */
  async function setup(link: { handshakeTimeout?: number; maxMessageSize?: number } = {}): Promise<{ ep: string; port: number; rep: ReturnType<Vtx["socket"]>; stillWorks: (n: number) => Promise<void>; failure: (code: string) => Promise<VtxEvent> }> {
    vtx = new Vtx();
    vtx.register("ws", ws());
    const rep = vtx.socket("REP");
    // Bind-side options only; the handshake bound stays generous (a loaded CI box) except where a test waits for it.
    const ep = await vtx.bind(rep, "ws://127.0.0.1:0/zmq", link);
    const port = Number(/:(\d+)\//.exec(ep)![1]);
    const req = vtx.socket("REQ");
    const up = expectEvent(vtx, (e) => e.socket === req && e.type === "connected", WAIT, "good client up");
    await vtx.connect(req, ep);
    await up;
    void (async () => {
      try {
        for (;;) {
          const m = await rep.receive();
          await rep.send(m);
        }
      } catch {
        // closed
      }
    })();
    const stillWorks = async (n: number): Promise<void> => {
      await within(req.send(`ping ${n}`), WAIT, "good client send");
      expectFrames(await within(req.receive(), WAIT, "good client reply"), [`ping ${n}`]);
    };
    const failure = (code: string): Promise<VtxEvent> =>
      expectEvent(vtx, (e) => e.socket === rep && (e.type === "handshake-failed" || e.type === "disconnected") && e.error?.code === code, WAIT, `${code} reported`);
    await stillWorks(0);
    return { ep, port, rep, stillWorks, failure };
  }

  it("a client offering no ZWS subprotocol gets 400 and the server reports ZWS_SUBPROTOCOL", async () => {
    const { port, stillWorks, failure } = await setup();
    const reported = failure("ZWS_SUBPROTOCOL");
    const answer = await rawHttp(
      port,
      "GET /zmq HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: chat, mqtt\r\n\r\n",
    );
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
    expect(answer).toContain("ZWS_SUBPROTOCOL");
    expect((await reported).error?.message).toMatch(/chat, mqtt/);
    await stillWorks(1);
  });

  it("a vtx PLAIN client at a NULL endpoint learns ZWS_SUBPROTOCOL from the refusal", async () => {
    const { ep, stillWorks } = await setup();
    const req = vtx.socket("REQ", { plainUsername: "ann", plainPassword: "pw" });
    const refused = expectEvent(vtx, (e) => e.socket === req && e.type === "handshake-failed", WAIT, "client told");
    await vtx.connect(req, ep);
    expect((await refused).error?.code).toBe("ZWS_SUBPROTOCOL");
    await stillWorks(1);
  });

  it("a vtx client dialling a WebSocket server that is not ZWS is refused with a code (not a hang), and keeps retrying", async () => {
    vtx = new Vtx({ link: { reconnectInterval: 50, reconnectIntervalMax: 100 } });
    vtx.register("ws", ws());
    // A chat-style WebSocket service: it accepts only its own subprotocol.
    const chat = new WebSocketServer({ host: "127.0.0.1", port: 0, handleProtocols: (p) => (p.has("chat") ? "chat" : false) });
    await new Promise<void>((r) => chat.once("listening", () => r()));
    try {
      const req = vtx.socket("REQ");
      let refusals = 0;
      const twice = within(
        new Promise<string[]>((resolve) => {
          const codes: string[] = [];
          vtx.on((e) => {
            if (e.socket !== req || e.type !== "handshake-failed") return;
            codes.push(e.error?.code ?? "");
            if (++refusals === 2) resolve(codes);
          });
        }),
        WAIT,
        "two refusals",
      );
      await vtx.connect(req, `ws://127.0.0.1:${(chat.address() as net.AddressInfo).port}/chat`);
      // `ws` itself cannot parse "ZWS2.0/NULL" and answers 400.
      for (const code of await twice) expect(code).toMatch(/^ZWS_(UPGRADE_REFUSED|SUBPROTOCOL)$/);
    } finally {
      chat.close();
    }
  });

  it("a frame with flag byte 0x07 is refused with ZWS_BAD_FLAGS and the WebSocket closed with 1002", async () => {
    const { ep, stillWorks, failure } = await setup();
    const reported = failure("ZWS_BAD_FLAGS");
    const c = await rawClient(ep, ["ZWS2.0/NULL"]);
    c.ws.send(readyFrame("REQ"));
    c.ws.send(Buffer.from([0x07, 0x41]));
    expect((await reported).error?.code).toBe("ZWS_BAD_FLAGS");
    expect(await within(c.closed, WAIT, "raw client closed")).toBe(1002);
    await stillWorks(1);
  });

  it("an empty binary message (no flag byte) is refused with ZWS_EMPTY_FRAME", async () => {
    const { ep, stillWorks, failure } = await setup();
    const reported = failure("ZWS_EMPTY_FRAME");
    const c = await rawClient(ep, ["ZWS2.0/NULL"]);
    c.ws.send(Buffer.alloc(0));
    await reported;
    await stillWorks(1);
  });

  it("a text message is refused with ZWS_NOT_BINARY (RFC 45: ZWS messages are binary)", async () => {
    const { ep, stillWorks, failure } = await setup();
    const reported = failure("ZWS_NOT_BINARY");
    const c = await rawClient(ep, ["ZWS2.0/NULL"]);
    c.ws.send("READY");
    await reported;
    expect(await within(c.closed, WAIT, "raw client closed")).toBe(1003);
    await stillWorks(1);
  });

  it("a frame over maxMessageSize is refused with ZWS_MESSAGE_TOO_LARGE before it is buffered (close 1009)", async () => {
    const { ep, stillWorks, failure } = await setup({ maxMessageSize: 1024 });
    const reported = failure("ZWS_MESSAGE_TOO_LARGE");
    const c = await rawClient(ep, ["ZWS2.0/NULL"]);
    c.ws.send(readyFrame("REQ"));
    c.ws.send(Buffer.concat([Buffer.from([0x00]), Buffer.alloc(4096, 1)]));
    await reported;
    expect(await within(c.closed, WAIT, "raw client closed")).toBe(1009);
    await stillWorks(1);
  });

  it("an incompatible Socket-Type in READY is refused with ZMTP_INCOMPATIBLE_SOCKET_TYPE", async () => {
    const { ep, stillWorks, failure } = await setup();
    const reported = failure("ZMTP_INCOMPATIBLE_SOCKET_TYPE");
    const c = await rawClient(ep, ["ZWS2.0/NULL"]);
    c.ws.send(readyFrame("PUB"));
    await reported;
    await stillWorks(1);
  });

  it("a client that opens TCP and never sends the upgrade, and one that upgrades but never sends READY, time out with ZMTP_HANDSHAKE_TIMEOUT", async () => {
    const { port, ep, stillWorks, rep } = await setup({ handshakeTimeout: 1000 });
    const timeouts: VtxEvent[] = [];
    const two = within(
      new Promise<void>((resolve) => {
        const off = vtx.on((e) => {
          if (e.socket === rep && e.type === "handshake-failed" && e.error?.code === "ZMTP_HANDSHAKE_TIMEOUT") timeouts.push(e);
          if (timeouts.length === 2) {
            off();
            resolve();
          }
        });
      }),
      WAIT,
      "two handshake timeouts",
    );
    const silent = net.connect({ host: "127.0.0.1", port });
    const silentClosed = new Promise<void>((r) => silent.on("close", () => r()));
    silent.on("error", () => undefined);
    const c = await rawClient(ep, ["ZWS2.0/NULL"]);
    await two;
    await within(silentClosed, WAIT, "silent TCP client cut off");
    await within(c.closed, WAIT, "silent WebSocket client cut off");
    await stillWorks(1);
  });

  it("plain HTTP gets 426 and a wrong path 404, reported as ZWS_BAD_UPGRADE and ZWS_PATH_NOT_FOUND", async () => {
    const { port, stillWorks, failure } = await setup();
    const badUpgrade = failure("ZWS_BAD_UPGRADE");
    const plain = await rawHttp(port, "GET /zmq HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    expect(plain).toMatch(/^HTTP\/1\.1 426 /);
    await badUpgrade;
    const notFound = failure("ZWS_PATH_NOT_FOUND");
    const wrongPath = await rawHttp(
      port,
      "GET /elsewhere HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ZWS2.0/NULL\r\n\r\n",
    );
    expect(wrongPath).toMatch(/^HTTP\/1\.1 404 /);
    await notFound;
    await stillWorks(1);
  });

  it("ZWS2.0 (no mechanism): a raw client's routing id and messages are served, then a command frame is refused with ZWS_UNEXPECTED_COMMAND", async () => {
    const { ep, stillWorks, failure } = await setup();
    const c = await rawClient(ep, ["ZWS2.0"]);
    c.ws.send(Buffer.from([0x00])); // routing id (empty)
    c.ws.send(Buffer.from([0x01])); // REQ delimiter
    c.ws.send(Buffer.from("\x00hello", "latin1"));
    await within(c.receivedCount(3), WAIT, "REP's routing id and reply");
    expect(c.received).toEqual([Buffer.from([0x00]), Buffer.from([0x01]), Buffer.from("\x00hello", "latin1")]);
    const reported = failure("ZWS_UNEXPECTED_COMMAND");
    c.ws.send(readyFrame("REQ"));
    await reported;
    await stillWorks(1);
  });
});
