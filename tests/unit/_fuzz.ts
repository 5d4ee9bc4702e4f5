/**
 * Seeded fuzz inputs shared by the unit and end-to-end fuzz tests: frames for the
 * agent (valid, mutated, random, oversize) and OCI documents for the hook. The
 * same seed gives the same inputs, so a failure can be replayed.
 */
import * as v from "valibot";
import { ContainerSchema } from "../../lib/container.ts";
import type { Registry } from "../../lib/registry.ts";
import { MAX_FRAME_BYTES } from "../../lib/wire/frame.ts";
import { seededRandom } from "./_fixtures.ts";

/** A seeded source of choices. */
export class Fuzzer {
  readonly random: () => number;
  constructor(seed: number) {
    this.random = seededRandom(seed);
  }
  int(max: number): number {
    return Math.floor(this.random() * max);
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T;
  }
  chance(p: number): boolean {
    return this.random() < p;
  }
}

const TOKENS = [
  '"',
  "{",
  "}",
  "[",
  "]",
  ",",
  ":",
  "\\",
  "\u0000",
  "\n",
  "é",
  "\ud800",
  "null",
  "true",
  "-1",
  "0",
  "1e309",
  "2147483648",
  '"__proto__"',
  '"constructor"',
  "[]",
  "{}",
  '""',
  `"${"a".repeat(5000)}"`,
];

/** A few random edits of a text: replaced, deleted, duplicated or inserted pieces, or a cut. */
export function mutateText(f: Fuzzer, text: string): string {
  let out = text;
  for (let edits = 1 + f.int(4); edits > 0; edits--) {
    const at = f.int(out.length + 1);
    switch (f.int(5)) {
      case 0:
        out = out.slice(0, at) + f.pick(TOKENS) + out.slice(at + 1);
        break;
      case 1:
        out = out.slice(0, at) + out.slice(at + 1 + f.int(20));
        break;
      case 2:
        out = out.slice(0, at) + out.slice(at, at + f.int(40)) + out.slice(at);
        break;
      case 3:
        out = out.slice(0, at) + f.pick(TOKENS) + out.slice(at);
        break;
      default:
        out = out.slice(0, at);
    }
  }
  return out;
}

/** Any JSON value, small. */
export function randomJson(f: Fuzzer, depth = 0): unknown {
  switch (depth > 2 ? f.int(5) : f.int(7)) {
    case 0:
      return null;
    case 1:
      return f.chance(0.5);
    case 2:
      return f.pick([0, -1, 1, 1.5, 2 ** 31, 2 ** 53, 4026532001, Number.MAX_SAFE_INTEGER]);
    case 3:
      return f.pick(["", "c1", "x".repeat(5000), "../../etc", "a b", "__proto__", "ready"]);
    case 4:
      return f.pick(["ping", "register", "unregister", "list", "get", "lookup", "status", "bootstrap-begin", "bootstrap-end"]);
    case 5:
      return Array.from({ length: f.int(4) }, () => randomJson(f, depth + 1));
    default: {
      const out: Record<string, unknown> = {};
      for (let n = f.int(5); n > 0; n--)
        out[f.pick(["v", "id", "op", "container", "source", "pid", "namespaces", "count", "pidns", "x"])] = randomJson(f, depth + 1);
      return out;
    }
  }
}

/** Replaces one field, at any depth, of a copy of `value` with random JSON (or removes it). */
export function mutateField(f: Fuzzer, value: unknown): unknown {
  const copy = structuredClone(value);
  let node = copy as Record<string, unknown>;
  for (;;) {
    const keys = Object.keys(node);
    if (keys.length === 0) return copy;
    const key = f.pick(keys);
    const child = node[key];
    if (typeof child === "object" && child !== null && f.chance(0.6)) {
      node = child as Record<string, unknown>;
      continue;
    }
    if (f.chance(0.2)) delete node[key];
    else node[key] = randomJson(f);
    return copy;
  }
}

/** A valid container record with an id from a small pool, so fuzzing adds and removes the same few. */
export function validContainer(f: Fuzzer): Record<string, unknown> {
  const n = f.int(20);
  return {
    id: `fz${n}`,
    pid: 1000 + n,
    bundle: `/run/fz/${n}`,
    // One pair per id: two live containers never share a pair (see registryProblems()).
    namespaces: { pid: 4026540000 + n, mnt: 4026550000 + n, net: 4026560000 + f.int(5) },
    apparmorProfile: f.pick([null, "armor-default"]),
    pod: f.chance(0.5) ? { name: `p${n}`, namespace: f.pick(["shop", "kube-system"]), uid: null } : null,
    containerName: null,
    sandboxId: null,
    image: f.pick([null, "busybox"]),
  };
}

/** A valid request (never `watch`: a watcher's events would be mixed with the answers counted). */
export function validRequest(f: Fuzzer, id: number): Record<string, unknown> {
  const base = { v: 1, id };
  const container = validContainer(f);
  switch (f.int(7)) {
    case 0:
    case 1:
      return { ...base, op: "register", source: f.pick(["hook", "bootstrap"]), container };
    case 2:
      return { ...base, op: "unregister", container: container.id };
    case 3:
      return { ...base, op: "get", container: container.id };
    case 4:
      return { ...base, op: "lookup", pidns: 4026540000 + f.int(20), mntns: 4026550000 + f.int(20) };
    case 5:
      return { ...base, op: f.pick(["ping", "list", "status"]) };
    default:
      return { ...base, op: "bootstrap-end", count: f.int(3) };
  }
}

