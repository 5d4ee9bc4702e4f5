/**
 * The NRI wire, against bytes written by hand from the .proto definitions
 * (containerd/nri v0.4.0 pkg/api/api.proto, containerd/ttrpc request.proto) and
 * the framing of pkg/net/multiplex and ttrpc's channel: each fixture spells its
 * tags as (field << 3) | wire type.
 */
import { describe, expect, test } from "bun:test";
import {
  decodeContainer,
  decodePodAndContainer,
  decodeRpcRequest,
  decodeRpcResponse,
  decodeStateChange,
  decodeSynchronizeRequest,
  encodeConfigureResponse,
  encodeCreateContainerResponse,
  encodeRegisterPlugin,
  encodeRpcRequest,
  encodeRpcResponse,
  eventMask,
  NRI_EVENT,
  RPC_CODE,
  RUNTIME_SERVICE,
} from "../../lib/nri/messages.ts";
import { MAX_SENT_FRAME_BYTES, MuxDecoder, muxFrames } from "../../lib/nri/mux.ts";
import { ProtoWriter, readFields } from "../../lib/nri/proto.ts";
import { encodeTtrpcMessage, RpcError, TtrpcConn, TtrpcDecoder } from "../../lib/nri/ttrpc.ts";
import { SUBSCRIBED_EVENTS } from "../../lib/nri/plugin.ts";
import { ArmorError } from "../../lib/errors.ts";
import { armorErrorOf, rejectionOf, seededRandom } from "./_fixtures.ts";

const bytes = (...parts: Array<number | string | number[]>): Uint8Array =>
  new Uint8Array(parts.flatMap((p) => (typeof p === "number" ? [p] : typeof p === "string" ? [...new TextEncoder().encode(p)] : p)));
const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");

describe("protobuf wire (lib/nri/proto.ts)", () => {
  test("varints are little-endian base 128; zero values are left out (proto3)", () => {
    expect(hex(new ProtoWriter().uint(1, 1).finish())).toBe("0801");
    expect(hex(new ProtoWriter().uint(1, 300).finish())).toBe("08ac02");
    expect(hex(new ProtoWriter().uint(1, 2 ** 40).finish())).toBe("08808080808020");
    expect(hex(new ProtoWriter().uint(1, 0).string(2, "").finish())).toBe("");
  });

  test("a truncated varint, a field running past the end, field 0 and wire types 3/4 are malformed", () => {
    for (const bad of [bytes(0x08, 0x80), bytes(0x0a, 0x05, 0x61), bytes(0x00, 0x01), bytes(0x0b), bytes(0x0c), bytes(0x0d, 1, 2)]) {
      expect(armorErrorOf(() => [...readFields(bad)]).code).toBe("E_PROTOCOL");
    }
  });

  test("fixed-width fields are skipped, unknown fields ignored", () => {
    // field 15 fixed32, field 14 varint, then field 1 "c1".
    const container = decodeContainer(bytes(0x7d, 1, 2, 3, 4, 0x70, 0x01, 0x0a, 0x02, "c1"));
    expect(container.id).toBe("c1");
  });

  test("invalid UTF-8 in a string field is malformed", () => {
    expect(armorErrorOf(() => decodeContainer(bytes(0x0a, 0x01, 0xff))).code).toBe("E_PROTOCOL");
  });
});

