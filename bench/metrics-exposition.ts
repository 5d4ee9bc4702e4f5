/**
 * `bun run bench:metrics`: the agent's hand-written Prometheus exposition (lib/agent/metrics.ts)
 * against npm's prom-client, each in a compiled binary built with the agent's flags: the bytes
 * each adds to an empty binary, the time to render one scrape of the same families (every label
 * set the agent pre-initialises, values from a busy node), and the memory after. One run, ratios
 * within it (README, "Metrics").
 */
import { $ } from "bun";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { COMPILE_FLAGS } from "../scripts/build.ts";

const ROOT = resolve(import.meta.dir, "..");
const RENDERS = Number(process.argv[process.argv.indexOf("--renders") + 1]) || 2000;

/** Times `render` (after a warm-up) and prints {medianUs, p95Us, bytes, rssMiB} — shared by both entries. */
const TIMER = `
function measure(render) {
  for (let i = 0; i < 200; i++) render();
  const times = [];
  let bytes = 0;
  for (let i = 0; i < ${RENDERS}; i++) {
    const t = performance.now();
    bytes = render().length;
    times.push((performance.now() - t) * 1000);
  }
  times.sort((a, b) => a - b);
  console.log(JSON.stringify({ medianUs: times[times.length >> 1], p95Us: times[Math.floor(times.length * 0.95)], bytes, rssMiB: process.memoryUsage.rss() / 1048576 }));
}`;

const OURS = `
import { Metrics } from ${JSON.stringify(join(ROOT, "lib/agent/metrics.ts"))};
${TIMER}
const m = new Metrics(undefined, { version: "0.1.0", bun: Bun.version });
for (let i = 0; i < 500; i++) { m.registryChange("add", "hook"); m.request("register", true, 0.0004); m.hookCall("createRuntime", "registered", 0.04); }
for (let i = 0; i < 300; i++) { m.registryChange("remove", "hook"); m.request("unregister", true, 0.0002); m.hookCall("poststop", "unregistered", 0.03); }
m.error("E_NOT_FOUND", "x"); m.dropped("idle");
measure(() => m.render({ containers: 200, registryBytes: 400000, ready: true, bootstrapDurationSeconds: 0.2, spoolDepth: 0, bootstrapIncomplete: false }));
`;

