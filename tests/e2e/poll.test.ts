/** The polling baseline with real runc: a container started without any hook is found by listing state, and dropped once deleted. */
import { expect, test } from "bun:test";
import { join } from "node:path";
import { AgentProcess, makeBundle, removeDir, runcRuntime, runDetached, stopContainer, tempDir, waitFor } from "./support.ts";
import { perTest } from "./per-test.ts";

const { defer } = perTest("e2e-poll");

test("serve --mode poll discovers a hook-less runc container within a few intervals, as source poll, and drops it after delete", async () => {
  const dir = tempDir("e2e-poll");
  defer(() => removeDir(dir));
  const runtime = runcRuntime(join(dir, "state"));
  const agent = await AgentProcess.start(join(dir, "run", "armor.sock"), [
    "--mode",
    "poll",
    "--interval-ms",
    "50",
    "--state-root",
    `runc:${join(dir, "state")}`,
  ]);
  defer(() => agent.stop());
  const bundle = await makeBundle(join(dir, "bundle"), { args: ["sleep", "600"] });

  await runDetached(runtime, bundle, "polled-1");
  defer(() => stopContainer(runtime, "polled-1").catch(() => undefined));
  await waitFor("the poller to find polled-1", async () => (await agent.list()).some((c) => c.id === "polled-1"), 5000);
  expect((await agent.list()).find((c) => c.id === "polled-1")).toMatchObject({ source: "poll", bundle });

  await stopContainer(runtime, "polled-1");
  await waitFor("the poller to drop polled-1", async () => !(await agent.list()).some((c) => c.id === "polled-1"), 5000);
});