describe("NRI messages (lib/nri/messages.ts)", () => {
  test("RegisterPluginRequest {plugin_name = 1, plugin_idx = 2}", () => {
    expect(encodeRegisterPlugin("armor-hooks", "10")).toEqual(bytes(0x0a, 11, "armor-hooks", 0x12, 2, "10"));
  });

  test("ConfigureResponse {events = 2}: bit 1 << (event - 1) per subscribed event", () => {
    // RUN/STOP/REMOVE_POD_SANDBOX (1-3), CREATE_CONTAINER (4), STOP_CONTAINER (10), REMOVE_CONTAINER (11).
    expect(eventMask(SUBSCRIBED_EVENTS)).toBe(0b110_0000_1111);
    expect(encodeConfigureResponse(eventMask(SUBSCRIBED_EVENTS))).toEqual(bytes(0x10, 0x8f, 0x0c));
    expect(eventMask([NRI_EVENT.CREATE_CONTAINER])).toBe(8);
  });

  // Container {id 1, pod_sandbox_id 2, name 3, state 4, annotations 6, args 7, hooks 10, linux 11, pid 12}
  const hook = bytes(0x0a, 2, "/h", 0x12, 10, "armor-hook"); // Hook {path 1, args 2}
  const hooks = bytes(0x12, hook.length, [...hook]); // Hooks {create_runtime 2}
  const container = bytes(
    [0x0a, 2, ..."c1".split("").map((c) => c.charCodeAt(0))],
    [0x12, 2, 0x70, 0x31], // pod_sandbox_id "p1"
    [0x1a, 3, 0x61, 0x70, 0x70], // name "app"
    [0x20, 3], // state CONTAINER_RUNNING
    [0x32, 6, 0x0a, 1, 0x6b, 0x12, 1, 0x76], // annotations {"k": "v"}
    [0x32, 15, 0x0a, 9, ..."__proto__".split("").map((c) => c.charCodeAt(0)), 0x12, 2, 0x78, 0x79], // {"__proto__": "xy"}
    [0x3a, 2, 0x73, 0x68], // args "sh"
    [0x52, hooks.length, ...hooks], // hooks (field 10, wire 2)
    [0x5a, 5, 0x2a, 3, 0x2f, 0x63, 0x67], // linux {cgroups_path 5: "/cg"}
    [0x60, 0x92, 0x21], // pid 4242
  );

  test("Container: the fields the plugin reads", () => {
    const decoded = decodeContainer(container);
    expect(decoded).toMatchObject({ id: "c1", podSandboxId: "p1", name: "app", state: 3, args: ["sh"], pid: 4242, cgroupsPath: "/cg" });
    expect(decoded.annotations).toEqual({ k: "v", ["__proto__"]: "xy" });
    expect(Object.getPrototypeOf(decoded.annotations)).toBe(Object.prototype);
    expect(decoded.hooks.createRuntime).toEqual([{ path: "/h", args: ["armor-hook"], env: [] }]);
    expect(decoded.hooks.poststop).toEqual([]);
  });

  // PodSandbox {id 1, name 2, uid 3, namespace 4, linux 8 {cgroups_path 4}, pid 9}
  const pod = bytes(
    [0x0a, 2, 0x70, 0x31],
    [0x12, 3, 0x77, 0x65, 0x62],
    [0x1a, 1, 0x75],
    [0x22, 4, ..."shop".split("").map((c) => c.charCodeAt(0))],
    [0x42, 4, 0x22, 2, 0x2f, 0x70],
    [0x48, 0x07],
  );

  test("SynchronizeRequest {pods 1, containers 2}, CreateContainerRequest {pod 1, container 2}, StateChangeEvent {event 1, pod 2, container 3}", () => {
    const sync = decodeSynchronizeRequest(bytes([0x0a, pod.length, ...pod], [0x12, container.length, ...container]));
    expect(sync.pods).toEqual([{ id: "p1", name: "web", uid: "u", namespace: "shop", annotations: {}, pid: 7, cgroupsPath: "/p" }]);
    expect(sync.containers.map((c) => c.id)).toEqual(["c1"]);
    const create = decodePodAndContainer(bytes([0x0a, pod.length, ...pod], [0x12, container.length, ...container]));
    expect([create.pod?.namespace, create.container?.name]).toEqual(["shop", "app"]);
    const change = decodeStateChange(bytes([0x08, 1], [0x12, pod.length, ...pod]));
    expect([change.event, change.pod?.pid, change.container]).toEqual([NRI_EVENT.RUN_POD_SANDBOX, 7, null]);
  });

  test("CreateContainerResponse {adjust 1: ContainerAdjustment {hooks 5: Hooks {create_runtime 2, poststop 6}}}", () => {
    const entry = { path: "/h", args: ["a"], env: ["E=1"], timeout: 5 };
    // Hook {path 1, args 2, env 3, timeout 4: OptionalInt {value 1}}
    const h = [0x0a, 2, 0x2f, 0x68, 0x12, 1, 0x61, 0x1a, 3, 0x45, 0x3d, 0x31, 0x22, 2, 0x08, 5];
    const hooksBytes = [0x12, h.length, ...h, 0x32, h.length, ...h];
    expect(encodeCreateContainerResponse({ createRuntime: [entry], poststop: [entry] })).toEqual(
      bytes(0x0a, hooksBytes.length + 2, 0x2a, hooksBytes.length, hooksBytes),
    );
    // No adjustment: an empty message, which the runtime reads as "no change".
    expect(encodeCreateContainerResponse(null)).toEqual(new Uint8Array(0));
  });

  test("ttrpc Request {service 1, method 2, payload 3, timeout_nano 4} and Response {status 1 {code 1, message 2}, payload 2}", () => {
    const request = encodeRpcRequest({ service: RUNTIME_SERVICE, method: "RegisterPlugin", payload: bytes(1, 2), timeoutNano: 1 });
    expect(request).toEqual(bytes(0x0a, 28, RUNTIME_SERVICE, 0x12, 14, "RegisterPlugin", 0x1a, 2, 1, 2, 0x20, 1));
    expect(decodeRpcRequest(request)).toEqual({ service: RUNTIME_SERVICE, method: "RegisterPlugin", payload: bytes(1, 2), timeoutNano: 1 });
    expect(encodeRpcResponse({ code: 9, message: "no", payload: new Uint8Array(0) })).toEqual(bytes(0x0a, 6, 0x08, 9, 0x12, 2, "no"));
    expect(encodeRpcResponse({ code: RPC_CODE.OK, message: "", payload: bytes(7) })).toEqual(bytes(0x12, 1, 7));
    expect(decodeRpcResponse(bytes(0x0a, 6, 0x08, 9, 0x12, 2, "no"))).toEqual({ code: 9, message: "no", payload: new Uint8Array(0) });
    // An empty body is an OK response with an empty payload.
    expect(decodeRpcResponse(new Uint8Array(0))).toEqual({ code: 0, message: "", payload: new Uint8Array(0) });
  });
});

