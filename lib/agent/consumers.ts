/**
 * The agent's consumer side as one component: the watch hub (watchers and gates),
 * lookups by host pid, and the stale-record sweeper, over one registry.
 */
import { readlinkSync } from "node:fs";
import type { Logger } from "../log.ts";
import type { ReadLink } from "../proc/namespaces.ts";
import type { Registry } from "../registry.ts";
import type { Consumers } from "./dispatch.ts";
import { DEFAULT_SWEEP_INTERVAL_MS, readProcStat, Sweeper, type ReadStat } from "./sweep.ts";
import { WatchHub, type GatePolicy } from "./watch.ts";

/** Options of the consumer side. */
export interface ConsumerOptions {
  registry: Registry;
  log: Logger;
  gatePolicy: GatePolicy;
  sweepIntervalMs: number;
  readLink: ReadLink;
  readStat: ReadStat;
}

/** The consumer side, with the shape every agent component has. */
export interface ConsumerSide extends Consumers {
  sweeper: Sweeper;
  start: () => void;
  stop: () => void;
  /** The gates' and the sweep's series for /metrics. */
  renderMetrics: () => string;
}

const NS_LINK = /^(?:pid|mnt):\[(\d+)\]$/;

/** Builds the hub and the sweeper; start() begins the periodic sweep. */
export function createConsumers(options: ConsumerOptions): ConsumerSide {
  const { registry, log, readLink, readStat } = options;
  const hub = new WatchHub({ registry, log, policy: options.gatePolicy });
  const sweeper = new Sweeper({ registry, log, readLink, readStat, intervalMs: options.sweepIntervalMs });
  const inode = (path: string): number | undefined => {
    try {
      const match = NS_LINK.exec(readLink(path));
      return match?.[1] === undefined ? undefined : Number(match[1]);
    } catch {
      return undefined;
    }
  };
  return {
    hub,
    sweeper,
    namespacesOf: (pid) => {
      const pidns = inode(`/proc/${pid}/ns/pid`);
      const mntns = inode(`/proc/${pid}/ns/mnt`);
      return pidns === undefined || mntns === undefined ? undefined : { pid: pidns, mnt: mntns };
    },
    check: (container) => sweeper.check(container),
    sweep: () => sweeper.status(),
    start: () => sweeper.start(),
    renderMetrics: () => hub.renderMetrics() + sweeper.renderMetrics(),
    stop: () => {
      sweeper.stop();
      hub.stop();
    },
  };
}

/** What a server that was given none uses: the host's /proc, gates open, sweeping on lookup only. */
export function defaultConsumers(registry: Registry, log: Logger): ConsumerSide {
  return createConsumers({
    registry,
    log,
    gatePolicy: "open",
    sweepIntervalMs: DEFAULT_SWEEP_INTERVAL_MS,
    readLink: (path) => readlinkSync(path),
    readStat: readProcStat,
  });
}

/** The host's /proc/<pid>/stat. */
