/** runBootstrap(): wait for the agent, enumerate, send the batch — with a fake host and an in-process agent. */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import type { UnixSocketListener } from "bun";
import { join } from "node:path";
import { BootstrapTracker } from "../../lib/agent/bootstrap.ts";
import type { EnumerateDeps } from "../../lib/bootstrap/enumerate.ts";
import { runBootstrap, type BootstrapOptions } from "../../lib/bootstrap/run.ts";
import { Registry } from "../../lib/registry.ts";
import { serve } from "../../lib/agent/server.ts";
import { containerInfo, recordingLogger, rejectionOf, tempDir } from "./_fixtures.ts";

let dir: { dir: string; remove: () => void };
let socketPath: string;
let registry: Registry;
let tracker: BootstrapTracker | undefined;
let listener: UnixSocketListener<unknown> | undefined;
let timers: Array<ReturnType<typeof setTimeout>>;

beforeEach(() => {
  dir = tempDir();
  socketPath = join(dir.dir, "agent.sock");
  registry = new Registry();
  tracker = undefined;
  timers = [];
});

afterEach(() => {
  for (const timer of timers) clearTimeout(timer);
  tracker?.stop();
  listener?.stop(true);
  listener = undefined;
  dir.remove();
});

/** Starts an agent waiting for the hook's batch, after `delayMs`. */
function startAgentAfter(delayMs: number): void {
  const { log } = recordingLogger();
  const t = new BootstrapTracker({ mode: "hook", deadlineMs: 5000, reconcile: async () => ({ unread: "no runtime state root is readable here" }), log });
  tracker = t;
  const start = (): void => {
    listener = serve({ socketPath, registry, info: { version: "1.0.0", startedAt: new Date(), bootstrap: t }, log });
    t.start();
  };
  if (delayMs === 0) start();
  else timers.push(setTimeout(start, delayMs));
}

const errno = (code: string): Error => Object.assign(new Error(code), { code });
const STAT = (start: number): string => `1 (sh) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 ${start} 0\n`;

/** A host with one runc container "pre" (pid 4242) and one stopped one. */
const host: EnumerateDeps = {
  readDir: (path) => {
    if (path === "/run/runc") return ["pre", "stopped"];
    throw errno("ENOENT");
  },
  readText: async (path) => {
    const files: Record<string, string> = {
      "/run/runc/pre/state.json": JSON.stringify({ id: "pre", init_process_pid: 4242, init_process_start: 9, config: { labels: ["bundle=/b/pre"] } }),
      "/run/runc/stopped/state.json": JSON.stringify({ id: "stopped", init_process_pid: 77, config: { labels: ["bundle=/b/stopped"] } }),
      "/proc/4242/stat": STAT(9),
      "/b/pre/config.json": JSON.stringify({ process: { args: ["sleep"], apparmorProfile: "armor-pre" } }),
    };
    const text = files[path];
    if (text === undefined) throw errno("ENOENT");
    return text;
  },
  readLink: (path) => {
    const match = /^\/proc\/4242\/ns\/(pid|mnt)$/.exec(path);
    if (!match) throw errno("ENOENT");
    return `${match[1]}:[${match[1] === "pid" ? 4026532001 : 4026532002}]`;
  },
  statIno: () => {
    throw errno("ENOENT");
  },
};

function options(overrides: Partial<BootstrapOptions> = {}): BootstrapOptions {
  return { socket: socketPath, roots: [{ format: "runc", path: "/run/runc" }], deadlineMs: 2000, timeoutMs: 1000, pollMs: 10, ...overrides };
}

