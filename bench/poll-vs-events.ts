/**
 * Polling vs events, measured with real busybox containers under runc (private
 * `--root`): the agent in events mode (armor-hook at createRuntime/poststop) and
 * as the polling baseline (`serve --mode poll`, 50 ms and 500 ms). Reports the
 * monitoring gap, short-lived containers polling never sees, the start delay the
 * hook adds, agent CPU idle and under churn, and registration throughput; writes
 * bench/results/poll-vs-events.{svg,json}. bench/README.md has the method.
 *
 *   bun run bench                                   # ~3–4 minutes
 *   bun run bench/poll-vs-events.ts --quick         # ~1 minute, fewer samples
 */
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { reapOrphans, setSubreaper } from "../tests/e2e/reaper.ts";
import { BenchAgent, modeName, type Mode } from "./_agent.ts";
import { realtimeOffsetNs } from "./_clock.ts";
import { ecdfSvg } from "./_plot.ts";
import { eventsProof, load1, machine, printReport, type ModeResult, type Report } from "./_report.ts";
import { RuncLab } from "./_runc.ts";
import { shuffle, summarize } from "./_stats.ts";

const ROOT = resolve(import.meta.dir, "..");
const { values } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    "idle-s": { type: "string" },
    "churn-s": { type: "string" },
    rate: { type: "string", default: "2" },
    short: { type: "string" },
    pairs: { type: "string" },
    throughput: { type: "string" },
    concurrency: { type: "string", default: "4" },
    background: { type: "string", default: "10" },
    agent: { type: "string", default: join(ROOT, "dist/armor-agent") },
    hook: { type: "string", default: join(ROOT, "dist/armor-hook") },
    out: { type: "string", default: join(ROOT, "bench/results") },
    json: { type: "boolean", default: false },
  },
});
const quick = values.quick;
const num = (raw: string | undefined, full: number, short: number): number => (raw === undefined ? (quick ? short : full) : Number(raw));
const cfg = {
  idleS: num(values["idle-s"], 20, 5),
  churnS: num(values["churn-s"], 20, 5),
  rate: Number(values.rate),
  short: num(values.short, 30, 10),
  pairs: num(values.pairs, 20, 8),
  throughput: num(values.throughput, 40, 16),
  concurrency: Number(values.concurrency),
  background: Number(values.background),
};
const MODES: Mode[] = [{ kind: "events" }, { kind: "poll", intervalMs: 50 }, { kind: "poll", intervalMs: 500 }];
const SHORT_LIVES_S = [0.01, 0.1];

const dir = mkdtempSync(join(tmpdir(), "armor-bench-poll-"));
const lab = await RuncLab.create(dir);
const offsetNs = realtimeOffsetNs();
const agents = new Set<BenchAgent>();
let serial = 0;

const hookEntry = (stage: string, socket: string): unknown => ({
  path: values.hook,
  args: ["armor-hook", stage, "--socket", socket, "--timeout-ms", "2000"],
  env: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],
  timeout: 10,
});
const hooksFor = (agent: BenchAgent, mode: Mode) =>
  mode.kind === "events" ? { createRuntime: [hookEntry("createRuntime", agent.socket)], poststop: [hookEntry("poststop", agent.socket)] } : undefined;

let stopping = false;
async function startAgent(mode: Mode): Promise<BenchAgent> {
  if (stopping) throw new Error("stopping: no new agents");
  const agent = await BenchAgent.start(values.agent, join(dir, `agent-${serial++}`, "armor.sock"), mode, lab.root);
  agents.add(agent);
  // A signal may have arrived while it started: cleanup has already stopped the others.
  if (stopping) await stopAgent(agent);
  return agent;
}
async function stopAgent(agent: BenchAgent): Promise<void> {
  agents.delete(agent);
  await agent.stop();
}

/** Upper bound of held − started (ms): `registeredAt` has ms resolution, so held ≤ registeredAt + 1 ms. */
async function gapMs(agent: BenchAgent, id: string): Promise<number | undefined> {
  const held = agent.firstAdd.get(id);
  const [started] = await lab.stamps(id);
  if (!held || started === undefined) return undefined;
  const heldNs = BigInt(Date.parse(held.registeredAt) + 1) * 1_000_000n;
  return Number(heldNs - (started + offsetNs)) / 1e6;
}

