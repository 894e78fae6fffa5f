import * as zmq from "zeromq";
import { afterEach, describe, expect, it } from "vitest";
import type { Vtx } from "@vtx/runtime";
import { testTransports, vtxWith, within, strs } from "./helpers.js";

for (const t of testTransports("ztcp")) {
  describe(`${t.scheme}: smoke`, () => {
    let vtx: Vtx;
    afterEach(async () => {
      await vtx?.destroy();
    });

    it("a REQ and a REP exchange a request and a reply over the virtual transport", async () => {
      vtx = vtxWith(t);
      const rep = vtx.socket("REP");
      const ep = await vtx.bind(rep, t.bindEndpoint());
      expect(ep).toMatch(new RegExp(`^${t.scheme}://127\\.0\\.0\\.1:[1-9][0-9]*$`));
      const req = vtx.socket("REQ");
      await vtx.connect(req, ep);
      await req.send("hello");
      expect(strs(await within(rep.receive(), 5000, "request"))).toEqual(["hello"]);
      await rep.send("world");
      expect(strs(await within(req.receive(), 5000, "reply"))).toEqual(["world"]);
    });

    it("the same socket serves a native tcp peer and a virtual peer", async () => {
      vtx = vtxWith(t);
      const rep = vtx.socket("REP");
      await vtx.bind(rep, "tcp://127.0.0.1:*");
      const nativeEp = rep.lastEndpoint!;
      const ep = await vtx.bind(rep, t.bindEndpoint());
      const a = new zmq.Request();
      const b = vtx.socket("REQ");
      a.connect(nativeEp);
      await vtx.connect(b, ep);
      try {
        await a.send("native");
        expect(strs(await within(rep.receive(), 5000, "native request"))).toEqual(["native"]);
        await rep.send("to-native");
        expect(strs(await within(a.receive(), 5000, "native reply"))).toEqual(["to-native"]);
        await b.send("virtual");
        expect(strs(await within(rep.receive(), 5000, "virtual request"))).toEqual(["virtual"]);
        await rep.send("to-virtual");
        expect(strs(await within(b.receive(), 5000, "virtual reply"))).toEqual(["to-virtual"]);
      } finally {
        a.close();
      }
    });
  });
}
