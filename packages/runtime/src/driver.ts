/**
 * The driver authoring API. A driver is a transport: it listens, dials or
 * owns a datagram socket, and for every remote peer opens a {@link Bridge}
 * through its context. It never re-implements a socket pattern.
 *
 * Drivers run inside a worker of the driver host; the application refers to
 * one by a serialisable {@link DriverSpec} (module URL + export name +
 * options) that the worker imports.
 */
import type { Bridge } from "./bridge.js";
import type { EndpointRequest, HostEvent } from "./control.js";

export interface DriverSpec {
  /** URL (file:) of the ES module that exports the factory. */
  readonly module: string;
  /** Name of the exported {@link DriverFactory}. */
  readonly export: string;
  /** Serialisable options handed to the factory. */
  readonly options?: unknown;
}

export interface Closable {
  close(): void;
}

export interface DriverContext {
  /** Aborted when the driver stops or crashes: stop timers, drop work. */
  readonly signal: AbortSignal;
  /** The scheme the driver was registered under. */
  readonly scheme: string;
  /**
   * Opens a bridge for a remote peer of endpoint `req`: a socket joined over
   * inproc to the application socket. `routingId` is the peer's identity
   * (what an app ROUTER sees). The bridge is closed with the driver.
   */
  openBridge(req: EndpointRequest, opts?: { routingId?: Buffer | undefined; peer?: string | undefined }): Bridge;
  /** Closes a bridge (the app socket forgets that peer). */
  closeBridge(req: EndpointRequest, bridge: Bridge): void;
  /** Reports an event to the application (connected, disconnected, ...). */
  emit(event: HostEvent): void;
  /** Asks the application's credential callback (PLAIN). */
  authenticate(req: EndpointRequest, creds: { mechanism: "PLAIN"; username: string; password: string; peer?: string | undefined }): Promise<boolean>;
  /** Registers a resource closed when the driver crashes or stops; returns an untrack function. */
  track(resource: Closable): () => void;
}

export interface Driver {
  /** Starts listening; resolves with the endpoint actually bound (ephemeral port filled in). */
  bind(req: EndpointRequest): Promise<string>;
  /** Starts connecting (and reconnecting) to the endpoint. */
  connect(req: EndpointRequest): Promise<void>;
  /**
   * Stops listening and ends the endpoint's links, lingering out what their
   * sinks hold (`req.options.linger`). The host has sealed the endpoint's
   * bridges before calling this: nothing more comes from the application.
   */
  unbind(id: string): Promise<void>;
  /** Stops dialing and ends the link, as {@link unbind} does (bridges sealed first). */
  disconnect(id: string): Promise<void>;
  /** Orderly stop: close everything, honouring linger. */
  stop(): Promise<void>;
}

export type DriverFactory = (ctx: DriverContext, options: unknown) => Driver;
