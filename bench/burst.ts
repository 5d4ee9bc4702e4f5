/**
 * A burst of hook invocations at once: N concurrent `armor-hook createRuntime`
 * processes against one real agent, then N concurrent `poststop`. Reports the
 * per-process latency (spawn to exit) p50/p99/max, lost registrations (a non-zero
 * exit, a fail-open warning, or a container the agent does not hold), and the
 * agent's RSS before and after.
 *
 *   bun run bench:burst [--count 500] [--timeout-ms 2000] [--json]
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";

const ROOT = resolve(import.meta.dir, "..");
const HOOK = join(ROOT, "dist/armor-hook");
const AGENT = join(ROOT, "dist/armor-agent");

const { values } = parseArgs({
  options: { count: { type: "string", default: "500" }, "timeout-ms": { type: "string", default: "2000" }, json: { type: "boolean", default: false } },
});
const count = Number(values.count);
const timeoutMs = values["timeout-ms"];

/** VmRSS and VmHWM of a process, in MiB. */
function memory(pid: number): { rssMiB: number; peakMiB: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kib = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? Number.NaN);
  return { rssMiB: kib("VmRSS") / 1024, peakMiB: kib("VmHWM") / 1024 };
}

const percentile = (sorted: number[], p: number): number => sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)] ?? Number.NaN;

interface Wave {
  stage: string;
  p50: number;
  p99: number;
  max: number;
  wallMs: number;
  failed: number;
  warned: number;
}

/** Starts `count` hooks at once for `stage`; resolves when all have exited. */
async function wave(stage: "createRuntime" | "poststop", socket: string, bundle: string, pid: number): Promise<Wave> {
  const started = performance.now();
  const runs = Array.from({ length: count }, async (_, i) => {
    const state = JSON.stringify({ ociVersion: "1.2.0", id: `burst-${i}`, status: stage === "poststop" ? "stopped" : "created", pid, bundle });
    const t0 = performance.now();
    const proc = Bun.spawn([HOOK, stage, "--socket", socket, "--timeout-ms", timeoutMs], {
      stdin: new TextEncoder().encode(state),
      stdout: "ignore",
      stderr: "pipe",
      env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" },
    });
    const [code, stderr] = await Promise.all([proc.exited, new Response(proc.stderr).text()]);
    return { ms: performance.now() - t0, code, stderr };
  });
  const results = await Promise.all(runs);
  const wallMs = performance.now() - started;
  const sorted = results.map((r) => r.ms).sort((a, b) => a - b);
  return {
    stage,
    p50: percentile(sorted, 0.5),
    p99: percentile(sorted, 0.99),
    max: sorted.at(-1) ?? Number.NaN,
    wallMs,
    failed: results.filter((r) => r.code !== 0).length,
    warned: results.filter((r) => r.stderr !== "").length,
  };
}

async function held(socket: string): Promise<number> {
  const proc = Bun.spawn([AGENT, "list", "--json", "--socket", socket], { stdout: "pipe", stderr: "ignore" });
  const text = await new Response(proc.stdout).text();
  await proc.exited;
  return (JSON.parse(text) as unknown[]).length;
}

const dir = mkdtempSync(join(tmpdir(), "armor-burst-"));
const socket = join(dir, "run", "armor.sock");
const bundle = join(dir, "bundle");
mkdirSync(bundle);
writeFileSync(
  join(bundle, "config.json"),
  JSON.stringify({ process: { args: ["sleep"] }, annotations: { "io.kubernetes.pod.name": "b", "io.kubernetes.pod.namespace": "default" } }),
);
const agent = Bun.spawn([AGENT, "serve", "--socket", socket, "--log-level", "error"], { stdin: "ignore", stdout: "ignore", stderr: "inherit" });
const sleeper = Bun.spawn(["sleep", "600"], { stdin: "ignore", stdout: "ignore", stderr: "ignore" });
try {
  for (let i = 0; i < 500 && !(await Bun.file(socket).exists()); i++) await Bun.sleep(10);
  const before = memory(agent.pid);
  const add = await wave("createRuntime", socket, bundle, sleeper.pid);
  const heldAfterAdd = await held(socket);
  const afterAdd = memory(agent.pid);
  const remove = await wave("poststop", socket, bundle, sleeper.pid);
  const heldAfterRemove = await held(socket);
  const after = memory(agent.pid);
  const report = {
    count,
    timeoutMs: Number(timeoutMs),
    waves: [add, remove],
    heldAfterAdd,
    heldAfterRemove,
    lost: count - heldAfterAdd + heldAfterRemove,
    agent: { before, afterAdd, after },
  };
  if (values.json) console.log(JSON.stringify(report, null, 2));
  else {
    console.log(`${count} concurrent hook processes against one agent (--timeout-ms ${timeoutMs})`);
    console.log("| stage | p50 | p99 | max | whole burst | non-zero exits | warnings |");
    console.log("|---|---|---|---|---|---|---|");
    for (const w of [add, remove])
      console.log(
        `| ${w.stage} | ${w.p50.toFixed(0)} ms | ${w.p99.toFixed(0)} ms | ${w.max.toFixed(0)} ms | ${w.wallMs.toFixed(0)} ms | ${w.failed} | ${w.warned} |`,
      );
    console.log(`held after the createRuntime burst: ${heldAfterAdd}/${count}; after the poststop burst: ${heldAfterRemove}`);
    console.log(
      `agent RSS: ${before.rssMiB.toFixed(1)} MiB idle, ${afterAdd.rssMiB.toFixed(1)} MiB holding ${heldAfterAdd}, ${after.rssMiB.toFixed(1)} MiB after; peak ${after.peakMiB.toFixed(1)} MiB`,
    );
  }
  if (report.lost !== 0 || add.failed + remove.failed + add.warned + remove.warned !== 0) process.exitCode = 1;
} finally {
  agent.kill("SIGTERM");
  sleeper.kill();
  await Promise.all([agent.exited, sleeper.exited]);
  rmSync(dir, { recursive: true, force: true });
}
