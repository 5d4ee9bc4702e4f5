/**
 * What armor-agent nri does with each NRI call, apart from the wire: inject the
 * hook at CreateContainer (or refuse it, fail-closed), hand the agent what the
 * runtime runs at every Synchronize, register sandboxes when they run, and pass
 * removals on. Every answer to the runtime is immediate or bounded by the agent
 * ping; the agent work queues behind it, in order, and is retried until it lands.
 */
import type { ContainerInfo } from "../container.ts";
import { failureVerdict, type FailPolicy } from "../fail-policy.ts";
import type { Logger } from "../log.ts";
import { hasOurHook } from "./hook-entry.ts";
import { CONTAINER_STATE, eventMask, NRI_EVENT, RPC_CODE, type Container, type OciHook, type PodSandbox } from "./messages.ts";
import { RpcError } from "./ttrpc.ts";

/** The events the plugin subscribes to. */
export const SUBSCRIBED_EVENTS = [
  NRI_EVENT.RUN_POD_SANDBOX,
  NRI_EVENT.STOP_POD_SANDBOX,
  NRI_EVENT.REMOVE_POD_SANDBOX,
  NRI_EVENT.CREATE_CONTAINER,
  NRI_EVENT.STOP_CONTAINER,
  NRI_EVENT.REMOVE_CONTAINER,
] as const;

/** How long CreateContainer waits for the agent's ping under fail-closed: far inside the runtime's 2 s. */
export const AGENT_PING_MS = 500;
/** Agent work that failed is retried after this, doubling up to RETRY_MAX_MS. */
export const RETRY_MIN_MS = 250;
export const RETRY_MAX_MS = 5_000;

/** The agent, as the plugin uses it (lib/nri/agent-port.ts over the socket; a fake in tests). */
export interface AgentPort {
  /** One batch of records taken after their start (bootstrap-begin, registers of source "nri", bootstrap-end). */
  batch(records: readonly ContainerInfo[]): Promise<void>;
  register(record: ContainerInfo): Promise<void>;
  unregister(id: string): Promise<void>;
  /** True when the agent answers a ping within AGENT_PING_MS. */
  reachable(): Promise<boolean>;
}

/** What the plugin is to describe: a running container or sandbox, as NRI reports it. */
export interface NriRef {
  kind: "container" | "sandbox";
  id: string;
  pid: number;
  /** The container's name (empty for a sandbox). */
  name: string;
  annotations: Readonly<Record<string, string>>;
  pod: PodSandbox | null;
}

export interface PluginOptions {
  /** The entries to inject (lib/nri/hook-entry.ts). */
  hooks: { createRuntime: OciHook[]; poststop: OciHook[] };
  hookPath: string;
  failPolicy: FailPolicy;
  failAllowNamespaces: readonly string[];
  agentNamespace: string;
  agentName: string;
}

export interface PluginDeps {
  agent: AgentPort;
  /** The record of a running container or sandbox, or undefined when it is gone (lib/nri/describe.ts). */
  describe: (ref: NriRef) => Promise<ContainerInfo | undefined>;
  /** False when the agent has never started on this node (its spool directory does not exist). */
  agentEverStarted: () => boolean;
  log: Logger;
}

/**
 * Agent work, in arrival order. Each item first updates what the plugin holds, then
 * talks to the agent; when the talking fails, "resend" (the whole held set as one
 * batch, then every unconfirmed removal) replaces it until the agent takes it.
 */
type Work = { kind: "sync"; refs: NriRef[] } | { kind: "add"; ref: NriRef } | { kind: "remove"; id: string } | { kind: "resend" };

/** The plugin's behaviour; one instance lives across reconnections, so what it handed the agent is remembered. */
export class NriPlugin {
  readonly #o: PluginOptions;
  readonly #d: PluginDeps;
  /** What the plugin registered on the agent's behalf and still runs: re-sent whole after a failure. */
  readonly #held = new Map<string, ContainerInfo>();
  /** Removals the agent has not confirmed yet. */
  readonly #removals = new Set<string>();
  readonly #queue: Work[] = [];
  #running: Promise<void> | undefined;
  #retryMs = RETRY_MIN_MS;
  #retry: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;

  constructor(options: PluginOptions, deps: PluginDeps) {
    this.#o = options;
    this.#d = deps;
  }

  /** ConfigureResponse.events. */
  eventMask(): number {
    return eventMask(SUBSCRIBED_EVENTS);
  }

  /**
   * The runtime's every running container and sandbox: they reach the agent as one
   * batch (after the answer; work queued before it goes first), and what the plugin
   * held that the runtime no longer lists is removed.
   */
  synchronize(pods: readonly PodSandbox[], containers: readonly Container[]): void {
    const podsById = new Map(pods.map((pod) => [pod.id, pod]));
    const refs: NriRef[] = [
      ...pods.filter((pod) => pod.pid > 0).map((pod) => sandboxRef(pod)),
      ...containers.filter((c) => c.pid > 0 && c.state !== CONTAINER_STATE.STOPPED).map((c) => containerRef(c, podsById.get(c.podSandboxId) ?? null)),
    ];
    this.#d.log("info", "NRI synchronize", { pods: pods.length, containers: containers.length, running: refs.length });
    this.#enqueue({ kind: "sync", refs });
  }

