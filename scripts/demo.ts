/**
 * The main job, end to end: start an agent on a temporary socket, run a real
 * busybox container under runc with armor-hook at createRuntime and poststop,
 * show the agent holding it while it runs, and gone once it exits.
 */
import { join } from "node:path";
import { AgentProcess, containerPid, hookEntry, hostNamespaces, makeBundle, readUntil, removeDir, run, RUNTIMES, tempDir } from "../tests/e2e/support.ts";

const runc = RUNTIMES[0]!;
const work = tempDir("demo");
const id = `armor-demo-${process.pid}`;
const say = (line: string) => console.log(`\n== ${line}`);

const agent = await AgentProcess.start(join(work, "run", "armor.sock"));
try {
  say(`armor-agent serving on ${agent.socket}`);
  const bundle = await makeBundle(join(work, id), {
    args: ["sh", "-c", "echo container process started; exec sleep 600"],
    annotations: { "io.kubernetes.pod.name": "demo", "io.kubernetes.pod.namespace": "default", "io.kubernetes.container.name": "busybox" },
    hooks: { createRuntime: [hookEntry("createRuntime", agent.socket)], poststop: [hookEntry("poststop", agent.socket)] },
  });
  say(`runc run ${id} (bundle ${bundle}, hook at createRuntime and poststop)`);
  const container = Bun.spawn(runc.runCommand(bundle, id), { stdin: "ignore", stdout: "pipe", stderr: "inherit" });
  process.stdout.write(await readUntil(container.stdout, "started"));

  say("armor-agent list");
  console.log((await agent.cli(["list"])).stdout);
  const pid = await containerPid(runc, id);
  say(`armor-agent get ${id} --json  (compare: /proc/${pid}/ns on the host)`);
  console.log((await agent.cli(["get", id, "--json"])).stdout);
  console.log("host /proc view:", JSON.stringify(hostNamespaces(pid)));

  say(`runc kill ${id} KILL; poststop unregisters it`);
  await run(runc.command(["kill", id, "KILL"]));
  await container.exited;
  await run(runc.command(["delete", "--force", id]));
  console.log((await agent.cli(["list"])).stdout);
  say(`armor-agent hook-log ${id}  (the hook's own log: one line per call)`);
  console.log((await agent.cli(["hook-log", id])).stdout);
  say("agent log");
  await agent.stop();
  console.log(agent.log.trim());
} finally {
  await agent.stop();
  removeDir(work);
}
