import type { Duplex } from "node:stream";
import { createActor, type Actor } from "xstate";
import type { Bridge } from "../bridge.js";
import type { EndpointRequest, LinkOptions } from "../control.js";
import type { Driver, DriverContext } from "../driver.js";
import type { Endpoint } from "../endpoint.js";
import { toWireError, VtxError } from "../errors.js";
import { ZmtpLink, checkLinkMechanism } from "./zmtp-link.js";
import { sessionMachine } from "./session-machine.js";

/**
 * All a byte-stream transport implements (TCP, TLS, a proxy tunnel...): how
 * to listen and how to dial. Framing, handshake, heartbeats, reconnects and
 * bridging come from {@link createStreamDriver}.
 */
export interface StreamTransport {
  /**
   * `refused` (optional to call) reports a peer the transport itself turned
   * away before any ZMTP byte (a TLS handshake that failed or timed out): it
   * becomes a `handshake-failed` event, as a ZMTP handshake failure does.
   */
  listen(
    endpoint: Endpoint,
    options: LinkOptions,
    onConnection: (duplex: Duplex, peer: string) => void,
    refused?: (peer: string, error: VtxError) => void,
  ): Promise<{ endpoint: string; close(): void }>;
  /**
   * A rejection is retried with backoff. Call `refused` as well when the
   * failure is the transport's own handshake (a bad certificate) rather
   * than an unreachable address, so the application hears of it.
   */
  dial(
    endpoint: Endpoint,
    options: LinkOptions,
    signal: AbortSignal,
    refused?: (peer: string, error: VtxError) => void,
  ): Promise<{ duplex: Duplex; peer: string }>;
}

interface Listening {
  req: EndpointRequest;
  close(): void;
  links: Set<ZmtpLink>;
  bridges: Map<ZmtpLink, Bridge>;
}

interface Dialing {
  req: EndpointRequest;
  actor: Actor<typeof sessionMachine>;
  bridge: Bridge;
  link: ZmtpLink | null;
}

