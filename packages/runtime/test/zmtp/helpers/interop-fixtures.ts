/**
 * Fixtures shared by the engine-vs-libzmq interop tests: native sockets and
 * engine connections made here are closed after each test.
 */
import { afterEach } from "vitest";
import type * as zmq from "zeromq";
import { NetEngine, NetEngineServer } from "./net-engine.js";

export const WAIT = 3000;

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

export function track<T extends { close(): void }>(s: T): T {
  cleanups.push(() => s.close());
  return s;
}

/** Binds a native socket on an ephemeral loopback port. */
export async function bindNative<T extends zmq.Socket>(socket: T): Promise<{ socket: T; port: number }> {
  track(socket);
  await socket.bind("tcp://127.0.0.1:*");
  return { socket, port: Number(new URL(socket.lastEndpoint!.replace("tcp:", "http:")).port) };
}

/** An engine dialing `port`. */
export async function dial(port: number, options: ConstructorParameters<typeof NetEngine>[1]): Promise<NetEngine> {
  const e = await NetEngine.connect(port, options);
  cleanups.push(() => e.destroy());
  return e;
}

/** An engine server on an ephemeral port. */
export async function serve(options: ConstructorParameters<typeof NetEngine>[1]): Promise<NetEngineServer> {
  const s = await NetEngineServer.listen(options);
  cleanups.push(() => s.close());
  return s;
}
