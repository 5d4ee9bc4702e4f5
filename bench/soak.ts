/**
 * The soak: real runc busybox containers with armor-hook at createRuntime/poststop,
 * started at a steady rate for minutes, against one agent that is under every
 * pressure issue 10 names at once — 20 watchers (half never read: each one the
 * agent drops is replaced), a metrics scraper, another user (uid 65534) holding
 * 1,000 connections to the metrics port and renewing them every 5 s, and a client
 * trickling one byte every 3 s into the socket (replaced when dropped).
 *
 * Prints containers lost (ran, but the agent never held them), ghosts (held after
 * they ended), hooks past their deadline or unconfirmed (from the hook's own log),
 * reading watchers dropped, scrapes answered and the agent's peak RSS; exits 1 if
 * any is off (the RSS bound is the DaemonSet's 512 Mi).
 *
 *   bun run bench:soak [--minutes 10] [--rate 5] [--json]
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import type { Socket } from "bun";
import { AgentClient } from "../lib/client.ts";
import { encodeFrame } from "../lib/wire/frame.ts";
import { freePort, spawnAsNobody } from "../tests/e2e/support.ts";
import { BenchAgent } from "./_agent.ts";
import { RuncLab, type Ran } from "./_runc.ts";

const ROOT = resolve(import.meta.dir, "..");
const HOOK = join(ROOT, "dist/armor-hook");
const AGENT = join(ROOT, "dist/armor-agent");

const { values } = parseArgs({
  options: {
    minutes: { type: "string", default: "10" },
    rate: { type: "string", default: "5" },
    json: { type: "boolean", default: false },
  },
});
const minutes = Number(values.minutes);
const rate = Number(values.rate);
if (!(minutes > 0) || !(rate > 0)) throw new Error("--minutes and --rate must be positive numbers");

const TIMEOUT_MS = 2000;
const LIFE_S = 1;
const READERS = 10;
const NON_READERS = 10;
const FLOOD_CONNECTIONS = 1000;
const RSS_BOUND_MIB = 512;

const dir = mkdtempSync(join(tmpdir(), "armor-soak-"));
const socket = join(dir, "run", "armor.sock");
mkdirSync(join(dir, "run"), { mode: 0o700 });
const lab = await RuncLab.create(dir);

const metricsPort = freePort();
const agent = await BenchAgent.start(AGENT, socket, { kind: "events" }, lab.root, ["--metrics", `127.0.0.1:${metricsPort}`]);

let stopping = false;
const stats = {
  started: 0,
  ranOk: 0,
  runcFailed: 0,
  readersDropped: 0,
  nonReadersDropped: 0,
  tricklersDropped: 0,
  scrapes: 0,
  scrapesOk: 0,
  rssMaxMiB: 0,
  maxConcurrent: 0,
  floodHeldMax: 0,
  agentFdsMax: 0,
};

function rssMiB(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kib = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? Number.NaN);
  return { rss: kib("VmRSS") / 1024, peak: kib("VmHWM") / 1024 };
}

// Watchers that read everything: none of them may ever be dropped.
const readers: AgentClient[] = [];
for (let i = 0; i < READERS - 1; i++) {
  const reader = await AgentClient.connect({ socket, timeoutMs: 5000, maxFrameBytes: 64 * 1024 * 1024 });
  reader.listen(
    () => {},
    () => {
      if (!stopping) stats.readersDropped += 1;
    },
  );
  await reader.request({ op: "watch" });
  readers.push(reader);
}

/** A watcher that subscribes and never reads again; replaced a second after the agent drops it. */
async function nonReader(): Promise<void> {
  if (stopping) return;
  const conn = await Bun.connect({
    unix: socket,
    socket: {
      data() {},
      close() {
        if (stopping) return;
        stats.nonReadersDropped += 1;
        setTimeout(() => void nonReader(), 1000);
      },
    },
  });
  conn.write(encodeFrame({ v: 1, id: 1, op: "watch" }));
  setTimeout(() => conn.pause(), 50);
  sockets.push(conn);
}
const sockets: Socket<undefined>[] = [];
for (let i = 0; i < NON_READERS; i++) await nonReader();

