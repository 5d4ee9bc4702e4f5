/** Shared builders for unit tests: container records, a recording logger, temp dirs. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ContainerInfo } from "../../lib/container.ts";
import { ArmorError } from "../../lib/errors.ts";
import type { Level, Logger } from "../../lib/log.ts";

/** A valid ContainerInfo; `overrides` replace whole fields. */
export function containerInfo(overrides: Partial<ContainerInfo> = {}): ContainerInfo {
  return {
    id: "c1",
    pid: 4242,
    bundle: "/run/bundles/c1",
    namespaces: { pid: 4026532001, mnt: 4026532002, net: 4026532003 },
    apparmorProfile: "armor-default",
    pod: null,
    containerName: null,
    sandboxId: null,
    image: null,
    containerType: null,
    cgroup: null,
    ...overrides,
  };
}

/** A logger that keeps what it is given. */
export function recordingLogger(): { log: Logger; records: Array<{ level: Level; msg: string; fields?: Record<string, unknown> }> } {
  const records: Array<{ level: Level; msg: string; fields?: Record<string, unknown> }> = [];
  const log: Logger = (level, msg, fields) => {
    records.push(fields === undefined ? { level, msg } : { level, msg, fields });
  };
  return { log, records };
}

/** A fresh private temp dir, and a function removing it. */
export function tempDir(prefix = "armor-unit-"): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Runs `fn` and returns the ArmorError it throws; fails when it throws nothing or something else. */
export function armorErrorOf(fn: () => unknown): ArmorError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ArmorError) return err;
    throw new Error(`expected an ArmorError, got ${String(err)}`);
  }
  throw new Error("expected an ArmorError, nothing was thrown");
}

/** Awaits `promise` and returns the ArmorError it rejects with. */
export async function rejectionOf(promise: Promise<unknown>): Promise<ArmorError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof ArmorError) return err;
    throw new Error(`expected an ArmorError, got ${String(err)}`);
  }
  throw new Error("expected an ArmorError, the promise resolved");
}

/** Mulberry32: a small seeded PRNG so property-style tests are reproducible. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Polls `check` every 5 ms until it holds; fails naming the time waited after `ms`. */
export async function until(check: () => boolean, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${ms} ms`);
    await Bun.sleep(5);
  }
}
