/**
 * The agent holding many containers: N registrations (realistic records: pod,
 * image, bundle path, eight namespaces) sent over the protocol to a real agent,
 * then its RSS (/proc/<pid>/status), the namespace lookup's cost in-process (a
 * Registry of N, many iterations) and over the socket (one round trip).
 *
 *   bun run bench:scale [--count 10000] [--json]
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { AgentClient } from "../lib/client.ts";
import type { ContainerInfo } from "../lib/container.ts";
import { Registry } from "../lib/registry.ts";

const ROOT = resolve(import.meta.dir, "..");
const AGENT = join(ROOT, "dist/armor-agent");
const { values } = parseArgs({ options: { count: { type: "string", default: "10000" }, json: { type: "boolean", default: false } } });
const count = Number(values.count);

/** A record as a CRI-O node would send it for container `i`. */
function record(i: number): ContainerInfo {
  const hex = (n: number): string => n.toString(16).padStart(8, "0").repeat(8);
  return {
    id: hex(i),
    pid: 100_000 + i,
    bundle: `/run/containers/storage/overlay-containers/${hex(i)}/userdata`,
    namespaces: {
      pid: 4026600000 + i,
      mnt: 4026700000 + i,
      net: 4026800000 + i,
      uts: 4026900000 + i,
      ipc: 4027000000 + i,
      cgroup: 4027100000 + i,
      user: 4026531837,
      time: 4026531834,
    },
    apparmorProfile: "crio-default",
    pod: { name: `web-${i}`, namespace: `team-${i % 50}`, uid: `0b5c${hex(i).slice(0, 28)}` },
    containerName: "nginx",
    sandboxId: hex(i + 1),
    image: "registry.example/team/nginx@sha256:4f1c2b3a4f1c2b3a4f1c2b3a4f1c2b3a4f1c2b3a4f1c2b3a4f1c2b3a4f1c2b3a",
    containerType: "container",
    cgroup: { path: `/kubepods/besteffort/pod${hex(i)}/${hex(i)}`, id: 10_000 + i },
  };
}

const rssMiB = (pid: number): number => Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1]) / 1024;

/** Mean cost of one registry.lookup() over `iterations` lookups of random held pairs, in ns. */
function lookupNs(registry: Registry, iterations: number): number {
  const keys = Array.from({ length: 4096 }, () => Math.floor(Math.random() * count));
  let found = 0;
  const t0 = Bun.nanoseconds();
  for (let i = 0; i < iterations; i++) {
    const k = keys[i & 4095] as number;
    if (registry.lookup(4026600000 + k, 4026700000 + k)) found += 1;
  }
  const ns = (Bun.nanoseconds() - t0) / iterations;
  if (found !== iterations) throw new Error(`lookup missed ${iterations - found} held pairs`);
  return ns;
}

const dir = mkdtempSync(join(tmpdir(), "armor-scale-"));
const socket = join(dir, "run", "armor.sock");
const agent = Bun.spawn([AGENT, "serve", "--socket", socket, "--log-level", "error"], { stdin: "ignore", stdout: "ignore", stderr: "inherit" });
try {
  for (let i = 0; i < 500 && !(await Bun.file(socket).exists()); i++) await Bun.sleep(10);
  const idle = rssMiB(agent.pid);
  const t0 = performance.now();
  // Eight connections, each pipelining its share in chunks of 100.
  await Promise.all(
    Array.from({ length: 8 }, async (_, lane) => {
      const client = await AgentClient.connect({ socket, timeoutMs: 60_000 });
      for (let start = lane; start < count; start += 800) {
        const batch = [];
        for (let i = start; i < Math.min(count, start + 800); i += 8) batch.push(client.request({ op: "register", source: "hook", container: record(i) }));
        await Promise.all(batch);
      }
      client.close();
    }),
  );
  const registerMs = performance.now() - t0;
  const client = await AgentClient.connect({ socket, timeoutMs: 60_000, maxFrameBytes: 256 * 1024 * 1024 });
  const held = ((await client.request({ op: "list" })) as { containers: unknown[] }).containers.length;
  await Bun.sleep(500);
  const holding = rssMiB(agent.pid);
  const rounds = 2000;
  const r0 = performance.now();
  for (let i = 0; i < rounds; i++) {
    const k = Math.floor(Math.random() * count);
    await client.request({ op: "lookup", pidns: 4026600000 + k, mntns: 4026700000 + k });
  }
  const roundTripUs = ((performance.now() - r0) / rounds) * 1000;
  client.close();

  const registry = new Registry();
  for (let i = 0; i < count; i++) registry.register(record(i), "hook");
  lookupNs(registry, 100_000); // warm up
  const inProcessNs = lookupNs(registry, 2_000_000);

  const report = { count, held, registerMs, agentRssMiB: { idle, holding }, lookup: { inProcessNs, roundTripUs } };
  if (values.json) console.log(JSON.stringify(report, null, 2));
  else {
    console.log(`${held}/${count} containers registered over 8 connections in ${registerMs.toFixed(0)} ms`);
    console.log(`agent RSS: ${idle.toFixed(1)} MiB idle, ${holding.toFixed(1)} MiB holding ${held}`);
    console.log(
      `namespace lookup: ${(inProcessNs / 1000).toFixed(3)} µs in-process (mean of 2,000,000); ${roundTripUs.toFixed(0)} µs over the socket (mean of ${rounds} round trips)`,
    );
  }
  if (held !== count || holding >= 150) process.exitCode = 1;
} finally {
  agent.kill("SIGTERM");
  await agent.exited;
  rmSync(dir, { recursive: true, force: true });
}