/** Runs container `id` to its end; a failed `runc run` would pass for a container polling missed, so it stops the bench. */
async function runOk(id: string, bundle: string): Promise<void> {
  const ran = await lab.run(id, bundle);
  if (ran.code !== 0) throw new Error(`${id}: runc run exited ${ran.code}`);
}

/** Runs `ids` through `run` with at most `limit` at once. */
async function pool(ids: string[], limit: number, run: (id: string) => Promise<unknown>): Promise<void> {
  const queue = [...ids];
  await Promise.all(
    Array.from({ length: limit }, async () => {
      for (let id = queue.shift(); id !== undefined; id = queue.shift()) await run(id);
    }),
  );
}

/** Idle and churn CPU, the gap of churn containers, short-lived containers seen, for one mode. */
async function measureMode(mode: Mode, tag: string): Promise<ModeResult> {
  const agent = await startAgent(mode);
  const hooks = hooksFor(agent, mode);
  const bg = Array.from({ length: cfg.background }, (_, i) => `${tag}-bg-${i}`);
  const bgRuns = bg.map((id) => lab.start(id, lab.bundle(id, 3600, hooks)).done);
  if (!(await agent.until(async () => (await agent.held()) >= bg.length, 30_000))) throw new Error(`${tag}: background containers not held`);
  await Bun.sleep(1000);
  let cpu = await agent.cpu();
  let t = performance.now();
  await Bun.sleep(cfg.idleS * 1000);
  const idleCpuPerMin = ((await agent.cpu()) - cpu) / ((performance.now() - t) / 60_000);

  cpu = await agent.cpu();
  t = performance.now();
  const churn: string[] = [];
  const churnRuns: Array<Promise<unknown>> = [];
  for (let i = 0; i < cfg.rate * cfg.churnS; i++) {
    await Bun.sleep(Math.max(0, t + (i * 1000) / cfg.rate - performance.now()));
    const id = `${tag}-churn-${i}`;
    churn.push(id);
    churnRuns.push(runOk(id, lab.bundle(id, 1, hooks)));
  }
  await Promise.all(churnRuns);
  await agent.until(async () => (await agent.held()) === bg.length, 5000);
  const churnCpuPerMin = ((await agent.cpu()) - cpu) / ((performance.now() - t) / 60_000);
  const gaps: number[] = [];
  for (const id of churn) {
    const gap = await gapMs(agent, id);
    if (gap !== undefined) gaps.push(gap);
  }

  const short: ModeResult["short"] = [];
  for (const lifeS of SHORT_LIVES_S) {
    const ids = Array.from({ length: cfg.short }, (_, i) => `${tag}-short${lifeS * 1000}-${i}`);
    for (const id of ids) {
      await runOk(id, lab.bundle(id, lifeS, hooks));
      await Bun.sleep(Math.random() * 100);
    }
    await Bun.sleep(mode.kind === "poll" ? 2 * mode.intervalMs + 200 : 200);
    const lives: number[] = [];
    const shortGaps: number[] = [];
    for (const id of ids) {
      const [start, end] = await lab.stamps(id);
      if (start !== undefined && end !== undefined) lives.push(Number(end - start) / 1e6);
      const gap = await gapMs(agent, id);
      if (gap !== undefined) shortGaps.push(gap);
    }
    short.push({
      nominalMs: lifeS * 1000,
      livedMs: summarize(lives).median,
      runs: ids.length,
      seen: ids.filter((id) => agent.firstAdd.has(id)).length,
      gaps: shortGaps,
    });
  }
  for (const id of bg) lab.kill(id);
  await Promise.all(bgRuns);
  await stopAgent(agent);
  return { mode: modeName(mode), idleCpuPerMin, churnCpuPerMin, churnRuns: churn.length, churnSeen: gaps.length, gaps, short };
}