const encoder = new TextEncoder();

function frameOf(payload: Uint8Array, length = payload.length): Uint8Array {
  const frame = new Uint8Array(4 + payload.length);
  new DataView(frame.buffer).setUint32(0, length);
  frame.set(payload, 4);
  return frame;
}

/** One fuzz frame; `fatal` frames break framing, so the agent answers once and closes the connection. */
export function fuzzFrame(f: Fuzzer, id: number): { bytes: Uint8Array; fatal: boolean; kind: string } {
  const roll = f.random();
  if (roll < 0.35) return { bytes: frameOf(encoder.encode(JSON.stringify(mutateField(f, validRequest(f, id))))), fatal: false, kind: "field" };
  if (roll < 0.65) {
    const text = mutateText(f, JSON.stringify(validRequest(f, id)));
    const payload = encoder.encode(text.length === 0 ? " " : text);
    return { bytes: frameOf(payload), fatal: false, kind: "text" };
  }
  if (roll < 0.75) return { bytes: frameOf(encoder.encode(JSON.stringify(randomJson(f)))), fatal: false, kind: "json" };
  if (roll < 0.85) {
    const payload = new Uint8Array(1 + f.int(300));
    for (let i = 0; i < payload.length; i++) payload[i] = f.int(256);
    return { bytes: frameOf(payload), fatal: false, kind: "bytes" };
  }
  if (roll < 0.9) {
    const length = f.pick([0, MAX_FRAME_BYTES + 1, 0xffffffff, 2 ** 31]);
    return { bytes: frameOf(new Uint8Array(f.int(8)), length), fatal: true, kind: "header" };
  }
  return { bytes: frameOf(encoder.encode(JSON.stringify(validRequest(f, id)))), fatal: false, kind: "valid" };
}

/** An OCI state document for the hook, valid or broken in one of many ways. */
export function fuzzState(f: Fuzzer, pid: number, bundle: string): string {
  const state = {
    ociVersion: "1.2.0",
    id: `fz${f.int(20)}`,
    status: f.pick(["created", "creating", "stopped"]),
    pid,
    bundle,
    annotations: { "io.kubernetes.pod.namespace": "shop", "io.kubernetes.pod.name": "p" },
  };
  const roll = f.random();
  if (roll < 0.2) return JSON.stringify(state);
  if (roll < 0.55) return JSON.stringify(mutateField(f, state));
  if (roll < 0.9) return mutateText(f, JSON.stringify(state));
  return JSON.stringify(randomJson(f));
}

/** A bundle config.json, valid or broken. */
export function fuzzConfig(f: Fuzzer): string {
  const config = {
    ociVersion: "1.2.0",
    process: { args: ["sleep", "1"], apparmorProfile: "armor-default" },
    annotations: { "io.kubernetes.container.name": "c" },
  };
  const roll = f.random();
  if (roll < 0.4) return JSON.stringify(config);
  if (roll < 0.7) return JSON.stringify(mutateField(f, config));
  return mutateText(f, JSON.stringify(config));
}

/**
 * What is wrong with a registry's contents (empty when nothing): every record valid,
 * and the index consistent — a lookup finds only a container holding that pair, and
 * always finds a pair only one container holds, unless two containers once shared it
 * (`collided`, from trackCollisions()). Two live containers never share a pair; when a
 * fuzzed one does, the latest registration owns it, and an older holder left behind
 * is a dead container's record, by design not indexed again.
 */
export function registryProblems(registry: Registry, collided: ReadonlySet<string> = new Set()): string[] {
  const problems: string[] = [];
  const list = registry.list();
  if (list.length !== registry.size) problems.push(`size ${registry.size} but list() has ${list.length}`);
  const holders = new Map<string, number>();
  for (const { namespaces } of list) holders.set(`${namespaces.pid}:${namespaces.mnt}`, (holders.get(`${namespaces.pid}:${namespaces.mnt}`) ?? 0) + 1);
  for (const container of list) {
    if (!v.safeParse(ContainerSchema, container).success) problems.push(`invalid record ${JSON.stringify(container).slice(0, 200)}`);
    if (registry.get(container.id) !== container) problems.push(`get(${container.id}) is not its list() entry`);
    const { pid, mnt } = container.namespaces;
    if (pid === undefined || mnt === undefined) continue;
    const owner = registry.lookup(pid, mnt);
    if (owner && (owner.namespaces.pid !== pid || owner.namespaces.mnt !== mnt))
      problems.push(`lookup(${pid}, ${mnt}) answers ${owner.id}, which holds another pair`);
    if (!owner && holders.get(`${pid}:${mnt}`) === 1 && !collided.has(`${pid}:${mnt}`))
      problems.push(`lookup(${pid}, ${mnt}) misses ${container.id}, its only holder`);
  }
  return problems;
}

/** Pairs ("pidns:mntns") that two different ids ever held at once, as the registry's events show. */
export function trackCollisions(registry: Registry): Set<string> {
  const collided = new Set<string>();
  registry.subscribe(({ event, container }) => {
    if (event !== "add") return;
    const key = `${container.namespaces.pid}:${container.namespaces.mnt}`;
    for (const other of registry.list()) {
      if (other.id !== container.id && `${other.namespaces.pid}:${other.namespaces.mnt}` === key) collided.add(key);
    }
  });
  return collided;
}