/** Builds a ZMTP 3.1 driver over any byte-stream transport. */
export function createStreamDriver(ctx: DriverContext, transport: StreamTransport): Driver {
  const listening = new Map<string, Listening>();
  const dialing = new Map<string, Dialing>();

  // Links kept open after unbind/disconnect to send what the app had queued.
  const pendingLinger = new Set<Promise<void>>();
  const lingering = (p: Promise<void>): void => {
    const q = p.catch(() => undefined).finally(() => pendingLinger.delete(q));
    pendingLinger.add(q);
  };

  const peerName = (req: EndpointRequest, peer: string): string => `${req.endpoint.scheme}://${peer}`;

  function closeLinkBridge(l: Listening, link: ZmtpLink): void {
    const bridge = l.bridges.get(link);
    l.bridges.delete(link);
    l.links.delete(link);
    if (bridge) ctx.closeBridge(l.req, bridge);
  }

  function accept(l: Listening, duplex: Duplex, peer: string): void {
    const req = l.req;
    let wasReady = false;
    const link: ZmtpLink = new ZmtpLink({
      duplex,
      peerAddress: peer,
      ctx,
      req,
      asServer: req.options.plainServer === true,
      bridge: (zpeer) => {
        // PAIR is exclusive: one remote peer per bound PAIR (RFC 31).
        if (req.socketType === "PAIR" && l.bridges.size > 0) {
          const err = new VtxError("VTX_PAIR_EXCLUSIVE", "this PAIR socket already has a peer");
          link.refuse(err);
          throw err;
        }
        const bridge = ctx.openBridge(req, {
          routingId: zpeer.identity.length > 0 ? zpeer.identity : undefined,
          peer: peerName(req, peer),
        });
        if (link.closed) {
          ctx.closeBridge(req, bridge);
          throw new VtxError("VTX_LINK_CLOSED", "link closed during bridge setup");
        }
        l.bridges.set(link, bridge);
        return bridge;
      },
      events: {
        ready: () => {
          wasReady = true;
          ctx.emit({ type: "connected", id: req.id, peer: peerName(req, peer) });
        },
        closed: (error) => {
          closeLinkBridge(l, link);
          if (wasReady) ctx.emit({ type: "disconnected", id: req.id, peer: peerName(req, peer), error: error && toWireError(error) });
          else if (error) ctx.emit({ type: "handshake-failed", id: req.id, peer: peerName(req, peer), error: toWireError(error) });
        },
      },
    });
    l.links.add(link);
  }

  return {
    async bind(req) {
      if (listening.has(req.id)) throw new VtxError("VTX_ENDPOINT_IN_USE", `${req.endpoint.raw} is already bound`);
      await checkLinkMechanism(req.options);
      const l: Listening = { req, close: () => undefined, links: new Set(), bridges: new Map() };
      const server = await transport.listen(
        req.endpoint,
        req.options,
        (duplex, peer) => accept(l, duplex, peer),
        (peer, error) => ctx.emit({ type: "handshake-failed", id: req.id, peer: peerName(req, peer), error: toWireError(error) }),
      );
      const untrack = ctx.track({ close: () => server.close() });
      l.close = () => {
        untrack();
        server.close();
      };
      listening.set(req.id, l);
      ctx.emit({ type: "listening", id: req.id, peer: server.endpoint });
      return server.endpoint;
    },

    async connect(req) {
      if (dialing.has(req.id)) throw new VtxError("VTX_ENDPOINT_IN_USE", `already connected to ${req.endpoint.raw}`);
      await checkLinkMechanism(req.options);
      // One bridge for the endpoint's whole life: messages queue while the link is down.
      const bridge = ctx.openBridge(req, { peer: peerName(req, `${req.endpoint.host}:${req.endpoint.port}`) });
      const d: Dialing = { req, bridge, link: null, actor: null as unknown as Actor<typeof sessionMachine> };
      let identified = false;
      let wasReady = false;
      d.actor = createActor(sessionMachine, {
        input: {
          port: {
            reconnectInterval: req.options.reconnectInterval,
            reconnectIntervalMax: req.options.reconnectIntervalMax,
            dropLink: () => {
              d.link?.close();
              d.link = null;
            },
            dial: async (signal) => {
              const { duplex, peer } = await transport.dial(req.endpoint, req.options, signal, (p, error) =>
                ctx.emit({ type: "handshake-failed", id: req.id, peer: peerName(req, p), error: toWireError(error) }),
              );
              if (signal.aborted) {
                duplex.destroy();
                throw new VtxError("VTX_ABORTED", "dial aborted");
              }
              wasReady = false;
              const link: ZmtpLink = new ZmtpLink({
                duplex,
                peerAddress: peer,
                ctx,
                req,
                // PLAIN roles are independent of who dials (RFC 24): a
                // connecting socket may be the server.
                asServer: req.options.plainServer === true,
                bridge: (zpeer) => {
                  // An app ROUTER (or REP) knows a peer by the Identity it
                  // announces in READY (RFC 37); the bridge opened at connect
                  // time could only guess one, which the app never learnt, so
                  // nothing can be queued under it: swap in a bridge named
                  // after the peer. Only at the first handshake: libzmq 4.3.5's
                  // connecting ROUTER keeps the first identity for the
                  // endpoint even when a restarted peer announces another.
                  const id = zpeer.identity;
                  if (!identified && d.bridge.plan.bridgeType === "DEALER" && id.length > 0) {
                    ctx.closeBridge(req, d.bridge);
                    d.bridge = ctx.openBridge(req, { routingId: Buffer.from(id), peer: peerName(req, peer) });
                  }
                  identified = true;
                  return d.bridge;
                },
                events: {
                  ready: () => {
                    wasReady = true;
                    ctx.emit({ type: "connected", id: req.id, peer: peerName(req, peer) });
                    if (d.actor.getSnapshot().status === "active") d.actor.send({ type: "LINK_READY" });
                  },
                  closed: (error) => {
                    if (d.link === link) d.link = null;
                    if (wasReady) ctx.emit({ type: "disconnected", id: req.id, peer: peerName(req, peer), error: error && toWireError(error) });
                    else if (error) ctx.emit({ type: "handshake-failed", id: req.id, peer: peerName(req, peer), error: toWireError(error) });
                    // After disconnect the actor is stopped and its link closes behind it.
                    if (d.actor.getSnapshot().status === "active") d.actor.send({ type: "LINK_CLOSED", error });
                  },
                },
              });
              d.link = link;
            },
          },
        },
      });
      dialing.set(req.id, d);
      ctx.track({ close: () => d.actor.stop() });
      d.actor.start();
    },

    async unbind(id) {
      const l = listening.get(id);
      if (!l) return;
      listening.delete(id);
      l.close();
      const links = [...l.links];
      lingering(Promise.all(links.map((link) => link.drain(l.req.options.linger, ctx.signal))).then(() => {
        for (const link of links) link.close();
      }));
    },

    async disconnect(id) {
      const d = dialing.get(id);
      if (!d) return;
      dialing.delete(id);
      const link = d.link;
      lingering((link ? link.drain(d.req.options.linger, ctx.signal) : Promise.resolve()).then(() => {
        d.actor.send({ type: "STOP" });
        d.actor.stop();
        ctx.closeBridge(d.req, d.bridge);
      }));
    },

    async stop() {
      for (const id of [...listening.keys()]) await this.unbind(id);
      for (const id of [...dialing.keys()]) await this.disconnect(id);
      await Promise.all(pendingLinger);
    },
  };
}
