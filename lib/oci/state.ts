/**
 * The OCI state a runtime writes on a hook's stdin (runtime-spec state.md), and
 * the hook stage it implies.
 */
import * as v from "valibot";
import { ArmorError } from "../errors.ts";
import { parseJson, parseWith } from "../validate.ts";

/** Largest state document the hook reads from stdin. */
export const MAX_STATE_BYTES = 1024 * 1024;

/** What the hook does for a stage: `register` before the process starts, `unregister` after it stops. */
export type Stage = "createRuntime" | "poststop";

const STAGE_ALIASES: Record<string, Stage> = {
  createRuntime: "createRuntime",
  prestart: "createRuntime",
  poststop: "poststop",
};

/** At most this many annotations in the state or in config.json: a bound on what one document makes the hook walk. */
export const MAX_ANNOTATIONS = 1024;

/** Annotations (string → string), at most MAX_ANNOTATIONS of them. */
export const AnnotationsSchema = v.pipe(
  v.record(v.string(), v.string()),
  v.check((annotations) => Object.keys(annotations).length <= MAX_ANNOTATIONS, `more than ${MAX_ANNOTATIONS} annotations`),
);

export const StateSchema = v.looseObject({
  ociVersion: v.optional(v.string()),
  id: v.pipe(v.string(), v.minLength(1, "empty")),
  status: v.optional(v.string()),
  // runc omits pid at poststop, crun sends 0, podman's own poststop sends none.
  pid: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0))),
  bundle: v.optional(v.string()),
  annotations: v.optional(AnnotationsSchema),
});
export type State = v.InferOutput<typeof StateSchema>;

/** Parses the state document; throws E_STATE naming what is wrong. */
export function parseState(text: string): State {
  const json = parseJson(text, "OCI state on stdin", "E_STATE");
  return parseWith(StateSchema, json, "OCI state on stdin", "E_STATE");
}

/** The stage an argument names, or undefined (none, or one resolveStage() refuses). */
export function stageOfArgument(argument: string | undefined): Stage | undefined {
  return argument !== undefined && Object.hasOwn(STAGE_ALIASES, argument) ? STAGE_ALIASES[argument] : undefined;
}

/** The stage: an explicit argument wins; otherwise the status tells it. */
export function resolveStage(state: State, argument: string | undefined): Stage {
  if (argument !== undefined) {
    // Own keys only: "toString" or "__proto__" must not resolve to Object.prototype members.
    const stage = Object.hasOwn(STAGE_ALIASES, argument) ? STAGE_ALIASES[argument] : undefined;
    if (!stage) {
      throw new ArmorError("E_STAGE", `unknown stage "${argument}" (expected createRuntime or poststop)`);
    }
    return stage;
  }
  switch (state.status) {
    case "creating":
    case "created":
      return "createRuntime";
    case "stopped":
      return "poststop";
    default:
      throw new ArmorError("E_STAGE", `cannot tell the stage from status "${state.status ?? "(none)"}": pass createRuntime or poststop as an argument`);
  }
}
