/**
 * Where runtimes keep the state of their running containers on the host, and how
 * to read one container's pid, start time and bundle from it. No runtime socket,
 * no runtime client: only files the runtime writes for itself.
 */
import * as v from "valibot";
import { ArmorError } from "../errors.ts";
import { lazy } from "../validate.ts";

/**
 * How long after the agent comes up its runtime state is enumerated once more, adding
 * containers the first enumeration missed: runc writes a container's state only once
 * every createRuntime hook has returned, so a container the previous agent held can be
 * invisible to the first look. Above the hook timeout install.sh writes (5 s), with a margin.
 */
export const DEFAULT_SETTLE_MS = 10_000;

/** runc's format (`<root>/<id>/state.json`; also containerd's `<root>/<namespace>/<id>/state.json`) or crun's (`<root>/<id>/status`). */
export type StateFormat = "runc" | "crun";

/** One state root to enumerate. */
export interface StateRoot {
  format: StateFormat;
  path: string;
}

/** runc (CRI-O, podman, Docker's default root), containerd's runc shim (per namespace), crun. */
export const DEFAULT_STATE_ROOTS: readonly StateRoot[] = [
  { format: "runc", path: "/run/runc" },
  { format: "runc", path: "/run/containerd/runc" },
  { format: "crun", path: "/run/crun" },
];

/** Parses `FORMAT:PATH` (e.g. `runc:/run/runc`); throws E_USAGE. */
export function parseStateRoot(spec: string): StateRoot {
  const colon = spec.indexOf(":");
  const format = spec.slice(0, colon);
  const path = spec.slice(colon + 1);
  if (colon < 0 || (format !== "runc" && format !== "crun") || !path.startsWith("/")) {
    throw new ArmorError("E_USAGE", `--state-root must be runc:/absolute/path or crun:/absolute/path, got "${spec}"`);
  }
  return { format, path };
}

/** Parses `FORMAT:PATH[,FORMAT:PATH…]`, the one syntax of both binaries' --state-root; throws E_USAGE. */
export function parseStateRoots(specs: string): StateRoot[] {
  return specs
    .split(",")
    .filter((spec) => spec !== "")
    .map(parseStateRoot);
}

/** What a runtime's state says of one container. */
export interface StateEntry {
  id: string;
  pid: number;
  /** Start time of the pid when the runtime started it (clock ticks), to detect a reused pid. */
  startTime: number | undefined;
  bundle: string;
  /**
   * The container's annotations as runc keeps them in its state (libcontainer labels
   * `key=value`, beside `bundle=`): pod identity for an agent that sees the state root
   * but not the bundle (in a pod that mounts only the state roots). Absent for crun.
   */
  annotations?: Record<string, string>;
}

/** At most this many labels are read from one state file. */
export const MAX_STATE_LABELS = 1024;

/** runc's labels as annotations: every `key=value` but its own `bundle=`. */
function labelAnnotations(labels: readonly string[]): Record<string, string> {
  const annotations: Record<string, string> = {};
  for (const label of labels.slice(0, MAX_STATE_LABELS)) {
    const eq = label.indexOf("=");
    if (eq <= 0 || label.startsWith("bundle=")) continue;
    annotations[label.slice(0, eq)] = label.slice(eq + 1);
  }
  return annotations;
}

// Built on first use: the hook imports this module for its flags' defaults and never parses a state file.
const stateSchemas = lazy(() => {
  const pid = v.pipe(v.number(), v.integer(), v.minValue(1));
  return {
    runc: v.looseObject({
      id: v.string(),
      init_process_pid: pid,
      init_process_start: v.optional(v.number()),
      config: v.looseObject({ labels: v.optional(v.array(v.string())) }),
    }),
    crun: v.looseObject({
      pid,
      "process-start-time": v.optional(v.number()),
      bundle: v.string(),
    }),
  };
});

/** The file holding a container's state inside its directory, per format. */
export const STATE_FILE: Record<StateFormat, string> = { runc: "state.json", crun: "status" };

/** Parses one state file; returns undefined (with the reason) when it is not usable. */
export function parseStateFile(format: StateFormat, dirName: string, text: string): StateEntry | string {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return "not valid JSON";
  }
  if (format === "runc") {
    const parsed = v.safeParse(stateSchemas().runc, json);
    if (!parsed.success) return "not a runc state";
    const label = parsed.output.config.labels?.find((l) => l.startsWith("bundle="));
    if (!label) return "no bundle label";
    return {
      id: parsed.output.id,
      pid: parsed.output.init_process_pid,
      startTime: parsed.output.init_process_start,
      bundle: label.slice("bundle=".length),
      annotations: labelAnnotations(parsed.output.config.labels ?? []),
    };
  }
  const parsed = v.safeParse(stateSchemas().crun, json);
  if (!parsed.success) return "not a crun status";
  return { id: dirName, pid: parsed.output.pid, startTime: parsed.output["process-start-time"], bundle: parsed.output.bundle };
}
