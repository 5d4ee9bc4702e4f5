import { describe, expect, test } from "bun:test";
import { SerialPass } from "../../lib/agent/serial-pass.ts";

const waitUntil = async (check: () => boolean): Promise<void> => {
  for (const deadline = Date.now() + 2000; !check(); await Bun.sleep(2)) {
    if (Date.now() > deadline) throw new Error("timed out");
  }
};

describe("SerialPass", () => {
  test("runs asked-for passes one after the other, never two at once", async () => {
    let inside = 0;
    let most = 0;
    const pass = new SerialPass(async () => {
      most = Math.max(most, ++inside);
      await Bun.sleep(5);
      inside -= 1;
      return most;
    });
    await Promise.all([pass.run(), pass.run(), pass.run()]);
    expect(most).toBe(1);
    expect(pass.busy).toBe(false);
  });

  test("keeps passing on its timer after the first pass (not just once)", async () => {
    let passes = 0;
    const pass = new SerialPass(async () => ++passes);
    await pass.run();
    pass.start(5);
    try {
      await waitUntil(() => passes >= 4);
    } finally {
      pass.stop();
    }
  });

  test("a pass that fails does not stop the later ones", async () => {
    let passes = 0;
    const pass = new SerialPass(async () => {
      passes += 1;
      throw new Error("disk on fire");
    });
    await expect(pass.run()).rejects.toThrow("disk on fire");
    expect(pass.busy).toBe(false);
    pass.start(5);
    try {
      await waitUntil(() => passes >= 3);
    } finally {
      pass.stop();
    }
  });
});