/** A client that trickles a ping frame one byte every 3 s; replaced when dropped. */
async function trickler(): Promise<void> {
  if (stopping) return;
  let timer: ReturnType<typeof setInterval> | undefined;
  const conn = await Bun.connect({
    unix: socket,
    socket: {
      data() {},
      close() {
        clearInterval(timer);
        if (stopping) return;
        stats.tricklersDropped += 1;
        setTimeout(() => void trickler(), 100);
      },
    },
  });
  const frame = encodeFrame({ v: 1, id: 1, op: "ping" });
  let at = 0;
  const drip = () => {
    if (at < frame.length) conn.write(frame.subarray(at, ++at));
  };
  drip();
  timer = setInterval(drip, 3000);
  sockets.push(conn);
}
await trickler();

// Another user holds 1,000 connections to the metrics port, renewing them every 5 s.
const flood = spawnAsNobody(
  `ulimit -n 4096; while :; do fds=(); for i in $(seq ${FLOOD_CONNECTIONS}); do exec {fd}<>/dev/tcp/127.0.0.1/${metricsPort} 2>/dev/null && fds+=($fd); done; sleep 5; for fd in "\${fds[@]}"; do exec {fd}>&-; done; done`,
  "ignore",
);

const scraper = setInterval(() => {
  stats.scrapes += 1;
  void fetch(`http://127.0.0.1:${metricsPort}/metrics`, { signal: AbortSignal.timeout(2000) })
    .then(async (response) => {
      if (response.status === 200 && (await response.text()).includes("armor_containers")) stats.scrapesOk += 1;
    })
    .catch(() => undefined);
}, 1000);

/** Open descriptors of a process (0 once it is gone). */
function descriptors(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return 0;
  }
}

const sampler = setInterval(() => {
  stats.rssMaxMiB = Math.max(stats.rssMaxMiB, rssMiB(agent.pid).rss);
  stats.floodHeldMax = Math.max(stats.floodHeldMax, descriptors(flood.pid));
  stats.agentFdsMax = Math.max(stats.agentFdsMax, descriptors(agent.pid));
}, 1000);

const hookEntry = (stage: string): unknown => ({
  path: HOOK,
  args: ["armor-hook", stage, "--socket", socket, "--timeout-ms", String(TIMEOUT_MS), "--log-max-bytes", String(256 * 1024 * 1024)],
  env: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],
  timeout: 10,
});
const hooks = { createRuntime: [hookEntry("createRuntime")], poststop: [hookEntry("poststop")] };

// The churn: one container every 1/rate s, each living LIFE_S, for `minutes`.
const runs: Promise<Ran>[] = [];
const ranOk = new Set<string>();
let running = 0;
const t0 = performance.now();
const total = Math.round(minutes * 60 * rate);
for (let n = 0; n < total; n++) {
  const due = t0 + (n * 1000) / rate;
  const wait = due - performance.now();
  if (wait > 0) await Bun.sleep(wait);
  const id = `soak-${n}`;
  stats.started += 1;
  running += 1;
  stats.maxConcurrent = Math.max(stats.maxConcurrent, running);
  const bundle = lab.bundle(id, LIFE_S, hooks);
  runs.push(
    lab.run(id, bundle).then((ran) => {
      running -= 1;
      if (ran.code === 0) ranOk.add(id);
      else stats.runcFailed += 1;
      rmSync(bundle, { recursive: true, force: true });
      return ran;
    }),
  );
  if (n % Math.round(60 * rate) === 0 && n > 0 && !values.json) {
    console.error(`soak: ${n}/${total} started, ${running} running, agent RSS ${rssMiB(agent.pid).rss.toFixed(1)} MiB`);
  }
}
await Promise.all(runs);
const churnS = (performance.now() - t0) / 1000;
stats.ranOk = ranOk.size;
// The last poststops' removals reach the watcher within milliseconds; give it a moment.
await agent.until(() => [...ranOk].every((id) => agent.removed.has(id)), 10_000);

const lost = [...ranOk].filter((id) => !agent.firstAdd.has(id));
const ghosts = await agent.held();
const hookLog = Bun.spawnSync([AGENT, "hook-log", "--json", "--socket", socket], { stdout: "pipe", stderr: "ignore" });
const records = hookLog.stdout
  .toString()
  .split("\n")
  .filter((line) => line !== "")
  .map((line) => JSON.parse(line) as { result: string; ms: number; stage: string; container?: string });
