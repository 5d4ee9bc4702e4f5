/**
 * What the hook costs a pod on the Kubernetes path: kubelet's calls to containerd's
 * CRI (RunPodSandbox … RemovePodSandbox) against two private containerd 1.6
 * instances side by side, one whose runc runtime has the base spec install.sh wrote
 * (the hook registers each app container with a running agent) and one without.
 * Rounds alternate between them in a shuffled order, so load on this shared machine
 * hits both alike; the figures to compare are the ratios within one run.
 *
 *   bun run bench:cri [--cycles 30] [--json]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { killStragglers, reapOrphans, setSubreaper } from "../tests/e2e/reaper.ts";
import { AgentProcess } from "../tests/e2e/support.ts";
import { Containerd } from "../tests/e2e/cri/containerd.ts";
import { IMAGE } from "../tests/e2e/cri/image.ts";
import { deletePod, installForContainerd, loggedPod } from "../tests/e2e/cri/node.ts";
import { shuffle, summarize, type Summary } from "./_stats.ts";

const { values } = parseArgs({ options: { cycles: { type: "string", default: "30" }, json: { type: "boolean", default: false } } });
const cycles = Number(values.cycles);

interface Cycle {
  startContainer: number;
  pod: number;
}

/** One pod with one app container, through every call kubelet makes; times StartContainer and the whole cycle. */
async function cycle(containerd: Containerd, dir: string, i: number): Promise<Cycle> {
  const cri = containerd.cri;
  const t0 = performance.now();
  const config = loggedPod(dir, `bench-${i}`, "bench");
  const podId = await cri.runPodSandbox(config);
  const id = await cri.createContainer(podId, { metadata: { name: "app" }, image: { image: IMAGE }, command: ["sleep", "600"] }, config);
  const s0 = performance.now();
  await cri.startContainer(id);
  const startContainer = performance.now() - s0;
  await deletePod(containerd, podId);
  return { startContainer, pod: performance.now() - t0 };
}

const work = mkdtempSync(join(tmpdir(), "armor-bench-cri-"));
setSubreaper(true);
const instances: Containerd[] = [];
let agent: AgentProcess | undefined;
try {
  const installed = await installForContainerd(work);
  agent = await AgentProcess.start(installed.socket);
  const withHook = await Containerd.start(join(work, "with-hook"), { baseSpec: installed.baseSpec });
  instances.push(withHook);
  const without = await Containerd.start(join(work, "without"));
  instances.push(without);
  const samples: Record<"with" | "without", Cycle[]> = { with: [], without: [] };
  for (let i = 0; i < 3; i++) for (const c of [withHook, without]) await cycle(c, work, -1 - i); // warm-up
  for (let i = 0; i < cycles; i++) {
    for (const which of shuffle(["with", "without"] as const)) samples[which].push(await cycle(which === "with" ? withHook : without, work, i));
  }
  if ((await agent.list()).length !== 0) throw new Error("the agent still holds containers after every pod was removed");
  const series = (which: "with" | "without", key: keyof Cycle): Summary => summarize(samples[which].map((s) => s[key]));
  const report = {
    cycles,
    startContainer: { with: series("with", "startContainer"), without: series("without", "startContainer") },
    pod: { with: series("with", "pod"), without: series("without", "pod") },
  };
  if (values.json) console.log(JSON.stringify(report, null, 2));
  else {
    const row = (name: string, w: Summary, wo: Summary) =>
      `${name.padEnd(16)} with hook ${w.median.toFixed(1).padStart(6)} ms (p95 ${w.p95.toFixed(1)})   without ${wo.median.toFixed(1).padStart(6)} ms (p95 ${wo.p95.toFixed(1)})   ratio ${(w.median / wo.median).toFixed(2)}x`;
    console.log(`containerd 1.6 CRI, ${cycles} pods each, medians`);
    console.log(row("StartContainer", report.startContainer.with, report.startContainer.without));
    console.log(row("whole pod cycle", report.pod.with, report.pod.without));
  }
} finally {
  for (const c of instances) await c.stop();
  await agent?.stop();
  await killStragglers(work);
  await reapOrphans();
  rmSync(work, { recursive: true, force: true });
}
