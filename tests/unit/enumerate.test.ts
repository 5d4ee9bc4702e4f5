/**
 * enumerateContainers() over a fake host: runtime state roots, bundles and
 * /proc, all in memory.
 */
import { describe, expect, test } from "bun:test";
import { describeEntry, enumerateContainers, listLiveEntries } from "../../lib/bootstrap/enumerate.ts";
import type { StateRoot } from "../../lib/bootstrap/state-roots.ts";
import { FakeHost } from "./_fake-host.ts";
import { recordingLogger } from "./_fixtures.ts";

const RUNC: StateRoot = { format: "runc", path: "/run/runc" };
const CONTAINERD: StateRoot = { format: "runc", path: "/run/containerd/runc" };
const CRUN: StateRoot = { format: "crun", path: "/run/crun" };

async function enumerate(host: FakeHost, roots: readonly StateRoot[]) {
  const logs = recordingLogger();
  const result = await enumerateContainers(roots, host.deps, logs.log);
  return { ...result, ids: result.containers.map((c) => c.id).sort(), records: logs.records };
}

describe("enumerateContainers() reading state roots", () => {
  test("describes a runc container as the live hook would", async () => {
    const host = new FakeHost()
      .process(3012, 777)
      .runc("/run/runc", "web", 3012, 777, "/run/bundles/web")
      .bundle("/run/bundles/web", {
        process: { args: ["nginx"], apparmorProfile: "armor-nginx" },
        annotations: { "io.kubernetes.pod.name": "web-0", "io.kubernetes.pod.namespace": "shop", "io.kubernetes.container.name": "nginx" },
      });
    const { containers, rootsRead } = await enumerate(host, [RUNC]);
    expect(rootsRead).toBe(1);
    expect(containers).toEqual([
      {
        id: "web",
        pid: 3012,
        bundle: "/run/bundles/web",
        namespaces: { pid: 30121, mnt: 30122, net: 30123 },
        apparmorProfile: "armor-nginx",
        pod: { name: "web-0", namespace: "shop", uid: null },
        containerName: "nginx",
        sandboxId: null,
        image: null,
        containerType: null,
        cgroup: null,
      },
    ]);
  });

  test("finds containers under containerd's per-namespace directories", async () => {
    const host = new FakeHost()
      .process(10, 1)
      .process(11, 1)
      .runc("/run/containerd/runc/k8s.io", "a", 10, 1)
      .runc("/run/containerd/runc/moby", "b", 11, 1)
      .bundle("/bundles/a")
      .bundle("/bundles/b");
    expect(await enumerate(host, [CONTAINERD])).toMatchObject({ ids: ["a", "b"], rootsRead: 1 });
  });

  test("marks a CRI pod's sandbox and its app container by the type containerd's annotations give", async () => {
    const cri = (type: string, name: string) => ({
      process: { args: ["sleep", "infinity"] },
      annotations: {
        "io.kubernetes.cri.container-type": type,
        "io.kubernetes.cri.sandbox-name": "web-0",
        "io.kubernetes.cri.sandbox-namespace": "shop",
        "io.kubernetes.cri.container-name": name,
      },
    });
    const host = new FakeHost()
      .process(10, 1)
      .process(11, 1)
      .runc("/run/containerd/runc/k8s.io", "pause", 10, 1)
      .runc("/run/containerd/runc/k8s.io", "app", 11, 1)
      .bundle("/bundles/pause", cri("sandbox", ""))
      .bundle("/bundles/app", cri("container", "nginx"));
    const { containers } = await enumerate(host, [CONTAINERD]);
    expect(containers.map((c) => [c.id, c.containerType, c.containerName])).toEqual([
      ["app", "container", "nginx"],
      ["pause", "sandbox", null],
    ]);
  });

  test("takes the pod identity from runc's state labels when the bundle is not visible (an agent pod mounting only the state roots)", async () => {
    const labels = [
      "io.kubernetes.cri.container-type=container",
      "io.kubernetes.cri.sandbox-name=web-0",
      "io.kubernetes.cri.sandbox-namespace=shop",
      "io.kubernetes.cri.container-name=nginx",
      "io.kubernetes.cri.image-name=nginx:1.27",
    ];
    const host = new FakeHost()
      .process(10, 1)
      .runc("/run/containerd/runc/k8s.io", "app", 10, 1, "/run/containerd/io.containerd.runtime.v2.task/k8s.io/app", labels);
    const { containers } = await enumerate(host, [CONTAINERD]);
    expect(containers).toMatchObject([
      {
        id: "app",
        pod: { name: "web-0", namespace: "shop", uid: null },
        containerName: "nginx",
        image: "nginx:1.27",
        containerType: "container",
        apparmorProfile: null,
      },
    ]);
  });

  test("reads config.json when it can: runc's labels cannot tell an annotation key's '=' from the separator", async () => {
    // The annotation "io.kubernetes.cri.sandbox-namespace=kube-system" -> "x" as a label reads as namespace "kube-system=x".
    const host = new FakeHost()
      .process(10, 1)
      .runc("/run/containerd/runc/k8s.io", "app", 10, 1, "/bundles/app", [
        "io.kubernetes.cri.sandbox-namespace=kube-system=x",
        "io.kubernetes.cri.sandbox-name=web-0",
      ])
      .bundle("/bundles/app", {
        process: { args: ["sh"] },
        annotations: { "io.kubernetes.cri.sandbox-namespace=kube-system": "x", "io.kubernetes.cri.sandbox-name": "web-0" },
      });
    const { containers } = await enumerate(host, [CONTAINERD]);
    expect(containers[0]?.pod).toBeNull();
  });

  test("finds containers in a crun root, named by their directory", async () => {
    const host = new FakeHost().process(20, 5).crun("/run/crun", "c", 20, 5).bundle("/bundles/c");
    expect(await enumerate(host, [CRUN])).toMatchObject({ ids: ["c"], rootsRead: 1 });
  });

  test("reads every root it is given, together", async () => {
    const host = new FakeHost()
      .process(10, 1)
      .process(11, 1)
      .process(12, 1)
      .runc("/run/runc", "a", 10, 1)
      .runc("/run/containerd/runc/k8s.io", "b", 11, 1)
      .crun("/run/crun", "c", 12, 1)
      .bundle("/bundles/a")
      .bundle("/bundles/b")
      .bundle("/bundles/c");
    expect(await enumerate(host, [RUNC, CONTAINERD, CRUN])).toMatchObject({ ids: ["a", "b", "c"], rootsRead: 3 });
  });

  test("does not count a missing root as read, and says nothing about it", async () => {
    const host = new FakeHost().process(10, 1).runc("/run/runc", "a", 10, 1).bundle("/bundles/a");
    const { ids, rootsRead, records } = await enumerate(host, [RUNC, CRUN, CONTAINERD]);
    expect(ids).toEqual(["a"]);
    expect(rootsRead).toBe(1);
    expect(records.filter((r) => r.level === "warn")).toEqual([]);
  });

  test("reports zero roots read on a host without any runtime state", async () => {
    expect(await enumerate(new FakeHost(), [RUNC, CRUN])).toMatchObject({ ids: [], rootsRead: 0 });
  });

  test("warns about a root it may not list, and does not count it", async () => {
    const host = new FakeHost().process(10, 1).runc("/run/runc", "a", 10, 1).bundle("/bundles/a");
    host.denied.add("/run/runc");
    const { ids, rootsRead, records } = await enumerate(host, [RUNC]);
    expect([ids, rootsRead]).toEqual([[], 0]);
    expect(records).toContainEqual({ level: "warn", msg: "cannot list runtime state root", fields: { path: "/run/runc", error: "EACCES" } });
  });

  test("skips an unparsable state with a warning, keeping the others", async () => {
    const host = new FakeHost().process(10, 1).runc("/run/runc", "good", 10, 1).bundle("/bundles/good");
    host.files.set("/run/runc/half/state.json", '{"id":"half","init_pro');
    const { ids, records } = await enumerate(host, [RUNC]);
    expect(ids).toEqual(["good"]);
    expect(records).toContainEqual({
      level: "warn",
      msg: "skipping unreadable container state",
      fields: { file: "/run/runc/half/state.json", reason: "not valid JSON" },
    });
  });

  test("skips a crun directory without a status file, without looking inside it", async () => {
    const host = new FakeHost().process(10, 1).crun("/run/crun", "ok", 10, 1).bundle("/bundles/ok");
    host.files.set("/run/crun/creating/config.json", "{}");
    const { ids, records } = await enumerate(host, [CRUN]);
    expect(ids).toEqual(["ok"]);
    expect(host.reads.filter((path) => path.startsWith("/run/crun/creating"))).toEqual(["/run/crun/creating/status"]);
    expect(records.filter((r) => r.level === "warn")).toEqual([]);
  });
});