describe("NRI mux (lib/nri/mux.ts)", () => {
  test("a frame is [u32 connID][u32 length][payload], big-endian", () => {
    expect(muxFrames(2, bytes(0xaa, 0xbb))).toEqual([bytes(0, 0, 0, 2, 0, 0, 0, 2, 0xaa, 0xbb)]);
  });

  test(`every frame sent is at most ${MAX_SENT_FRAME_BYTES} bytes, header included, and the pieces rejoin`, () => {
    const payload = new Uint8Array(10_000).map((_, i) => i % 251);
    const frames = muxFrames(1, payload);
    expect(frames.map((f) => f.length)).toEqual([4096, 4096, 8 + 10_000 - 2 * 4088]);
    expect(Array.from(frames[0]?.subarray(0, 8) ?? [])).toEqual([0, 0, 0, 1, 0, 0, 0x0f, 0xf8]);
    const joined = new MuxDecoder().push(Buffer.concat(frames));
    expect(joined.map((p) => p.conn)).toEqual([1, 1, 1]);
    expect(Buffer.concat(joined.map((p) => p.payload))).toEqual(Buffer.from(payload));
  });

  test("the decoder takes any chunking, drops empty payloads, and refuses conn 0 and oversize headers", () => {
    const stream = Buffer.concat([...muxFrames(2, bytes(1, 2, 3)), bytes(0, 0, 0, 1, 0, 0, 0, 0), ...muxFrames(1, bytes(9))]);
    const decoder = new MuxDecoder();
    const out = [...stream].flatMap((byte) => decoder.push(bytes(byte)));
    expect(out).toEqual([
      { conn: 2, payload: bytes(1, 2, 3) },
      { conn: 1, payload: bytes(9) },
    ]);
    expect(armorErrorOf(() => new MuxDecoder().push(bytes(0, 0, 0, 0, 0, 0, 0, 1, 5))).code).toBe("E_PROTOCOL");
    expect(armorErrorOf(() => new MuxDecoder().push(bytes(0, 0, 0, 1, 0x01, 0, 0, 1))).code).toBe("E_PROTOCOL");
  });
});

