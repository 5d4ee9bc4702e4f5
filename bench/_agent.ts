/**
 * A real `armor-agent serve` for the polling-vs-events bench, in events mode or
 * as the polling baseline, with a `watch` connection that records when each
 * container was first held and the agent's CPU time read from /proc.
 */
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import type { Subprocess } from "bun";
import { AgentClient, callAgent } from "../lib/client.ts";
import type { Container } from "../lib/container.ts";
import { cpuSeconds } from "./_clock.ts";

/** How the agent learns containers: hook events, or listing the state root every `intervalMs`. */
export type Mode = { kind: "events" } | { kind: "poll"; intervalMs: number };

/** A short name for a mode, as tables print it. */
export const modeName = (mode: Mode): string => (mode.kind === "events" ? "events (hook)" : `poll ${mode.intervalMs} ms`);

/** A running agent with a watcher. */
export class BenchAgent {
  readonly socket: string;
  /** First `add` of each container id: the record as held (its `registeredAt`). */
  readonly firstAdd = new Map<string, Container>();
  readonly removed = new Set<string>();
  readonly #proc: Subprocess<"ignore", "ignore", "pipe">;
  readonly #watcher: AgentClient;

  private constructor(socket: string, proc: Subprocess<"ignore", "ignore", "pipe">, watcher: AgentClient) {
    this.socket = socket;
    this.#proc = proc;
    this.#watcher = watcher;
  }

  /** Starts the agent (`agentBin`) on `socket`; polling mode lists `runcRoot`; `extra` flags go to `serve`. */
  static async start(agentBin: string, socket: string, mode: Mode, runcRoot: string, extra: string[] = []): Promise<BenchAgent> {
    mkdirSync(dirname(socket), { recursive: true, mode: 0o700 });
    const modeArgs = mode.kind === "poll" ? ["--mode", "poll", "--interval-ms", String(mode.intervalMs)] : [];
    const proc = Bun.spawn([agentBin, "serve", "--socket", socket, "--log-level", "warn", "--state-root", `runc:${runcRoot}`, ...modeArgs, ...extra], {
      stdin: "ignore",
      stdout: "ignore",
      stderr: "pipe",
    });
    void (async () => {
      for await (const chunk of proc.stderr) process.stderr.write(chunk);
    })();
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`armor-agent exited with ${proc.exitCode}`);
      const ok = await callAgent({ socket, timeoutMs: 1000 }, { op: "status" }).then(
        (status) => (status as { state?: string }).state === "ready",
        () => false,
      );
      if (ok) break;
      if (Date.now() > deadline) throw new Error("armor-agent did not become ready within 15 s");
      await Bun.sleep(20);
    }
    const watcher = await AgentClient.connect({ socket, timeoutMs: 5000, maxFrameBytes: 64 * 1024 * 1024 });
    const agent = new BenchAgent(socket, proc, watcher);
    watcher.listen(
      (event) => {
        if (event.event === "add" && !agent.firstAdd.has(event.container.id)) agent.firstAdd.set(event.container.id, event.container);
        if (event.event === "remove") agent.removed.add(event.container.id);
      },
      () => undefined,
    );
    await watcher.request({ op: "watch" });
    return agent;
  }

  get pid(): number {
    return this.#proc.pid;
  }

  /** User + system CPU seconds the agent has used so far. */
  cpu(): Promise<number> {
    return cpuSeconds(this.#proc.pid);
  }

  /** How many containers the agent holds now. */
  async held(): Promise<number> {
    const status = (await callAgent({ socket: this.socket, timeoutMs: 5000 }, { op: "status" })) as { containers: number };
    return status.containers;
  }

  /** Waits until `check` holds or `timeoutMs` passes; returns whether it held. */
  async until(check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (await check()) return true;
      await Bun.sleep(20);
    }
    return check();
  }

  /** Stops the watcher and the agent (SIGTERM) and reaps it. */
  async stop(): Promise<void> {
    this.#watcher.close();
    if (this.#proc.exitCode === null) this.#proc.kill("SIGTERM");
    await this.#proc.exited;
  }
}
