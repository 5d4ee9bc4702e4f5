/**
 * Whole-process latency of armor-hook against an empty compiled Bun binary (the
 * floor), with a real agent, bundle and live pid. Runs are interleaved in a
 * shuffled order each round, so machine noise hits every binary alike.
 *
 *   bun run bench:hook [--runs 300] [--warmup 20] [--json] [--skip-poststop]
 *                      [--hook dist/armor-hook]... [--agent dist/armor-agent] [--cold N]
 *
 * --cold N (root): N times each, the first createRuntime after `echo 3 > /proc/sys/vm/drop_caches`,
 * against an agent that keeps the hook's pages resident (serve --hook-binary) and one that does
 * not (--no-warm-hook), as ratios to the warm median. Dropping the page cache slows every other
 * process on the machine for a moment: N is at most 5.
 *
 * More than one --hook compares builds in the same run. Fails (exit 1) when any hook
 * run does not exit 0 silently, or the agent's list does not show what the runs did.
 */
import { availableParallelism, release } from "node:os";
import { readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import * as v from "valibot";
import { ContainerSchema, type Container } from "../lib/container.ts";
import { installCopy, namespaceOf, openFixture, runHookOnce, type Fixture } from "./_fixture.ts";
import { shuffle, summarize, type Summary } from "./_stats.ts";

type Stage = "createRuntime" | "poststop";

interface Target {
  label: string;
  binary: string;
  isHook: boolean;
}

/** One measured series: a binary at a stage. */
interface Series extends Summary {
  binary: string;
  stage: Stage;
  /** Median of this series over the median of the empty binary in the same stage. */
  ratio: number;
}

const repo = resolve(import.meta.dir, "..");
const { values: flags } = parseArgs({
  options: {
    runs: { type: "string", default: "300" },
    warmup: { type: "string", default: "20" },
    json: { type: "boolean", default: false },
    "skip-poststop": { type: "boolean", default: false },
    hook: { type: "string", multiple: true },
    agent: { type: "string", default: "dist/armor-agent" },
    cold: { type: "string", default: "0" },
  },
});
const coldRounds = wholeNumber(flags.cold, "--cold", 0);
if (coldRounds > 5) throw new Error("--cold must be at most 5: each round drops the page cache of the whole machine");
const runs = wholeNumber(flags.runs, "--runs", 1);
const warmup = wholeNumber(flags.warmup, "--warmup", 0);
const hooks = (flags.hook ?? ["dist/armor-hook"]).map((path, i, all) => ({
  label: all.length === 1 ? "armor-hook" : path,
  binary: resolve(repo, path),
  isHook: true,
}));

function wholeNumber(raw: string | undefined, flag: string, min: number): number {
  const n = Number(raw);
  if (!/^\d+$/.test(raw ?? "") || n < min) throw new Error(`${flag} must be a whole number >= ${min}, got "${raw}"`);
  return n;
}

/** Container id for round `round` of hook number `hook`; warm-up rounds are negative. */
const containerId = (hook: number, round: number): string => `bench-${hook}-${round < 0 ? `w${-round}` : round}`;

/** Runs every target `warmup + runs` times at `stage`, interleaved; returns wall times of the measured runs. */
function measure(fixture: Fixture, stage: Stage, targets: Target[]): Map<Target, number[]> {
  const samples = new Map(targets.map((t) => [t, [] as number[]]));
  for (let round = -warmup; round < runs; round++) {
    for (const target of shuffle([...targets])) {
      const id = containerId(hooks.indexOf(target), round);
      const { ms, code, stderr } = runHookOnce(fixture, target.binary, stage, fixture.socket, id);
      if (target.isHook && (code !== 0 || stderr !== "")) {
        throw new Error(`${target.label} ${stage} for ${id} exited ${code}${stderr ? `: ${stderr}` : " (no output)"}`);
      }
      if (round >= 0) samples.get(target)?.push(ms);
    }
  }
  return samples;
}

/** One createRuntime run of `binary` against `socket`, in ms; throws unless it exits 0 silently. */
function runOnce(fixture: Fixture, binary: string, socket: string, id: string): number {
  const { ms, code, stderr } = runHookOnce(fixture, binary, "createRuntime", socket, id);
  if (code !== 0 || stderr !== "") throw new Error(`${binary} createRuntime for ${id} exited ${code}${stderr ? `: ${stderr}` : ""}`);
  return ms;
}

/** How long after dropping the page cache the cold run starts. */
const COLD_SETTLE_MS = 1000;

function dropPageCache(): void {
  Bun.spawnSync(["sync"]);
  writeFileSync("/proc/sys/vm/drop_caches", "3");
}

/**
 * --cold: first runs after the page cache was dropped, first with no agent keeping the hook's
 * pages (the fixture's agent has --no-warm-hook), then with a second agent that keeps them. The
 * second agent starts only after the first series: while it runs, its locked pages are every run's.
 */
async function measureCold(fixture: Fixture, hook: Target): Promise<{ without: number[]; with: number[]; lockedBytes: number }> {
  // A runtime writes the bundle's config.json just before it runs the hook: after the drop the
  // bench writes it again, as it would be then (in the page cache), and measures what is left.
  const config = join(fixture.bundle, "config.json");
  // Every process on the machine refaults its own pages right after a drop; the hook runs once
  // that storm is over (COLD_SETTLE_MS), so the row measures the hook's own pages, not the disk queue.
  const cold = async (): Promise<void> => {
    dropPageCache();
    await Bun.sleep(COLD_SETTLE_MS);
    writeFileSync(config, readFileSync(config));
  };
  const without: number[] = [];
  for (let round = 0; round < coldRounds; round++) {
    await cold();
    without.push(runOnce(fixture, hook.binary, fixture.socket, `cold-without-${round}`));
  }
  const socket = join(fixture.dir, "warm", "armor.sock");
  const log = join(fixture.dir, "warm-agent.log");
  const agentProc = Bun.spawn([agent, "serve", "--socket", socket, "--hook-binary", hook.binary], { stdin: "ignore", stdout: "ignore", stderr: Bun.file(log) });
  try {
    let lockedBytes = 0;
    for (const deadline = Date.now() + 30_000; lockedBytes === 0; await Bun.sleep(50)) {
      if (Date.now() > deadline || agentProc.exitCode !== null) throw new Error(`the warm agent never locked ${hook.binary}: ${readFileSync(log, "utf8")}`);
      const line = readFileSync(log, "utf8")
        .split("\n")
        .find((l) => l.includes("kept resident"));
      lockedBytes = line ? Number((JSON.parse(line) as { lockedBytes: number }).lockedBytes) : 0;
    }
    const withWarm: number[] = [];
    for (let round = 0; round < coldRounds; round++) {
      await cold();
      withWarm.push(runOnce(fixture, hook.binary, socket, `cold-with-${round}`));
    }
    return { without, with: withWarm, lockedBytes };
  } finally {
    agentProc.kill("SIGTERM");
    await agentProc.exited;
  }
}

/** The agent's own view, through `armor-agent list --json`. */
function listIds(agent: string, fixture: Fixture): Map<string, Container> {
  const run = Bun.spawnSync([agent, "list", "--json", "--socket", fixture.socket], { stdout: "pipe", stderr: "pipe" });
  if (run.exitCode !== 0) throw new Error(`armor-agent list failed (${run.exitCode}): ${run.stderr.toString()}`);
  const containers = v.parse(v.array(ContainerSchema), JSON.parse(run.stdout.toString()));
  return new Map(containers.map((c) => [c.id, c]));
}

/** Every id the hooks were given at a stage: warm-up and measured rounds. */
function allIds(): string[] {
  return hooks.flatMap((_, hook) => Array.from({ length: warmup + runs }, (_, k) => containerId(hook, k - warmup)));
}

function verifyRegistered(agent: string, fixture: Fixture): void {
  const held = listIds(agent, fixture);
  const expected = { pid: namespaceOf(fixture.pid, "pid"), mnt: namespaceOf(fixture.pid, "mnt") };
  for (const id of allIds()) {
    const c = held.get(id);
    if (!c) throw new Error(`armor-agent list does not hold ${id}, though its createRuntime hook exited 0`);
    if (c.pid !== fixture.pid || c.namespaces.pid !== expected.pid || c.namespaces.mnt !== expected.mnt || c.apparmorProfile !== "armor-bench") {
      throw new Error(`armor-agent holds ${id} with the wrong record: ${JSON.stringify(c)}`);
    }
  }
}

function verifyUnregistered(agent: string, fixture: Fixture): void {
  const held = listIds(agent, fixture);
  const left = allIds().filter((id) => held.has(id));
  if (left.length > 0) throw new Error(`armor-agent still holds ${left.length} containers after poststop, e.g. ${left[0]}`);
}

function table(series: Series[]): string {
  const ms = (x: number): string => `${x.toFixed(2)} ms`.padStart(10);
  const width = Math.max(...series.map((s) => s.binary.length)) + 2;
  const head = `${"stage".padEnd(15)}${"binary".padEnd(width)}${"median".padStart(10)}${"p95".padStart(10)}${"mean".padStart(10)}${"min".padStart(10)}  ratio`;
  const rows = series.map((s) => `${s.stage.padEnd(15)}${s.binary.padEnd(width)}${ms(s.median)}${ms(s.p95)}${ms(s.mean)}${ms(s.min)}  ${s.ratio.toFixed(2)}x`);
  return [head, ...rows].join("\n");
}

const agent = resolve(repo, flags.agent);
const fixture = await openFixture(agent);
const series: Series[] = [];
try {
  // Each hook runs from a cp copy beside the floor's, in the same page-cache state (installCopy).
  for (const [i, hook] of hooks.entries()) hook.binary = installCopy(fixture.dir, hook.binary, `hook-${i}`);
  const empty: Target = { label: "empty", binary: fixture.emptyBinary, isHook: false };
  const stages: Stage[] = flags["skip-poststop"] ? ["createRuntime"] : ["createRuntime", "poststop"];
  for (const stage of stages) {
    const samples = measure(fixture, stage, [empty, ...hooks]);
    if (stage === "createRuntime") verifyRegistered(agent, fixture);
    else verifyUnregistered(agent, fixture);
    const floor = summarize(samples.get(empty) ?? []);
    for (const [target, values] of samples) {
      const summary = summarize(values);
      series.push({ binary: target.label, stage, ...summary, ratio: summary.median / floor.median });
    }
  }
  if (coldRounds > 0) {
    const hook = hooks[0] as Target;
    const warm = series.find((x) => x.stage === "createRuntime" && x.binary === hook.label) as Series;
    const result = await measureCold(fixture, hook);
    for (const [label, values] of [
      ["cold cache, agent without warm pages", result.without],
      [`cold cache, agent keeps ${(result.lockedBytes / 1048576).toFixed(1)} MiB resident`, result.with],
    ] as const) {
      const summary = summarize(values);
      series.push({ binary: `${hook.label}: ${label}`, stage: "createRuntime", ...summary, ratio: summary.median / warm.median });
    }
  }
} finally {
  await fixture.close();
}

const machine = { cores: availableParallelism(), kernel: release(), bun: Bun.version };
if (flags.json) {
  console.log(JSON.stringify({ runs, warmup, machine, freshNamespaces: fixture.freshNamespaces, series }, null, 2));
} else {
  console.log(`armor-hook start-up: ${runs} runs per binary (+${warmup} warm-up), interleaved; spawn to exit, state on stdin`);
  console.log(
    `machine: ${machine.cores} cores, Linux ${machine.kernel}, bun ${machine.bun}; pid in ${fixture.freshNamespaces ? "fresh namespaces (unshare)" : "the host's namespaces"}`,
  );
  console.log(table(series));
  console.log("ratio = median / median of the empty binary in the same stage; every hook run exited 0 and the agent's list confirmed it");
  if (coldRounds > 0) console.log(`cold rows: ${coldRounds} runs each, each the first after dropping the page cache; ratio to armor-hook's warm median`);
}