describe("StreamBuffer (the decoders' buffer)", () => {
  test("any chunking of a long stream, across growth and compaction, gives back every payload in order", () => {
    const random = seededRandom(15);
    const payloads = Array.from({ length: 200 }, (_, i) => new Uint8Array(Math.floor(random() * 9000)).map((_, j) => (i + j) % 256));
    const stream = Buffer.concat(payloads.flatMap((p, i) => muxFrames((i % 2) + 1, p)));
    const decoder = new MuxDecoder();
    const out: Uint8Array[] = [];
    for (let at = 0; at < stream.length;) {
      const n = 1 + Math.floor(random() * 20_000);
      out.push(...decoder.push(stream.subarray(at, at + n)).map((p) => p.payload));
      at += n;
    }
    expect(Buffer.concat(out)).toEqual(Buffer.concat(payloads));
  });
});

describe("ttrpc (lib/nri/ttrpc.ts)", () => {
  test("a message is [u32 length][u32 streamID][u8 type][u8 flags] + body; zero-length bodies are messages", () => {
    expect(encodeTtrpcMessage({ streamId: 3, type: 2, flags: 0, payload: bytes(7) })).toEqual(bytes(0, 0, 0, 1, 0, 0, 0, 3, 2, 0, 7));
    const decoder = new TtrpcDecoder();
    const stream = Buffer.concat([
      encodeTtrpcMessage({ streamId: 1, type: 1, flags: 0, payload: new Uint8Array(0) }),
      encodeTtrpcMessage({ streamId: 5, type: 2, flags: 0, payload: bytes(1, 2) }),
    ]);
    const out = [...stream].flatMap((byte) => decoder.push(bytes(byte)));
    expect(out).toEqual([
      { streamId: 1, type: 1, flags: 0, payload: new Uint8Array(0) },
      { streamId: 5, type: 2, flags: 0, payload: bytes(1, 2) },
    ]);
    expect(armorErrorOf(() => new TtrpcDecoder().push(bytes(0x01, 0, 0, 0, 0, 0, 0, 1, 1, 0))).code).toBe("E_PROTOCOL");
  });

  /** Two TtrpcConns back to back, as the mux would carry them. */
  function pair(serve: (service: string, method: string, payload: Uint8Array) => Promise<Uint8Array>): { client: TtrpcConn; sent: Uint8Array[] } {
    const sent: Uint8Array[] = [];
    let client: TtrpcConn | undefined;
    const server = new TtrpcConn((b) => client?.receive(b), serve);
    client = new TtrpcConn(
      (b) => {
        sent.push(b);
        server.receive(b);
      },
      async () => new Uint8Array(0),
    );
    return { client, sent };
  }

  test("a client numbers its streams 1, 3, 5… and gets each answer on its stream", async () => {
    const { client, sent } = pair(async (_s, method, payload) => bytes(...payload, method.length));
    const answers = await Promise.all([client.call("S", "ab", bytes(1), 1000), client.call("S", "abc", bytes(2), 1000)]);
    expect(answers).toEqual([bytes(1, 2), bytes(2, 3)]);
    expect(sent.map((m) => new DataView(m.buffer, m.byteOffset).getUint32(4))).toEqual([1, 3]);
    expect(decodeRpcRequest(sent[0]?.subarray(10) ?? new Uint8Array(0))).toEqual({ service: "S", method: "ab", payload: bytes(1), timeoutNano: 1_000_000_000 });
  });

  test("an RpcError travels as a status; any other failure is INTERNAL", async () => {
    const { client } = pair(async (_s, method) => {
      if (method === "refuse") throw new RpcError(RPC_CODE.FAILED_PRECONDITION, "refused here");
      throw new Error("boom");
    });
    expect((await rejectionOf(client.call("S", "refuse", new Uint8Array(0), 1000))).message).toContain("status 9: refused here");
    expect((await rejectionOf(client.call("S", "other", new Uint8Array(0), 1000))).message).toContain("status 13: boom");
  });

  test("a call without an answer times out; close() fails what is pending", async () => {
    const silent = new TtrpcConn(
      () => {},
      async () => new Uint8Array(0),
    );
    expect((await rejectionOf(silent.call("S", "m", new Uint8Array(0), 20))).code).toBe("E_AGENT_TIMEOUT");
    const pending = silent.call("S", "m", new Uint8Array(0), 10_000);
    silent.close(new ArmorError("E_PROTOCOL", "NRI connection closed"));
    expect((await rejectionOf(pending)).code).toBe("E_PROTOCOL");
  });
});