/** `runc run` without hooks, with a `/bin/true` hook (the floor) and with armor-hook, interleaved; and containers/s through the hook. */
async function measureHookCost(): Promise<Report["delay"] & { throughput: Report["throughput"] }> {
  const agent = await startAgent({ kind: "events" });
  const env = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"];
  const kinds = {
    none: undefined,
    true: { createRuntime: [{ path: "/bin/true", env }], poststop: [{ path: "/bin/true", env }] },
    hook: hooksFor(agent, { kind: "events" }),
  };
  type Kind = keyof typeof kinds;
  const series = new Map<Kind, { wall: number[]; start: number[] }>(Object.keys(kinds).map((k) => [k as Kind, { wall: [], start: [] }]));
  const order = shuffle(Array.from({ length: 3 * cfg.pairs }, (_, i) => (["none", "true", "hook"] as const)[i % 3] as Kind));
  for (const [i, kind] of order.entries()) {
    const id = `delay-${kind}-${i}`;
    const ran = await lab.run(id, lab.bundle(id, 0, kinds[kind]));
    const [started] = await lab.stamps(id);
    if (ran.code !== 0 || started === undefined) throw new Error(`${id}: runc run exited ${ran.code}`);
    series.get(kind)?.wall.push(ran.wallMs);
    series.get(kind)?.start.push(Number(started - ran.spawnedAtNs) / 1e6);
  }
  const rates: Report["throughput"] = [];
  for (const kind of ["none", "hook"] as const) {
    const ids = Array.from({ length: cfg.throughput }, (_, i) => `tp-${kind}-${i}`);
    for (const id of ids) lab.bundle(id, 0, kinds[kind]);
    const cpu = await agent.cpu();
    const t = performance.now();
    await pool(ids, cfg.concurrency, (id) => runOk(id, join(dir, "bundles", id)));
    const seconds = (performance.now() - t) / 1000;
    await agent.until(() => ids.every((id) => kind === "none" || agent.removed.has(id)), 5000);
    const registered = ids.filter((id) => agent.firstAdd.has(id)).length;
    rates.push({
      hook: kind === "hook",
      containers: ids.length,
      perSecond: ids.length / seconds,
      registered,
      agentCpuMsEach: (((await agent.cpu()) - cpu) * 1000) / ids.length,
    });
  }
  const eventsDelay = (await Promise.all(order.map((kind, i) => (kind === "hook" ? gapMs(agent, `delay-hook-${i}`) : undefined)))).filter(
    (g): g is number => g !== undefined,
  );
  await stopAgent(agent);
  const stats = (kind: Kind) => ({ wall: summarize(series.get(kind)?.wall ?? []), start: summarize(series.get(kind)?.start ?? []) });
  return { none: stats("none"), trueHook: stats("true"), hook: stats("hook"), gaps: eventsDelay, throughput: rates };
}

/** Stops agents and containers, removes the temp dir, reaps orphans; once, on any exit path. */
let cleaned: Promise<void> | undefined;
const cleanup = (): Promise<void> =>
  (cleaned ??= (async () => {
    stopping = true;
    for (const agent of agents) await agent.stop();
    await lab.cleanup();
    rmSync(dir, { recursive: true, force: true });
    await reapOrphans();
    setSubreaper(false);
  })());
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    console.error(`${signal}: cleaning up`);
    void cleanup().finally(() => process.exit(130));
  });
}

setSubreaper(true);
let report: Report;
try {
  const started = performance.now();
  const loadBefore = load1();
  const hookCost = await measureHookCost();
  const modes: ModeResult[] = [];
  for (const [i, mode] of MODES.entries()) modes.push(await measureMode(mode, `m${i}`));
  const { throughput, ...delay } = hookCost;
  report = { machine: machine(), config: cfg, delay, modes, throughput, seconds: (performance.now() - started) / 1000, load: [loadBefore, load1()] };
} finally {
  await cleanup();
}

mkdirSync(values.out, { recursive: true });
const colors = ["#1b7f3b", "#d95f02", "#7570b3"];
const svg = ecdfSvg(
  "Monitoring gap: agent holds the container − container's process starts",
  "gap (ms, upper bound); left of 0 = held before the process started",
  report.modes.map((m, i) => ({ label: m.mode, color: colors[i] ?? "#000", values: m.gaps })),
  `${report.config.rate} containers/s for ${report.config.churnS} s, each living 1 s, ${report.config.background} more running; ${report.machine.summary}`,
);
writeFileSync(join(values.out, "poll-vs-events.svg"), svg);
writeFileSync(join(values.out, "poll-vs-events.json"), `${JSON.stringify(report, null, 2)}\n`);
if (values.json) console.log(JSON.stringify(report, null, 2));
else printReport(report);
const proof = eventsProof(report);
if (proof.negative !== proof.containers) {
  console.error(`events: ${proof.containers - proof.negative} container(s) were not held before their process started`);
  process.exit(1);
}