  /**
   * The hook entries for a container being created, or null when it already runs our
   * hook. Under fail-closed, an agent that does not answer the ping refuses the
   * container (an error status fails its creation), with the hook's exceptions.
   */
  async createContainer(pod: PodSandbox | null, container: Container): Promise<{ createRuntime: OciHook[]; poststop: OciHook[] } | null> {
    if (hasOurHook(container.hooks.createRuntime, this.#o.hookPath)) {
      this.#d.log("debug", "container already runs armor-hook; nothing injected", { container: container.id });
      return null;
    }
    if (this.#o.failPolicy === "closed" && !this.#agentOwn(pod, container) && !(await this.#d.agent.reachable())) {
      const verdict = failureVerdict({
        policy: "closed",
        stage: "createRuntime",
        namespace: pod?.namespace || null,
        allowNamespaces: this.#o.failAllowNamespaces,
        agentEverStarted: this.#d.agentEverStarted(),
      });
      this.#d.log(verdict.action === "refuse" ? "warn" : "info", "agent unreachable at CreateContainer", { container: container.id, reason: verdict.reason });
      if (verdict.action === "refuse") {
        throw new RpcError(RPC_CODE.FAILED_PRECONDITION, `armor-agent nri: E_AGENT_UNREACHABLE: the agent does not answer; ${verdict.reason}`);
      }
    }
    return this.#o.hooks;
  }

  /** StopContainer: the container has stopped. */
  stopContainer(container: Container): void {
    this.#enqueue({ kind: "remove", id: container.id });
  }

  /** StateChange: a sandbox runs or goes; a container is removed. */
  stateChange(event: number, pod: PodSandbox | null, container: Container | null): void {
    if (event === NRI_EVENT.RUN_POD_SANDBOX && pod && pod.pid > 0) this.#enqueue({ kind: "add", ref: sandboxRef(pod) });
    else if ((event === NRI_EVENT.STOP_POD_SANDBOX || event === NRI_EVENT.REMOVE_POD_SANDBOX) && pod) this.#enqueue({ kind: "remove", id: pod.id });
    else if (event === NRI_EVENT.REMOVE_CONTAINER && container) this.#enqueue({ kind: "remove", id: container.id });
  }

  /** Resolves once queued agent work is done (or waiting for a retry). */
  async idle(): Promise<void> {
    while (this.#running) await this.#running;
  }

  /** Whether agent work failed and waits for its retry. */
  get retrying(): boolean {
    return this.#retry !== undefined;
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#retry);
    this.#retry = undefined;
  }

  /**
   * The agent's own container or pod: only in the agent's namespace, where a pod author
   * cannot name a container "armor-agent" to slip past fail-closed.
   */
  #agentOwn(pod: PodSandbox | null, container: Container): boolean {
    if (pod === null || pod.namespace !== this.#o.agentNamespace) return false;
    const name = this.#o.agentName;
    const arg0 = container.args[0] ?? "";
    return container.name === name || arg0.slice(arg0.lastIndexOf("/") + 1) === name || pod.name === name || pod.name.startsWith(`${name}-`);
  }

  #enqueue(work: Work): void {
    this.#queue.push(work);
    if (!this.#running && !this.#retry) this.#running = this.#drain();
  }

  async #drain(): Promise<void> {
    try {
      while (this.#queue.length > 0 && !this.#stopped) {
        await this.#do(this.#queue[0] as Work);
        this.#queue.shift();
        this.#retryMs = RETRY_MIN_MS;
      }
    } catch (err) {
      // The failed item's effect is in #held and #removals already: a resend carries it.
      this.#queue.shift();
      this.#queue.unshift({ kind: "resend" });
      // The first failure says so; its retries (every 5 s at most) only at debug.
      this.#d.log(this.#retryMs === RETRY_MIN_MS ? "warn" : "debug", "agent work failed; retrying", {
        error: err instanceof Error ? err.message : String(err),
        retryMs: this.#retryMs,
      });
      this.#scheduleRetry();
    } finally {
      this.#running = undefined;
    }
  }

  #scheduleRetry(): void {
    if (this.#stopped) return;
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      this.#running = this.#drain();
    }, this.#retryMs);
    this.#retryMs = Math.min(this.#retryMs * 2, RETRY_MAX_MS);
  }

  async #do(work: Work): Promise<void> {
    switch (work.kind) {
      case "add": {
        const record = await this.#describe(work.ref);
        if (!record) return;
        this.#held.set(record.id, record);
        this.#removals.delete(record.id);
        return this.#d.agent.register(record);
      }
      case "remove":
        this.#held.delete(work.id);
        this.#removals.add(work.id);
        return this.#flushRemovals();
      case "sync": {
        // The runtime's list is the whole truth: what the plugin held and it no longer lists has gone.
        const fresh = new Map<string, ContainerInfo>();
        for (const ref of work.refs) {
          const record = await this.#describe(ref);
          if (record) fresh.set(record.id, record);
        }
        for (const id of this.#held.keys()) if (!fresh.has(id)) this.#removals.add(id);
        this.#held.clear();
        for (const [id, record] of fresh) {
          this.#held.set(id, record);
          this.#removals.delete(id);
        }
        return this.#resend();
      }
      case "resend":
        return this.#resend();
    }
  }

  async #resend(): Promise<void> {
    await this.#d.agent.batch([...this.#held.values()]);
    await this.#flushRemovals();
  }

  async #flushRemovals(): Promise<void> {
    for (const id of [...this.#removals]) {
      await this.#d.agent.unregister(id);
      this.#removals.delete(id);
    }
  }

  async #describe(ref: NriRef): Promise<ContainerInfo | undefined> {
    try {
      return await this.#d.describe(ref);
    } catch (err) {
      this.#d.log("warn", "cannot describe a container the runtime reported", { id: ref.id, error: err instanceof Error ? err.message : String(err) });
      return undefined;
    }
  }
}

function sandboxRef(pod: PodSandbox): NriRef {
  return { kind: "sandbox", id: pod.id, pid: pod.pid, name: "", annotations: pod.annotations, pod };
}

function containerRef(container: Container, pod: PodSandbox | null): NriRef {
  return { kind: "container", id: container.id, pid: container.pid, name: container.name, annotations: container.annotations, pod };
}