describe("runBootstrap()", () => {
  test("registers the agent's own container first, as the hook described it, then sends the batch", async () => {
    startAgentAfter(0);
    const own = containerInfo({ id: "armor-agent-ctr", pid: 555 });
    expect(await runBootstrap(options({ agentContainer: own }), { ...host, log: recordingLogger().log })).toBe(1);
    expect(registry.get("armor-agent-ctr")).toMatchObject({ pid: 555, source: "hook" });
    expect(tracker?.status()).toMatchObject({ state: "ready", completedBy: "batch" });
  });

  test("an agent that is already ready gets no batch: the fork registers the agent's own container and exits at once", async () => {
    const { log, records } = recordingLogger();
    listener = serve({ socketPath, registry, info: { version: "1.0.0", startedAt: new Date() }, log });
    const own = containerInfo({ id: "armor-agent-ctr", pid: 555 });
    expect(await runBootstrap(options({ agentContainer: own, settleMs: 60_000 }), { ...host, log })).toBe(0);
    expect(registry.get("armor-agent-ctr")).toMatchObject({ source: "hook" });
    expect(registry.get("pre")).toBeUndefined();
    expect(records.map((r) => r.msg)).toContain("the agent is already ready; no batch to send");
  });

  test("sends the pre-existing containers to an agent that is already up", async () => {
    startAgentAfter(0);
    const { log } = recordingLogger();
    expect(await runBootstrap(options(), { ...host, log })).toBe(1);
    expect(registry.get("pre")).toMatchObject({
      pid: 4242,
      source: "bootstrap",
      apparmorProfile: "armor-pre",
      namespaces: { pid: 4026532001, mnt: 4026532002 },
    });
    expect(registry.get("stopped")).toBeUndefined();
    expect(tracker?.status()).toMatchObject({ state: "ready", completedBy: "batch", containers: 1 });
  });

  test("polls until the agent answers, then sends the batch", async () => {
    startAgentAfter(120);
    const { log, records } = recordingLogger();
    let sleeps = 0;
    const started = Date.now();
    const sleep = (ms: number): Promise<void> => {
      sleeps += 1;
      return Bun.sleep(ms);
    };
    expect(await runBootstrap(options(), { ...host, log, sleep })).toBe(1);
    expect(Date.now() - started).toBeGreaterThanOrEqual(100);
    expect(sleeps).toBeGreaterThan(2);
    expect(tracker?.status()).toMatchObject({ state: "ready", completedBy: "batch", containers: 1 });
    expect(records.map((r) => r.msg)).toEqual(
      expect.arrayContaining(["waiting for the agent", "agent answers; enumerating runtime state", "bootstrap batch sent"]),
    );
  });

  test("gives up with E_AGENT_TIMEOUT when no agent answers within the deadline", async () => {
    const { log } = recordingLogger();
    const started = Date.now();
    const err = await rejectionOf(runBootstrap(options({ deadlineMs: 80 }), { ...host, log }));
    expect(err.code).toBe("E_AGENT_TIMEOUT");
    expect(err.message).toStartWith("agent did not answer within 80 ms (last: ");
    expect(Date.now() - started).toBeGreaterThanOrEqual(80);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  test("the settle pass sends, as a second batch, a container whose state appeared after the first", async () => {
    startAgentAfter(0);
    const { log, records } = recordingLogger();
    let second = false;
    // runc writes "late"'s state only after the first look (its createRuntime hooks were still running).
    const later: EnumerateDeps = {
      readDir: (path) => (path === "/run/runc" && second ? ["pre", "late"] : host.readDir(path)),
      readText: async (path) => {
        const files: Record<string, string> = {
          "/run/runc/late/state.json": JSON.stringify({ id: "late", init_process_pid: 4242, init_process_start: 9, config: { labels: ["bundle=/b/pre"] } }),
        };
        return files[path] ?? host.readText(path);
      },
      readLink: host.readLink,
      statIno: host.statIno,
    };
    const sleep = async (ms: number): Promise<void> => {
      if (ms === 500) second = true;
      await Bun.sleep(1);
    };
    expect(await runBootstrap(options({ settleMs: 500 }), { ...later, log, sleep })).toBe(1);
    expect(registry.get("late")).toMatchObject({ source: "bootstrap", pid: 4242 });
    expect(records).toContainEqual(expect.objectContaining({ level: "warn", msg: "settle pass: sent containers the batch missed" }));
  });

  test("the settle pass sends nothing when the first batch missed nothing", async () => {
    startAgentAfter(0);
    const { log, records } = recordingLogger();
    expect(await runBootstrap(options({ settleMs: 500 }), { ...host, log, sleep: () => Bun.sleep(1) })).toBe(1);
    expect(records.map((r) => r.msg)).toContain("settle pass: the batch missed nothing");
  });

  test("a settle pass that cannot reach the agent is logged, and the bootstrap still succeeds", async () => {
    startAgentAfter(0);
    const { log, records } = recordingLogger();
    let agentGone = false;
    const sleep = async (ms: number): Promise<void> => {
      if (ms === 500) {
        listener?.stop(true);
        agentGone = true;
      }
      await Bun.sleep(1);
    };
    // The second look finds a container the batch did not have, but no agent to send it to.
    const later: EnumerateDeps = {
      readDir: (path) => (path === "/run/runc" && agentGone ? ["pre", "late"] : host.readDir(path)),
      readText: async (path) =>
        path === "/run/runc/late/state.json"
          ? JSON.stringify({ id: "late", init_process_pid: 4242, init_process_start: 9, config: { labels: ["bundle=/b/pre"] } })
          : host.readText(path),
      readLink: host.readLink,
      statIno: host.statIno,
    };
    expect(await runBootstrap(options({ settleMs: 500 }), { ...later, log, sleep })).toBe(1);
    expect(records).toContainEqual(expect.objectContaining({ level: "warn", msg: "settle pass failed" }));
  });

  test("ends the agent's bootstrap with an empty batch when no state root is readable", async () => {
    startAgentAfter(0);
    const { log, records } = recordingLogger();
    expect(await runBootstrap(options({ roots: [{ format: "crun", path: "/run/crun" }] }), { ...host, log })).toBe(0);
    expect(records).toContainEqual({ level: "warn", msg: "no runtime state root could be read", fields: { roots: ["/run/crun"] } });
    expect(tracker?.status()).toMatchObject({ state: "ready", completedBy: "batch", containers: 0 });
  });
});
