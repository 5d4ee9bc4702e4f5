/**
 * Watchers that never read, against the cost of registering: 1,000 registrations
 * (one connection, one after another) into a real agent with no watcher, then with
 * 60 watchers that subscribed and stopped reading, in one run (after a warm-up round). Reports the time of
 * the whole 1,000, each register's round trip p50/p99, and the agent's RSS.
 *
 *   bun run bench:watchers [--count 1000] [--watchers 60] [--json]
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import type { Socket } from "bun";
import { AgentClient, callAgent } from "../lib/client.ts";
import type { ContainerInfo } from "../lib/container.ts";
import { encodeFrame } from "../lib/wire/frame.ts";

const AGENT = join(resolve(import.meta.dir, ".."), "dist/armor-agent");
const { values } = parseArgs({
  options: { count: { type: "string", default: "1000" }, watchers: { type: "string", default: "60" }, json: { type: "boolean", default: false } },
});
const count = Number(values.count);
const watcherCount = Number(values.watchers);

const rssMiB = (pid: number): number => Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? Number.NaN) / 1024;
const percentile = (sorted: number[], p: number): number => sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)] ?? Number.NaN;

/** A record of about 2 KiB, as a pod with long names and annotations-derived fields gives. */
const record = (id: string): ContainerInfo => ({
  id,
  pid: 1,
  bundle: `/run/containerd/io.containerd.runtime.v2.task/k8s.io/${id}/${"b".repeat(200)}`,
  namespaces: { pid: 4026532001, mnt: 4026532002, net: 4026532003, uts: 4026532004, ipc: 4026532005, cgroup: 4026532006 },
  apparmorProfile: "cri-containerd.apparmor.d",
  pod: { name: `web-${"p".repeat(400)}`, namespace: "shop", uid: "0b7e7c0e-9d0a-4f4e-8f3a-3f1b2c4d5e6f" },
  containerName: `nginx-${"n".repeat(400)}`,
  sandboxId: "s".repeat(64),
  image: `registry.example.com/${"i".repeat(600)}:1.27`,
  containerType: "container",
  cgroup: null,
});

interface Round {
  watchers: number;
  totalMs: number;
  p50Ms: number;
  p99Ms: number;
  rssMiB: number;
}

async function round(socket: string, pid: number, watchers: number, tag: string): Promise<Round> {
  const stuck: Socket<undefined>[] = [];
  for (let i = 0; i < watchers; i++) {
    const conn = await Bun.connect({ unix: socket, socket: { data() {} } });
    conn.write(encodeFrame({ v: 1, id: 1, op: "watch" }));
    stuck.push(conn);
  }
  await Bun.sleep(200);
  for (const conn of stuck) conn.pause();
  const client = await AgentClient.connect({ socket, timeoutMs: 60_000 });
  const times: number[] = [];
  const t0 = performance.now();
  for (let i = 0; i < count; i++) {
    const t = performance.now();
    await client.request({ op: "register", source: "hook", container: record(`${tag}-${i}`) });
    times.push(performance.now() - t);
  }
  const totalMs = performance.now() - t0;
  const rss = rssMiB(pid);
  for (let i = 0; i < count; i++) await client.request({ op: "unregister", container: `${tag}-${i}` });
  client.close();
  for (const conn of stuck) conn.terminate();
  times.sort((a, b) => a - b);
  return { watchers, totalMs, p50Ms: percentile(times, 0.5), p99Ms: percentile(times, 0.99), rssMiB: rss };
}

const dir = mkdtempSync(join(tmpdir(), "armor-watchers-"));
const socket = join(dir, "run", "armor.sock");
mkdirSync(join(dir, "run"), { mode: 0o700 });
const agent = Bun.spawn([AGENT, "serve", "--socket", socket, "--log-level", "error"], { stdin: "ignore", stdout: "ignore", stderr: "inherit" });
try {
  for (let i = 0; i < 500; i++) {
    if (
      await callAgent({ socket, timeoutMs: 500 }, { op: "ping" }).then(
        () => true,
        () => false,
      )
    )
      break;
    await Bun.sleep(20);
  }
  // A first, unreported round warms the JIT, so neither measured round pays for it.
  await round(socket, agent.pid, 0, "warm");
  const rounds = [await round(socket, agent.pid, 0, "quiet"), await round(socket, agent.pid, watcherCount, "stuck")];
  if (values.json) console.log(JSON.stringify({ count, rounds }, null, 2));
  else {
    console.log(`${count} registrations, one after another on one connection, ~2 KiB records`);
    console.log("| watchers that never read | all registrations | one register p50 / p99 | agent RSS after |");
    console.log("|---|---|---|---|");
    for (const r of rounds)
      console.log(`| ${r.watchers} | ${r.totalMs.toFixed(0)} ms | ${r.p50Ms.toFixed(2)} / ${r.p99Ms.toFixed(2)} ms | ${r.rssMiB.toFixed(1)} MiB |`);
    const [quiet, stuck] = rounds as [Round, Round];
    console.log(`ratio with ${watcherCount} stuck watchers: ${(stuck.totalMs / quiet.totalMs).toFixed(2)}x the time of none`);
  }
} finally {
  agent.kill("SIGTERM");
  await agent.exited;
  rmSync(dir, { recursive: true, force: true });
}