/** The same families, label sets and values with prom-client. */
const PROM = `
import * as client from ${JSON.stringify(join(ROOT, "node_modules/prom-client/index.js"))};
${TIMER}
const r = new client.Registry();
const g = (name, help, labelNames = []) => new client.Gauge({ name, help, labelNames, registers: [r] });
const c = (name, help, labelNames, sets) => { const m = new client.Counter({ name, help, labelNames, registers: [r] }); for (const s of sets) labelNames.length ? m.labels(s).inc(0) : m.inc(0); return m; };
const product = (o) => Object.entries(o).reduce((acc, [k, vs]) => acc.flatMap((s) => vs.map((v) => ({ ...s, [k]: v }))), [{}]);
g("armor_build_info", "info", ["version", "bun"]).labels({ version: "0.1.0", bun: Bun.version }).set(1);
for (const n of ["armor_containers", "armor_registry_bytes", "armor_ready", "armor_bootstrap_duration_seconds", "armor_bootstrap_incomplete", "armor_spool_depth"]) g(n, n).set(1);
const sources = ["hook", "bootstrap", "poll"];
const ops = ["ping", "register", "unregister", "list", "get", "lookup", "watch", "status", "bootstrap-begin", "bootstrap-end"];
const reg = c("armor_registrations_total", "h", ["source"], product({ source: sources }));
const rem = c("armor_removals_total", "h", ["source"], product({ source: sources }));
const req = c("armor_requests_total", "h", ["op", "result"], product({ op: ops, result: ["ok", "error"] }));
c("armor_errors_total", "h", ["code"], product({ code: ["E_INTERNAL", "E_BUSY", "E_REGISTRY_FULL", "E_DEADLINE", "E_SOCKET"] }));
const cli = c("armor_client_errors_total", "h", ["code"], product({ code: ["E_NOT_FOUND", "E_INVALID_REQUEST", "E_VERSION", "E_FRAME_TOO_LARGE", "E_PROTOCOL"] }));
const drop = c("armor_clients_dropped_total", "h", ["reason"], product({ reason: ["busy", "idle", "stalled-frame", "framing", "slow-reader", "output-budget", "evicted-new"] }));
for (const n of ["armor_settle_found_total", "armor_registry_full_total", "armor_proc_denied_total"]) c(n, "h", [], [{}]);
const calls = c("armor_hook_calls_total", "h", ["stage", "result"], product({ stage: ["createRuntime", "poststop"], result: ["registered", "unregistered"] }));
const lat = new client.Histogram({ name: "armor_registration_seconds", help: "h", buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1], registers: [r] });
const dur = new client.Histogram({ name: "armor_hook_duration_seconds", help: "h", labelNames: ["stage"], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], registers: [r] });
for (const stage of ["createRuntime", "poststop"]) dur.zero({ stage });
for (let i = 0; i < 500; i++) { reg.labels({ source: "hook" }).inc(); req.labels({ op: "register", result: "ok" }).inc(); lat.observe(0.0004); calls.labels({ stage: "createRuntime", result: "registered" }).inc(); dur.labels({ stage: "createRuntime" }).observe(0.04); }
for (let i = 0; i < 300; i++) { rem.labels({ source: "hook" }).inc(); req.labels({ op: "unregister", result: "ok" }).inc(); calls.labels({ stage: "poststop", result: "unregistered" }).inc(); dur.labels({ stage: "poststop" }).observe(0.03); }
cli.labels({ code: "E_NOT_FOUND" }).inc(); drop.labels({ reason: "idle" }).inc();
// prom-client's metrics() is async (collect callbacks may be); the agent would await it per scrape.
const texts = [];
async function run() {
  for (let i = 0; i < 200; i++) await r.metrics();
  const times = []; let bytes = 0;
  for (let i = 0; i < ${RENDERS}; i++) { const t = performance.now(); bytes = (await r.metrics()).length; times.push((performance.now() - t) * 1000); }
  times.sort((a, b) => a - b);
  console.log(JSON.stringify({ medianUs: times[times.length >> 1], p95Us: times[Math.floor(times.length * 0.95)], bytes, rssMiB: process.memoryUsage.rss() / 1048576 }));
}
await run();
`;

const EMPTY = `console.log(JSON.stringify({ medianUs: 0, p95Us: 0, bytes: 0, rssMiB: process.memoryUsage.rss() / 1048576 }));`;

interface Figures {
  medianUs: number;
  p95Us: number;
  bytes: number;
  rssMiB: number;
}

const work = mkdtempSync(join(ROOT, "bench", ".metrics-"));
try {
  const results: Record<string, Figures & { binaryBytes: number }> = {};
  for (const [name, source] of [
    ["empty", EMPTY],
    ["hand-written", OURS],
    ["prom-client", PROM],
  ] as const) {
    const entry = join(work, `${name}.ts`);
    const out = join(work, name);
    writeFileSync(entry, source);
    await $`bun build ${entry} ${COMPILE_FLAGS} --outfile ${out}`.quiet();
    const figures = JSON.parse(await $`${out}`.text()) as Figures;
    results[name] = { ...figures, binaryBytes: statSync(out).size };
  }
  const empty = results.empty!;
  const ours = results["hand-written"]!;
  console.log("| exposition | adds to an empty binary | one scrape, median | p95 | scrape size | RSS after |");
  console.log("|---|---|---|---|---|---|");
  for (const name of ["hand-written", "prom-client"]) {
    const r = results[name]!;
    const added = ((r.binaryBytes - empty.binaryBytes) / 1024).toFixed(0);
    console.log(
      `| ${name} | ${added} KiB | ${r.medianUs.toFixed(1)} µs (${(r.medianUs / ours.medianUs).toFixed(2)}x) | ${r.p95Us.toFixed(1)} µs | ${r.bytes} B | ${r.rssMiB.toFixed(1)} MiB (empty ${empty.rssMiB.toFixed(1)}) |`,
    );
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
