/**
 * Time from the agent's socket coming up to `ready`, with 100 and 1,000
 * pre-existing containers. The state root is faked with real runc-format
 * state.json files whose pids are live `sleep` processes in fresh pid, mount,
 * uts and ipc namespaces (made with unshare), so the fork and the agent read
 * /proc, the bundle and the state exactly as on a node.
 *
 *   bun run bench:bootstrap [--sizes 100,1000] [--runs 3] [--json]
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import type { Subprocess } from "bun";
import { reapOrphans, setSubreaper } from "../tests/e2e/reaper.ts";
import { summarize, type Summary } from "./_stats.ts";

const ROOT = resolve(import.meta.dir, "..");
const HOOK = join(ROOT, "dist/armor-hook");
const AGENT = join(ROOT, "dist/armor-agent");

const { values } = parseArgs({
  options: { sizes: { type: "string", default: "100,1000" }, runs: { type: "string", default: "3" }, json: { type: "boolean", default: false } },
});
const sizes = values.sizes.split(",").map(Number);
const runs = Number(values.runs);

interface Sleeper {
  unshare: Subprocess;
  pid: number;
}

async function startSleepers(n: number): Promise<Sleeper[]> {
  const sleepers: Sleeper[] = [];
  for (let i = 0; i < n; i++) {
    const unshare = Bun.spawn(["unshare", "--pid", "--mount", "--uts", "--ipc", "--fork", "--kill-child", "sleep", "3600"], {
      stdin: "ignore",
      stdout: "ignore",
      stderr: "ignore",
    });
    sleepers.push({ unshare, pid: 0 });
  }
  for (const sleeper of sleepers) {
    const children = `/proc/${sleeper.unshare.pid}/task/${sleeper.unshare.pid}/children`;
    for (let tries = 0; sleeper.pid === 0 && tries < 500; tries++) {
      const first = readFileSync(children, "utf8").trim().split(" ")[0];
      if (first) sleeper.pid = Number(first);
      else await Bun.sleep(5);
    }
    if (sleeper.pid === 0) throw new Error("unshare did not start its child");
  }
  return sleepers;
}

function startTime(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]);
}

/** A runc-format state root with one container per sleeper, all sharing one bundle. */
function writeStateRoot(dir: string, sleepers: Sleeper[]): string {
  const bundle = join(dir, "bundle");
  mkdirSync(bundle, { recursive: true });
  writeFileSync(
    join(bundle, "config.json"),
    JSON.stringify({
      process: { args: ["sleep", "3600"], apparmorProfile: "armor-bench" },
      annotations: { "io.kubernetes.pod.name": "bench", "io.kubernetes.pod.namespace": "default", "io.kubernetes.container.name": "sleep" },
    }),
  );
  const root = join(dir, "runc");
  sleepers.forEach((sleeper, i) => {
    const id = `bench-${i}`;
    mkdirSync(join(root, id), { recursive: true });
    writeFileSync(
      join(root, id, "state.json"),
      JSON.stringify({ id, init_process_pid: sleeper.pid, init_process_start: startTime(sleeper.pid), config: { labels: [`bundle=${bundle}`] } }),
    );
  });
  return root;
}

interface Run {
  readyMs: number;
  held: number;
}

/** One agent life: the hook's fork waits first (as on a node), then the agent starts; returns socket-up → ready. */
async function measure(dir: string, root: string, mode: "hook" | "reconcile", expected: number): Promise<Run> {
  const socket = join(dir, `run-${mode}-${Math.random().toString(36).slice(2)}`, "armor.sock");
  if (mode === "hook") {
    const agentBundle = join(dir, "agent-bundle");
    mkdirSync(agentBundle, { recursive: true });
    writeFileSync(join(agentBundle, "config.json"), JSON.stringify({ process: { args: ["/usr/local/bin/armor-agent", "serve"] } }));
    const state = JSON.stringify({ ociVersion: "1.2.0", id: "armor-agent", status: "creating", pid: process.pid, bundle: agentBundle });
    const hook = Bun.spawn([HOOK, "createRuntime", "--socket", socket, "--state-root", `runc:${root}`], {
      stdin: new TextEncoder().encode(state),
      stdout: "ignore",
      stderr: "inherit",
    });
    if ((await hook.exited) !== 0) throw new Error("the hook failed for the agent's container");
  }
  const agent = Bun.spawn([AGENT, "serve", "--socket", socket, "--log-level", "warn", "--bootstrap", mode, "--state-root", `runc:${root}`], {
    stdin: "ignore",
    stdout: "ignore",
    stderr: "inherit",
  });
  try {
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      const status = Bun.spawnSync([AGENT, "status", "--json", "--socket", socket], { stdout: "pipe", stderr: "ignore" });
      if (status.exitCode === 0) {
        const parsed = JSON.parse(status.stdout.toString()) as { state: string; containers: number; bootstrap: { durationMs: number | null } };
        if (parsed.state === "ready") {
          if (parsed.containers !== expected) throw new Error(`${mode}: agent holds ${parsed.containers} containers, expected ${expected}`);
          return { readyMs: parsed.bootstrap.durationMs ?? Number.NaN, held: parsed.containers };
        }
      }
      await Bun.sleep(20);
    }
    throw new Error(`${mode}: agent not ready within 60 s`);
  } finally {
    agent.kill("SIGTERM");
    await agent.exited;
  }
}

// The hook's detached forks outlive it; PID 1 here reaps nothing, so this process does.
setSubreaper(true);
const results: Array<{ containers: number; mode: string; readyMs: Summary }> = [];
const dir = mkdtempSync(join(tmpdir(), "armor-bench-bootstrap-"));
let sleepers: Sleeper[] = [];
try {
  for (const n of sizes) {
    for (const s of sleepers) s.unshare.kill("SIGKILL");
    await Promise.all(sleepers.map((s) => s.unshare.exited));
    sleepers = await startSleepers(n);
    const root = writeStateRoot(join(dir, `n${n}`), sleepers);
    for (const mode of ["hook", "reconcile"] as const) {
      const samples: number[] = [];
      for (let r = 0; r < runs; r++) samples.push((await measure(join(dir, `n${n}`), root, mode, n)).readyMs);
      results.push({ containers: n, mode, readyMs: summarize(samples) });
    }
  }
} finally {
  for (const s of sleepers) s.unshare.kill("SIGKILL");
  await Promise.all(sleepers.map((s) => s.unshare.exited));
  rmSync(dir, { recursive: true, force: true });
  await reapOrphans();
}

if (values.json) console.log(JSON.stringify(results, null, 2));
else {
  console.log(`socket up → ready (ms), ${runs} runs each; hook = the hook's detached fork sends the batch, reconcile = the agent enumerates itself`);
  console.log("containers  mode       median    min     max");
  for (const r of results) {
    console.log(
      `${String(r.containers).padEnd(10)}  ${r.mode.padEnd(9)}  ${r.readyMs.median.toFixed(0).padStart(6)}  ${r.readyMs.min.toFixed(0).padStart(6)}  ${r.readyMs.max.toFixed(0).padStart(6)}`,
    );
  }
}
