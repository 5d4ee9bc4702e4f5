/**
 * Seeded fuzzing of the compiled binaries: thousands of random and mutated frames
 * against a real agent process, and hundreds of mutated OCI documents through the
 * real hook. The agent never dies, holds only valid records, and answers the next
 * valid client; the hook always exits with a documented status and one line.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as v from "valibot";
import { ContainerSchema } from "../../lib/container.ts";
import { fuzzConfig, fuzzFrame, Fuzzer, fuzzState } from "../unit/_fuzz.ts";
import { RawClient } from "../unit/_raw-client.ts";
import { AgentProcess, HOOK, removeDir, run, tempDir } from "./support.ts";

const SEED = Number(process.env.ARMOR_FUZZ_SEED ?? 424242);

let work: string;
let agent: AgentProcess;
let sleeper: ReturnType<typeof Bun.spawn>;

beforeAll(async () => {
  work = tempDir("e2e-fuzz");
  agent = await AgentProcess.start(join(work, "run", "armor.sock"), ["--log-level", "warn"]);
  sleeper = Bun.spawn(["sleep", "600"], { stdin: "ignore", stdout: "ignore", stderr: "ignore" });
});

afterAll(async () => {
  sleeper.kill();
  await sleeper.exited;
  await agent.stop();
  removeDir(work);
});

/** The agent is alive, holds only valid records, and a valid client gets its answer. */
async function expectHealthy(): Promise<void> {
  expect(agent.proc.exitCode).toBeNull();
  const records = await agent.list();
  for (const record of records) expect(v.safeParse(ContainerSchema, record).success).toBe(true);
  expect((await agent.cli(["status", "--json"])).code).toBe(0);
}

describe("armor-agent under fuzzed frames", () => {
  test(`5,000 frames over many connections (seed ${SEED})`, async () => {
    const f = new Fuzzer(SEED);
    let client = await RawClient.connect(agent.socket);
    let pending = 0;
    for (let i = 0; i < 5000; i++) {
      const frame = fuzzFrame(f, i);
      client.write(frame.bytes);
      pending += 1;
      if (frame.fatal || pending >= 50 || i === 4999) {
        const answers = await client.take(pending, 10_000);
        expect(answers).toHaveLength(pending);
        pending = 0;
        if (frame.fatal) {
          expect(await client.closesWithin(5000)).toBe(true);
          client = await RawClient.connect(agent.socket);
        }
      }
      if (i % 1000 === 999) await expectHealthy();
    }
    client.close();
    await expectHealthy();
    expect(agent.log).not.toContain('"level":"error"');
  }, 120_000);
});

describe("armor-hook under fuzzed OCI documents", () => {
  test(`300 state and config documents through the binary (seed ${SEED})`, async () => {
    const f = new Fuzzer(SEED + 1);
    const cases = Array.from({ length: 300 }, (_, i) => {
      const bundle = join(work, "bundles", String(i));
      mkdirSync(bundle, { recursive: true });
      writeFileSync(join(bundle, "config.json"), fuzzConfig(f));
      return {
        stdin: fuzzState(f, f.pick([sleeper.pid, sleeper.pid, 0, 999_999]), bundle),
        argv: f.pick([[], ["createRuntime"], ["poststop"], ["createRuntime", "--fail-policy", "closed"]]),
      };
    });
    const statuses = new Map<number, number>();
    const queue = [...cases];
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        for (let c = queue.shift(); c !== undefined; c = queue.shift()) {
          const ran = await run([HOOK, ...c.argv, "--socket", agent.socket], { stdin: c.stdin });
          statuses.set(ran.code, (statuses.get(ran.code) ?? 0) + 1);
          expect([0, 2, 3, 4, 5, 6]).toContain(ran.code);
          expect(ran.stdout).toBe("");
          expect(ran.stderr.split("\n").filter((line) => line !== "").length).toBeLessThanOrEqual(1);
        }
      }),
    );
    expect(statuses.get(0)).toBeGreaterThan(20);
    await expectHealthy();
  }, 180_000);
});
