/**
 * Real containers under runc and crun, with the compiled hook at createRuntime and
 * poststop: registered (with the namespaces /proc shows) before their first command
 * runs, and gone once they exit.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import {
  AGENT,
  AgentProcess,
  containerPid,
  hookEntry,
  hostNamespaces,
  makeBundle,
  readUntil,
  removeDir,
  run,
  RUNTIMES,
  sharedLibraryMounts,
  tempDir,
  waitFor,
} from "./support.ts";

const ANNOTATIONS = {
  runc: {
    "io.kubernetes.pod.name": "web-7d9f",
    "io.kubernetes.pod.namespace": "shop",
    "io.kubernetes.pod.uid": "0b5c8f2e-1111-4a3b-9c1d-2e3f4a5b6c7d",
    "io.kubernetes.container.name": "nginx",
    "io.kubernetes.cri-o.SandboxID": "sandbox-runc",
    "io.kubernetes.cri-o.ImageName": "docker.io/library/nginx:1.27",
  },
  crun: {
    "io.kubernetes.cri.sandbox-name": "api-5c4b",
    "io.kubernetes.cri.sandbox-namespace": "payments",
    "io.kubernetes.cri.sandbox-uid": "9a8b7c6d-2222-4e5f-8a9b-0c1d2e3f4a5b",
    "io.kubernetes.cri.container-name": "api",
    "io.kubernetes.cri.sandbox-id": "sandbox-crun",
    "io.kubernetes.cri.image-name": "registry.example/api:2.1",
  },
} as const;

const EXPECTED_POD = {
  runc: {
    pod: { name: "web-7d9f", namespace: "shop", uid: "0b5c8f2e-1111-4a3b-9c1d-2e3f4a5b6c7d" },
    containerName: "nginx",
    sandboxId: "sandbox-runc",
    image: "docker.io/library/nginx:1.27",
  },
  crun: {
    pod: { name: "api-5c4b", namespace: "payments", uid: "9a8b7c6d-2222-4e5f-8a9b-0c1d2e3f4a5b" },
    containerName: "api",
    sandboxId: "sandbox-crun",
    image: "registry.example/api:2.1",
  },
} as const;

let work: string;
let agent: AgentProcess;

beforeAll(async () => {
  work = tempDir("e2e-runtimes");
  agent = await AgentProcess.start(join(work, "run", "armor.sock"));
});

afterAll(async () => {
  await agent?.stop();
  removeDir(work);
});

describe.each(RUNTIMES)("$name", (runtime) => {
  test(`${runtime.name}: the container is registered before its first command runs, with /proc's namespaces and its pod identity, and gone after it exits`, async () => {
    const id = `armor-e2e-${runtime.name}-${process.pid}-${Date.now()}`;
    const bundleDir = join(work, id);
    const libs = await sharedLibraryMounts(AGENT);
    // The container's first command asks the agent, through the real CLI and the
    // bind-mounted socket, whether it is already held; if not it exits 42 at once.
    const check = `/armor/bin/armor-agent get "$ARMOR_ID" --json --socket /armor/run/armor.sock >/tmp/self.json || exit 42; echo REGISTERED-BEFORE-START; exec sleep 600`;
    await makeBundle(bundleDir, {
      args: ["sh", "-c", check],
      env: [`ARMOR_ID=${id}`],
      annotations: ANNOTATIONS[runtime.name],
      mounts: [{ source: AGENT, destination: "/armor/bin/armor-agent" }, { source: dirname(agent.socket), destination: "/armor/run" }, ...libs],
      hooks: { createRuntime: [hookEntry("createRuntime", agent.socket)], poststop: [hookEntry("poststop", agent.socket)] },
    });

    const container = Bun.spawn(runtime.runCommand(bundleDir, id), { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    try {
      const out = await readUntil(container.stdout, "REGISTERED-BEFORE-START");
      if (!out.includes("REGISTERED-BEFORE-START")) {
        container.kill("SIGKILL");
        throw new Error(
          `container did not confirm its registration (exit ${await container.exited}): ${out} ${await new Response(container.stderr).text()} agent log: ${agent.log}`,
        );
      }

      const pid = await containerPid(runtime, id);
      const held = (await agent.list()).find((record) => record.id === id);
      expect(held).toBeDefined();
      expect(held).toMatchObject({ id, pid, bundle: bundleDir, source: "hook", apparmorProfile: null, ...EXPECTED_POD[runtime.name] });
      expect(held?.namespaces).toEqual(hostNamespaces(pid));
      // Fresh pid and mount namespaces, not the host's: the record points at the container.
      expect(held?.namespaces).not.toEqual(hostNamespaces(process.pid));
      expect(new Date(String(held?.registeredAt)).getTime()).toBeGreaterThan(Date.now() - 60_000);

      // The namespace-pair lookup a security monitor makes finds it too.
      const ns = hostNamespaces(pid);
      const lookup = await agent.cli(["lookup", String(ns.pid), String(ns.mnt), "--json"]);
      expect(lookup.code).toBe(0);
      expect(JSON.parse(lookup.stdout).id).toBe(id);
    } finally {
      await run(runtime.command(["kill", id, "KILL"]));
      await container.exited;
      await run(runtime.command(["delete", "--force", id]));
    }
    await waitFor(`${id} to be unregistered at poststop`, async () => !(await agent.list()).some((record) => record.id === id));
    const gone = await agent.cli(["get", id]);
    expect(gone.code).toBe(3);

    // Both calls are in the hook's log beside the socket, with their pod and duration: each hook
    // sent its line's facts after the agent's answer, and the agent appended it.
    const hookLog = join(dirname(agent.socket), "hook.log");
    const ofThis = () =>
      (existsSync(hookLog) ? readFileSync(hookLog, "utf8") : "")
        .split("\n")
        .filter((l) => l.includes(`"${id}"`))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
    await waitFor(`${id}'s two calls in ${hookLog}`, () => ofThis().length === 2);
    const pod = EXPECTED_POD[runtime.name].pod;
    expect(ofThis().map((r) => [r.stage, r.result, r.status, r.level, r.pod])).toEqual([
      ["createRuntime", "registered", 0, "info", `${pod.namespace}/${pod.name}`],
      ["poststop", "unregistered", 0, "info", `${pod.namespace}/${pod.name}`],
    ]);
    expect(ofThis().every((r) => typeof r.ms === "number" && r.ms > 0 && r.ms < 2000)).toBe(true);
  });
});
