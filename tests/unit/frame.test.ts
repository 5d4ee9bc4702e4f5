import { describe, expect, test } from "bun:test";
import { encodeFrame, FrameDecoder, MAX_FRAME_BYTES } from "../../lib/wire/frame.ts";
import { armorErrorOf, seededRandom } from "./_fixtures.ts";

const text = new TextDecoder();
const decodeAll = (payloads: Uint8Array[]): unknown[] => payloads.map((p) => JSON.parse(text.decode(p)));

function header(length: number): Uint8Array {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, length);
  return bytes;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

describe("encodeFrame()", () => {
  test("writes a 4-byte big-endian length, then the JSON payload", () => {
    const frame = encodeFrame({ a: 1 });
    expect(Array.from(frame.subarray(0, 4))).toEqual([0, 0, 0, 7]);
    expect(text.decode(frame.subarray(4))).toBe('{"a":1}');
  });

  test("counts UTF-8 bytes, not characters", () => {
    const frame = encodeFrame("é€");
    expect(new DataView(frame.buffer).getUint32(0)).toBe(7); // quotes + 2 + 3 bytes
  });

  test("refuses a message larger than the limit with E_FRAME_TOO_LARGE", () => {
    const err = armorErrorOf(() => encodeFrame("x".repeat(100), 50));
    expect(err.code).toBe("E_FRAME_TOO_LARGE");
    expect(err.message).toBe("frame of 102 bytes exceeds the limit of 50");
  });

  test("accepts a message of exactly the limit", () => {
    expect(encodeFrame("x".repeat(48), 50).length).toBe(54);
  });
});

describe("FrameDecoder.push()", () => {
  test("decodes one whole frame", () => {
    const decoder = new FrameDecoder();
    expect(decodeAll(decoder.push(encodeFrame({ op: "ping" })))).toEqual([{ op: "ping" }]);
    expect(decoder.midFrame).toBe(false);
  });

  test("decodes several frames delivered in one chunk, in order", () => {
    const decoder = new FrameDecoder();
    const chunk = concat([encodeFrame(1), encodeFrame("two"), encodeFrame({ three: 3 })]);
    expect(decodeAll(decoder.push(chunk))).toEqual([1, "two", { three: 3 }]);
  });

  test("returns nothing until a frame is complete and reports being mid-frame", () => {
    const decoder = new FrameDecoder();
    const frame = encodeFrame({ hello: "world" });
    expect(decoder.push(frame.subarray(0, 2))).toEqual([]);
    expect(decoder.midFrame).toBe(true);
    expect(decoder.push(frame.subarray(2, 9))).toEqual([]);
    expect(decodeAll(decoder.push(frame.subarray(9)))).toEqual([{ hello: "world" }]);
    expect(decoder.midFrame).toBe(false);
  });

  test("decodes frames fed one byte at a time", () => {
    const decoder = new FrameDecoder();
    const bytes = concat([encodeFrame({ n: 1 }), encodeFrame({ n: 2 })]);
    const out: Uint8Array[] = [];
    for (const byte of bytes) out.push(...decoder.push(Uint8Array.of(byte)));
    expect(decodeAll(out)).toEqual([{ n: 1 }, { n: 2 }]);
  });

  test("does not keep a reference to the caller's chunk (the socket may reuse it)", () => {
    const decoder = new FrameDecoder();
    const frame = encodeFrame({ keep: "me" });
    const chunk = frame.slice(0, 6);
    decoder.push(chunk);
    chunk.fill(0);
    expect(decodeAll(decoder.push(frame.subarray(6)))).toEqual([{ keep: "me" }]);
  });

  test("refuses an oversize frame from its header alone, before the body arrives", () => {
    const decoder = new FrameDecoder(1024);
    const err = armorErrorOf(() => decoder.push(header(10 * 1024 * 1024)));
    expect(err.code).toBe("E_FRAME_TOO_LARGE");
    expect(err.message).toBe("frame of 10485760 bytes exceeds the limit of 1024");
  });

  test("refuses an oversize header that follows a good frame in the same chunk", () => {
    const decoder = new FrameDecoder(64);
    expect(armorErrorOf(() => decoder.push(concat([encodeFrame(1), header(65)]))).code).toBe("E_FRAME_TOO_LARGE");
  });

  test("accepts a frame of exactly the limit", () => {
    const decoder = new FrameDecoder(10);
    expect(decodeAll(decoder.push(encodeFrame("x".repeat(8))))).toEqual(["xxxxxxxx"]);
  });

  test("uses MAX_FRAME_BYTES by default", () => {
    const decoder = new FrameDecoder();
    expect(armorErrorOf(() => decoder.push(header(MAX_FRAME_BYTES + 1))).code).toBe("E_FRAME_TOO_LARGE");
    expect(new FrameDecoder().push(header(MAX_FRAME_BYTES))).toEqual([]);
  });

  test("refuses a zero-length frame with E_PROTOCOL", () => {
    const err = armorErrorOf(() => new FrameDecoder().push(header(0)));
    expect(err.code).toBe("E_PROTOCOL");
    expect(err.message).toBe("empty frame");
  });

  test.each([1, 7, 42, 1234, 99999])("random splits of a frame sequence decode to the same messages (seed %i)", (seed) => {
    const random = seededRandom(seed);
    const messages = Array.from({ length: 40 }, (_, i) => ({
      i,
      text: "ü€𝄞x".repeat(Math.floor(random() * 50)),
      list: Array.from({ length: Math.floor(random() * 5) }, () => Math.floor(random() * 1000)),
    }));
    const stream = concat(messages.map((m) => encodeFrame(m)));
    const decoder = new FrameDecoder();
    const out: Uint8Array[] = [];
    let offset = 0;
    while (offset < stream.length) {
      // Mostly small chunks, sometimes large ones spanning several frames.
      const size = random() < 0.8 ? 1 + Math.floor(random() * 16) : 1 + Math.floor(random() * 2048);
      out.push(...decoder.push(stream.subarray(offset, offset + size)));
      offset += size;
    }
    expect(decodeAll(out)).toEqual(messages);
    expect(decoder.midFrame).toBe(false);
  });
});
