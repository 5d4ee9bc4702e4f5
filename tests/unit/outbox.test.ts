import { describe, expect, test } from "bun:test";
import { Outbox, OutputBudget } from "../../lib/agent/outbox.ts";

const frame = (length: number, fill: number): Uint8Array => new Uint8Array(length).fill(fill);

describe("Outbox", () => {
  test("queues frames without copying them: what is written is what was pushed", () => {
    const budget = new OutputBudget(1 << 20);
    const out = new Outbox(budget);
    const frames = Array.from({ length: 5000 }, (_, i) => frame(10, i % 256));
    for (const f of frames) out.push(f);
    expect(out.bytes).toBe(50_000);
    expect(budget.used).toBe(50_000);
    const written: Uint8Array[] = [];
    expect(
      out.flush((chunk) => {
        written.push(chunk);
        return chunk.length;
      }),
    ).toBe(true);
    expect(written.length).toBe(5000);
    written.forEach((chunk, i) => expect(chunk).toBe(frames[i] as Uint8Array));
    expect([out.bytes, budget.used]).toEqual([0, 0]);
  });

  test("resumes a partial write at the byte where the socket stopped taking", () => {
    const budget = new OutputBudget(1 << 20);
    const out = new Outbox(budget);
    const frames = [frame(7, 1), frame(5, 2), frame(9, 3)];
    for (const f of frames) out.push(f);
    const got: number[] = [];
    // A socket that takes 3 bytes per drain.
    for (let drains = 0; drains < 20; drains++) {
      let room = 3;
      const done = out.flush((chunk) => {
        const n = Math.min(room, chunk.length);
        room -= n;
        got.push(...chunk.subarray(0, n));
        return n;
      });
      expect(out.bytes).toBe(21 - got.length);
      expect(budget.used).toBe(out.bytes);
      if (done) break;
    }
    expect(got).toEqual(frames.flatMap((f) => [...f]));
  });

  test("a write that fails (-1) keeps everything queued", () => {
    const budget = new OutputBudget(100);
    const out = new Outbox(budget);
    out.push(frame(4, 9));
    expect(out.flush(() => -1)).toBe(false);
    expect([out.bytes, budget.used]).toEqual([4, 4]);
  });

  test("clear() gives every queued byte back to the shared budget", () => {
    const budget = new OutputBudget(100);
    const a = new Outbox(budget);
    const b = new Outbox(budget);
    a.push(frame(30, 0));
    b.push(frame(50, 0));
    expect(budget.fits(20)).toBe(true);
    expect(budget.fits(21)).toBe(false);
    a.clear();
    expect([a.bytes, budget.used]).toEqual([0, 50]);
    b.flush((chunk) => Math.min(10, chunk.length));
    b.clear();
    expect(budget.used).toBe(0);
  });
});
