/**
 * What gates cost a container's start: the hook's whole-process latency at createRuntime
 * against three agents in one run — one with no gate, one with 1 and one with 4
 * (`armor-agent watch --gate gN --exec true`: each gated add runs `true`). Runs are interleaved
 * in a shuffled order each round, so machine noise hits every configuration alike; the
 * figures are ratios to the no-gate median.
 *
 *   bun run bench:gates [--runs 100] [--warmup 10] [--json]
 *
 * Fails (exit 1) when a hook run does not exit 0 silently, or a gate did not ack every
 * registration it was asked about (a timeout would measure the policy, not the gate).
 */
import { availableParallelism, release } from "node:os";
import { existsSync, mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import type { Subprocess } from "bun";
import { openFixture, runHookOnce } from "./_fixture.ts";
import { shuffle, summarize, type Summary } from "./_stats.ts";

const repo = resolve(import.meta.dir, "..");
const { values: flags } = parseArgs({
  options: {
    runs: { type: "string", default: "100" },
    warmup: { type: "string", default: "10" },
    json: { type: "boolean", default: false },
  },
});
const runs = Number(flags.runs);
const warmup = Number(flags.warmup);
if (!Number.isInteger(runs) || runs < 1 || !Number.isInteger(warmup) || warmup < 0) throw new Error("--runs must be ≥ 1 and --warmup ≥ 0, whole numbers");
const agentBinary = resolve(repo, "dist/armor-agent");
const hookBinary = resolve(repo, "dist/armor-hook");
const GATE_COUNTS = [0, 1, 4] as const;

interface Setup {
  gates: number;
  socket: string;
}

const started: Subprocess[] = [];
const fixture = await openFixture(agentBinary);
try {
  const setups: Setup[] = [];
  for (const gates of GATE_COUNTS) {
    const socket = gates === 0 ? fixture.socket : join(fixture.dir, `gates-${gates}`, "armor.sock");
    if (gates > 0) {
      mkdirSync(join(fixture.dir, `gates-${gates}`), { mode: 0o700 });
      started.push(
        Bun.spawn([agentBinary, "serve", "--socket", socket, "--log-level", "error", "--no-warm-hook"], {
          stdin: "ignore",
          stdout: "ignore",
          stderr: "ignore",
        }),
      );
      await until(() => existsSync(socket), `the agent at ${socket}`);
      for (let g = 0; g < gates; g++) {
        started.push(
          Bun.spawn([agentBinary, "watch", "--gate", `g${g}`, "--exec", "true", "--gate-timeout-ms", "2000", "--socket", socket], {
            stdin: "ignore",
            stdout: "ignore",
            stderr: "ignore",
          }),
        );
      }
      await until(() => status(socket).gates.gates.filter((g) => g.connected).length === gates, `${gates} gates on ${socket}`);
    }
    setups.push({ gates, socket });
  }

  const samples = new Map(setups.map((s) => [s, [] as number[]]));
  for (let round = -warmup; round < runs; round++) {
    for (const setup of shuffle([...setups])) {
      const id = `gates-${setup.gates}-${round < 0 ? `w${-round}` : round}`;
      const { ms, code, stderr } = runHookOnce(fixture, hookBinary, "createRuntime", setup.socket, id);
      if (code !== 0 || stderr !== "") throw new Error(`hook for ${id} (${setup.gates} gates) exited ${code}: ${stderr}`);
      if (round >= 0) samples.get(setup)?.push(ms);
    }
  }

  for (const setup of setups.filter((s) => s.gates > 0)) {
    const gates = status(setup.socket).gates;
    const total = warmup + runs;
    if (gates.unconfirmed !== 0 || gates.gates.some((g) => g.acks !== total)) {
      throw new Error(`not every registration was acked by every gate on ${setup.socket}: ${JSON.stringify(gates)}`);
    }
  }

  const base = summarize(samples.get(setups[0] as Setup) ?? []).median;
  const rows = setups.map((s) => {
    const summary: Summary = summarize(samples.get(s) ?? []);
    return { gates: s.gates, ...summary, ratio: summary.median / base };
  });
  if (flags.json) console.log(JSON.stringify({ runs, warmup, cpus: availableParallelism(), kernel: release(), rows }, null, 2));
  else {
    const ms = (x: number): string => `${x.toFixed(2)} ms`.padStart(10);
    console.log(
      `hook createRuntime latency with gates (each running \`true\`), ${runs} runs each, interleaved; ${availableParallelism()} CPUs, Linux ${release()}`,
    );
    console.log(`${"gates".padEnd(8)}${"median".padStart(10)}${"p95".padStart(10)}${"mean".padStart(10)}${"min".padStart(10)}  ratio`);
    for (const r of rows) console.log(`${String(r.gates).padEnd(8)}${ms(r.median)}${ms(r.p95)}${ms(r.mean)}${ms(r.min)}  ${r.ratio.toFixed(2)}x`);
  }
} finally {
  for (const proc of started.reverse()) {
    proc.kill("SIGKILL");
    await proc.exited;
  }
  await fixture.close();
}

interface GatesStatus {
  unconfirmed: number;
  gates: Array<{ name: string; connected: boolean; acks: number }>;
}

function status(socket: string): { gates: GatesStatus } {
  const run = Bun.spawnSync([agentBinary, "status", "--json", "--socket", socket], { stdout: "pipe", stderr: "pipe" });
  if (run.exitCode !== 0) throw new Error(`armor-agent status failed: ${run.stderr.toString()}`);
  return JSON.parse(run.stdout.toString()) as { gates: GatesStatus };
}

async function until(check: () => boolean, what: string): Promise<void> {
  const holds = (): boolean => {
    try {
      return check();
    } catch {
      return false;
    }
  };
  for (const deadline = Date.now() + 10_000; !holds(); await Bun.sleep(20)) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
  }
}