describe("enumerateContainers() telling live containers from dead ones", () => {
  test("skips a container whose process is gone (no /proc/<pid>/stat)", async () => {
    const host = new FakeHost().runc("/run/runc", "dead", 99, 1).bundle("/bundles/dead");
    expect((await enumerate(host, [RUNC])).ids).toEqual([]);
  });

  test("skips a container whose pid now belongs to another process (start time differs)", async () => {
    const host = new FakeHost().process(10, 2000).runc("/run/runc", "old", 10, 1000).bundle("/bundles/old");
    const { ids, records } = await enumerate(host, [RUNC]);
    expect(ids).toEqual([]);
    expect(records).toContainEqual({ level: "debug", msg: "skipping a stopped container whose pid was reused", fields: { id: "old", pid: 10 } });
  });

  test("keeps a container whose command name would confuse a naive stat parser", async () => {
    const host = new FakeHost().process(10, 1000, "evil) 1 2 3").runc("/run/runc", "x", 10, 1000).bundle("/bundles/x");
    expect((await enumerate(host, [RUNC])).ids).toEqual(["x"]);
  });

  test("keeps a container whose state records no start time", async () => {
    const host = new FakeHost().process(10, 2000).crun("/run/crun", "x", 10, undefined).bundle("/bundles/x");
    expect((await enumerate(host, [CRUN])).ids).toEqual(["x"]);
  });

  test("registers a live container whose bundle config is gone, with a null profile and a warning", async () => {
    const host = new FakeHost().process(10, 1).runc("/run/runc", "nobundle", 10, 1);
    const { containers, records } = await enumerate(host, [RUNC]);
    expect(containers).toEqual([
      {
        id: "nobundle",
        pid: 10,
        bundle: "/bundles/nobundle",
        namespaces: { pid: 101, mnt: 102, net: 103 },
        apparmorProfile: null,
        pod: null,
        containerName: null,
        sandboxId: null,
        image: null,
        containerType: null,
        cgroup: null,
      },
    ]);
    expect(records.find((r) => r.level === "warn")).toMatchObject({
      msg: "registering a pre-existing container without its bundle's details",
      fields: { id: "nobundle" },
    });
  });

  test("skips a container whose process exits while it is described", async () => {
    const host = new FakeHost().vanishingProcess(10, 1).runc("/run/runc", "going", 10, 1).bundle("/bundles/going");
    const { ids, records } = await enumerate(host, [RUNC]);
    expect(ids).toEqual([]);
    expect(records.filter((r) => r.level === "warn" || r.level === "error")).toEqual([]);
  });

  test("skips a container whose process exits while it is described, even when its bundle is gone too", async () => {
    const host = new FakeHost().vanishingProcess(10, 1).runc("/run/runc", "going", 10, 1);
    expect((await enumerate(host, [RUNC])).ids).toEqual([]);
  });

  test("describes every container of a busy node (more than one concurrent slice)", async () => {
    const host = new FakeHost();
    for (let i = 0; i < 150; i++)
      host
        .process(1000 + i, 7)
        .runc("/run/runc", `c${i}`, 1000 + i, 7)
        .bundle(`/bundles/c${i}`);
    host.runc("/run/runc", "dead", 5, 7);
    const { containers } = await enumerate(host, [RUNC]);
    expect(containers).toHaveLength(150);
    expect(new Set(containers.map((c) => c.namespaces.pid)).size).toBe(150);
  });
});

