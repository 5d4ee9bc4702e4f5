/**
 * What armor-agent nri costs, against containerd 1.7.13 with NRI through its CRI
 * service, in one run (compare within it):
 * - CRI CreateContainer with no plugin, with the plugin (fail-open: no agent call) and with
 *   the plugin under --fail-policy closed (a ping per container), in interleaved blocks;
 * - the plugin's own answer time to CreateContainer, from its debug log;
 * - from spawning the plugin to its registration, and to the agent holding every running
 *   container and sandbox from its first Synchronize (fresh agent each round);
 * - the plugin's RSS once idle.
 *
 *   bun run bench:nri [--pods 10] [--rounds 5] [--creates 8] [--json]
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import type { Subprocess } from "bun";
import { Containerd, CONTAINERD_NRI_DIR, hostNetworkPod, NRI_TOML } from "../tests/e2e/cri/containerd.ts";
import { IMAGE } from "../tests/e2e/cri/image.ts";
import { reapOrphans, setSubreaper } from "../tests/e2e/reaper.ts";
import { shuffle, summarize, type Summary } from "./_stats.ts";

const ROOT = resolve(import.meta.dir, "..");
const HOOK = join(ROOT, "dist/armor-hook");
const AGENT = join(ROOT, "dist/armor-agent");

const { values } = parseArgs({
  options: {
    pods: { type: "string", default: "10" },
    rounds: { type: "string", default: "5" },
    creates: { type: "string", default: "8" },
    json: { type: "boolean", default: false },
  },
});
const POD_COUNT = Number(values.pods);
const ROUNDS = Number(values.rounds);
const CREATES = Number(values.creates);

if (!existsSync(join(CONTAINERD_NRI_DIR, "containerd"))) throw new Error(`no containerd 1.7 at ${CONTAINERD_NRI_DIR} (set ARMOR_CONTAINERD_NRI)`);

class Proc {
  stderr = "";
  constructor(readonly proc: Subprocess<"ignore", "ignore", "pipe">) {
    void (async () => {
      for await (const chunk of proc.stderr) this.stderr += new TextDecoder().decode(chunk);
    })();
  }
  async until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await check())) {
      if (this.proc.exitCode !== null) throw new Error(`${what}: process exited ${this.proc.exitCode}: ${this.stderr.slice(-2000)}`);
      if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
      await Bun.sleep(2);
    }
  }
  async stop(): Promise<void> {
    if (this.proc.exitCode === null) this.proc.kill("SIGTERM");
    await this.proc.exited;
  }
}

const work = mkdtempSync(join(tmpdir(), "armor-bench-nri-"));
setSubreaper(true);
const cdDir = join(work, "containerd");
for (const sub of ["nri/conf.d", "nri/plugins"]) mkdirSync(join(cdDir, sub), { recursive: true });
const containerd = await Containerd.start(cdDir, { binary: join(CONTAINERD_NRI_DIR, "containerd"), shimDir: CONTAINERD_NRI_DIR, extraToml: NRI_TOML });
const cri = containerd.cri;
const nriSocket = join(cdDir, "nri", "nri.sock");

let agents = 0;
async function startAgent(): Promise<{ agent: Proc; socket: string }> {
  const dir = join(work, `agent-${++agents}`);
  mkdirSync(dir, { mode: 0o700 });
  const socket = join(dir, "armor.sock");
  const agent = new Proc(Bun.spawn([AGENT, "serve", "--socket", socket], { stdin: "ignore", stdout: "ignore", stderr: "pipe" }));
  await agent.until("agent socket", () => existsSync(socket));
  return { agent, socket };
}

const held = async (socket: string): Promise<number> => {
  const out = await new Response(Bun.spawn([AGENT, "list", "--json", "--socket", socket], { stdout: "pipe", stderr: "ignore" }).stdout).text();
  try {
    return (JSON.parse(out) as unknown[]).length;
  } catch {
    return -1;
  }
};

function startPlugin(socket: string, extra: string[] = []): Proc {
  const argv = [AGENT, "nri", "--nri-socket", nriSocket, "--hook-path", HOOK, "--socket", socket, "--state-root", `runc:${containerd.paths.runcRoot}`];
  return new Proc(Bun.spawn([...argv, "--log-level", "debug", ...extra], { stdin: "ignore", stdout: "ignore", stderr: "pipe" }));
}
const registered = (p: Proc): boolean => p.stderr.includes("registered with the runtime's NRI");

try {
  // Pods that run before every plugin start: each Synchronize lists their sandboxes and containers.
  const pods: Array<{ podId: string; config: ReturnType<typeof hostNetworkPod> }> = [];
  for (let i = 0; i < POD_COUNT; i++) {
    const config = hostNetworkPod(`bench-${i}`, "shop", `uid-bench-${i}`);
    const podId = await cri.runPodSandbox(config);
    const id = await cri.createContainer(podId, { metadata: { name: "app" }, image: { image: IMAGE }, command: ["sleep", "3600"] }, config);
    await cri.startContainer(id);
    pods.push({ podId, config });
  }

  // From spawn to registration, and to the agent holding what runs (2 per pod), with a fresh agent each round.
  const toRegistered: number[] = [];
  const toHeld: number[] = [];
  let rss = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const { agent, socket } = await startAgent();
    const t0 = performance.now();
    const plugin = startPlugin(socket);
    await plugin.until("registration", () => registered(plugin));
    toRegistered.push(performance.now() - t0);
    await plugin.until("the Synchronize batch", async () => (await held(socket)) >= 2 * POD_COUNT);
    toHeld.push(performance.now() - t0);
    if (round === ROUNDS - 1) {
      await Bun.sleep(1000);
      rss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${plugin.proc.pid}/status`, "utf8"))?.[1] ?? 0) / 1024;
    }
    await plugin.stop();
    await agent.stop();
  }

  // CreateContainer latency per mode, in shuffled blocks; each container is removed at once.
  const { agent, socket } = await startAgent();
  const modes = {
    "no plugin": null,
    "armor-agent nri (fail-open)": [] as string[],
    "armor-agent nri --fail-policy closed": ["--fail-policy", "closed"],
  } as const;
  type ModeName = keyof typeof modes;
  const createMs = new Map<ModeName, number[]>(Object.keys(modes).map((m) => [m as ModeName, []]));
  const answerMs: number[] = [];
  const target = pods[0];
  if (!target) throw new Error("no pod");
  for (let block = 0; block < 4; block++) {
    for (const mode of shuffle(Object.keys(modes) as ModeName[])) {
      const extra = modes[mode];
      const plugin = extra === null ? null : startPlugin(socket, [...extra]);
      if (plugin) await plugin.until("registration", () => registered(plugin));
      else await Bun.sleep(200); // the previous plugin's connection is gone
      for (let i = 0; i < CREATES; i++) {
        const t0 = performance.now();
        const id = await cri.createContainer(
          target.podId,
          { metadata: { name: `c-${block}-${i}-${mode.length}` }, image: { image: IMAGE }, command: ["sleep", "1"] },
          target.config,
        );
        createMs.get(mode)?.push(performance.now() - t0);
        await cri.removeContainer(id);
      }
      if (plugin) {
        for (const match of plugin.stderr.matchAll(/"msg":"answered the runtime","method":"CreateContainer","ms":([\d.]+)/g)) answerMs.push(Number(match[1]));
        await plugin.stop();
      }
    }
  }
  await agent.stop();

  const base = summarize(createMs.get("no plugin") ?? []).median;
  const rows: Array<[string, Summary]> = [...createMs].map(([mode, samples]) => [mode, summarize(samples)]);
  const result = {
    pods: POD_COUNT,
    toRegistered: summarize(toRegistered),
    toHeld: summarize(toHeld),
    createContainer: Object.fromEntries(rows),
    pluginAnswer: summarize(answerMs),
    pluginRssMiB: rss,
  };
  if (values.json) console.log(JSON.stringify(result, null, 2));
  const f = (ms: number): string => `${ms.toFixed(2)} ms`;
  console.log(`\n| CRI CreateContainer (${CREATES * 4} each, interleaved) | median | p95 | added (median) |\n|---|---|---|---|`);
  for (const [mode, s] of rows)
    console.log(`| ${mode} | ${f(s.median)} | ${f(s.p95)} | ${mode === "no plugin" ? "—" : `+${(s.median - base).toFixed(2)} ms`} |`);
  console.log(`\n| | median | p95 |\n|---|---|---|`);
  console.log(`| the plugin's own CreateContainer answer (its log) | ${f(result.pluginAnswer.median)} | ${f(result.pluginAnswer.p95)} |`);
  console.log(`| spawn → registered with containerd (${ROUNDS} rounds) | ${f(result.toRegistered.median)} | ${f(result.toRegistered.p95)} |`);
  console.log(`| spawn → agent holds all ${2 * POD_COUNT} (Synchronize batch) | ${f(result.toHeld.median)} | ${f(result.toHeld.p95)} |`);
  console.log(`\nplugin RSS idle: ${rss.toFixed(1)} MiB`);
} finally {
  await containerd.stop();
  await reapOrphans();
  setSubreaper(false);
  rmSync(work, { recursive: true, force: true });
}