const soakRecords = records.filter((r) => r.container?.startsWith("soak-"));
const pastDeadline = soakRecords.filter((r) => r.ms > TIMEOUT_MS).length;
const notConfirmed = soakRecords.filter((r) => r.result !== "registered" && r.result !== "unregistered").length;
const hookMs = soakRecords.map((r) => r.ms).sort((a, b) => a - b);
const pct = (p: number): number => hookMs[Math.max(0, Math.ceil(p * hookMs.length) - 1)] ?? Number.NaN;
const memory = rssMiB(agent.pid);
stats.rssMaxMiB = Math.max(stats.rssMaxMiB, memory.rss);

stopping = true;
clearInterval(scraper);
clearInterval(sampler);
flood.kill("SIGKILL");
for (const conn of sockets) conn.terminate();
for (const reader of readers) reader.close();
await agent.stop();
await flood.exited;
await lab.cleanup();
rmSync(dir, { recursive: true, force: true });

const report = {
  minutes,
  rate,
  churnSeconds: Math.round(churnS),
  containers: { started: stats.started, ran: stats.ranOk, runcFailed: stats.runcFailed, maxConcurrent: stats.maxConcurrent },
  lost: lost.length,
  ghosts,
  hooks: {
    records: soakRecords.length,
    expected: 2 * stats.ranOk,
    pastDeadline,
    notConfirmed,
    p50Ms: pct(0.5),
    p99Ms: pct(0.99),
    maxMs: hookMs.at(-1) ?? Number.NaN,
  },
  watchers: { readers: READERS, readersDropped: stats.readersDropped, nonReaders: NON_READERS, nonReadersDropped: stats.nonReadersDropped },
  tricklersDropped: stats.tricklersDropped,
  scrapes: { sent: stats.scrapes, ok: stats.scrapesOk },
  floodDescriptorsMax: stats.floodHeldMax,
  agentDescriptorsMax: stats.agentFdsMax,
  agentRssMiB: { max: Number(stats.rssMaxMiB.toFixed(1)), peak: Number(memory.peak.toFixed(1)), bound: RSS_BOUND_MIB },
};
const ok =
  report.lost === 0 &&
  report.ghosts === 0 &&
  pastDeadline === 0 &&
  notConfirmed === 0 &&
  soakRecords.length === 2 * stats.ranOk &&
  stats.runcFailed === 0 &&
  stats.readersDropped === 0 &&
  memory.peak <= RSS_BOUND_MIB;
if (values.json) console.log(JSON.stringify({ ...report, ok }, null, 2));
else {
  console.log(
    `soak: ${minutes} min of ${rate} containers/s (runc, busybox, ${LIFE_S} s each) with ${READERS} reading and ${NON_READERS} non-reading watchers,`,
  );
  console.log(`a metrics scraper, uid 65534 holding ${FLOOD_CONNECTIONS} metrics connections, and a trickling client`);
  console.log("| measure | value |");
  console.log("|---|---|");
  console.log(
    `| containers started / ran / runc failures | ${stats.started} / ${stats.ranOk} / ${stats.runcFailed} (at most ${stats.maxConcurrent} at once) |`,
  );
  console.log(`| lost (ran, never held) | ${report.lost} |`);
  console.log(`| ghosts (held after they ended) | ${ghosts} |`);
  console.log(`| hook calls logged / expected | ${soakRecords.length} / ${2 * stats.ranOk} |`);
  console.log(`| hooks past their ${TIMEOUT_MS} ms deadline / not confirmed | ${pastDeadline} / ${notConfirmed} |`);
  console.log(`| hook duration p50 / p99 / max | ${pct(0.5).toFixed(1)} / ${pct(0.99).toFixed(1)} / ${(hookMs.at(-1) ?? Number.NaN).toFixed(1)} ms |`);
  console.log(`| reading watchers dropped | ${stats.readersDropped} of ${READERS} |`);
  console.log(`| non-reading watchers dropped (each replaced) | ${stats.nonReadersDropped} |`);
  console.log(`| trickling clients dropped (each replaced) | ${stats.tricklersDropped} |`);
  console.log(`| scrapes answered | ${stats.scrapesOk} / ${stats.scrapes} |`);
  console.log(`| flood's open descriptors (max) / agent's (max) | ${stats.floodHeldMax} / ${stats.agentFdsMax} |`);
  console.log(`| agent RSS max (sampled 1/s) / peak (VmHWM) | ${report.agentRssMiB.max} / ${report.agentRssMiB.peak} MiB (bound ${RSS_BOUND_MIB}) |`);
  console.log(ok ? "soak: OK" : "soak: FAILED");
}
process.exit(ok ? 0 : 1);