describe("listLiveEntries() and describeEntry(), the poller's two steps", () => {
  test("listing reads state files and /proc/<pid>/stat only: no bundle, no namespace link", async () => {
    const host = new FakeHost()
      .process(10, 1)
      .process(20, 5)
      .runc("/run/runc", "a", 10, 1)
      .crun("/run/crun", "c", 20, 5)
      .bundle("/bundles/a")
      .bundle("/bundles/c");
    const entries = await listLiveEntries([RUNC, CRUN], host.deps, recordingLogger().log);
    expect(entries).toEqual([
      { id: "a", pid: 10, startTime: 1, bundle: "/bundles/a", annotations: {} },
      { id: "c", pid: 20, startTime: 5, bundle: "/bundles/c" },
    ]);
    expect(host.reads.filter((path) => !path.endsWith("/state.json") && !path.endsWith("/status") && !path.endsWith("/stat"))).toEqual([]);
    expect(host.linkReads).toEqual([]);
  });

  test("listing leaves out what enumeration skips: a gone process, a reused pid", async () => {
    const host = new FakeHost()
      .process(10, 1)
      .process(11, 2000)
      .runc("/run/runc", "live", 10, 1)
      .runc("/run/runc", "dead", 99, 1)
      .runc("/run/runc", "reused", 11, 1000);
    expect((await listLiveEntries([RUNC], host.deps, recordingLogger().log)).map((e) => e.id)).toEqual(["live"]);
  });

  test("listing gives the start time /proc shows, even when the state records none", async () => {
    const host = new FakeHost().process(10, 2000).crun("/run/crun", "x", 10, undefined);
    expect(await listLiveEntries([CRUN], host.deps, recordingLogger().log)).toEqual([{ id: "x", pid: 10, startTime: 2000, bundle: "/bundles/x" }]);
  });

  test("describing a listed entry gives the record enumeration gives", async () => {
    const host = new FakeHost().process(10, 1).runc("/run/runc", "a", 10, 1).bundle("/bundles/a");
    const { log } = recordingLogger();
    const [entry] = await listLiveEntries([RUNC], host.deps, log);
    expect(entry).toBeDefined();
    expect(await describeEntry(entry!, host.deps, log)).toEqual((await enumerate(host, [RUNC])).containers[0]);
  });

  test("describing an entry whose process exited since the listing gives undefined", async () => {
    const host = new FakeHost().process(10, 1).runc("/run/runc", "a", 10, 1).bundle("/bundles/a");
    const { log } = recordingLogger();
    const [entry] = await listLiveEntries([RUNC], host.deps, log);
    host.links.clear();
    expect(await describeEntry(entry!, host.deps, log)).toBeUndefined();
  });
});
