/**
 * Versioned request, response and event schemas of the hook ↔ agent protocol
 * (see PROTOCOL.md). Every request carries `v` and a client-chosen `id`; the
 * agent answers each request exactly once, echoing that `id`.
 */
import * as v from "valibot";
import { ContainerIdSchema, ContainerInfoSchema, ContainerSchema, SourceSchema } from "../container.ts";
import type { ErrorCode } from "../errors.ts";
import { MAX_LOG_KEEP, MAX_LOG_MAX_BYTES, MIN_LOG_MAX_BYTES } from "../hook-log-record.ts";

// Here too for their users; defined where the hook's fast path reads them without these schemas.
export { DEFAULT_SOCKET } from "../layout.ts";
export { PROTOCOL_VERSION } from "./frame.ts";
import { PROTOCOL_VERSION } from "./frame.ts";

const version = v.literal(PROTOCOL_VERSION);
const requestId = v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(2 ** 31 - 1));
const inode = v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(Number.MAX_SAFE_INTEGER));
const revision = v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(Number.MAX_SAFE_INTEGER));

/** Names an agent process: a watch position (`rev`) means something only under its epoch. */
export const EpochSchema = v.pipe(v.string(), v.regex(/^[0-9a-f]{1,64}$/, "epoch must be 1 to 64 lowercase hex digits"));

/** A gate's name: it labels metrics and appears in the hook's refusal line. */
export const GateNameSchema = v.pipe(v.string(), v.regex(/^[A-Za-z0-9_.-]{1,64}$/, "gate name must be 1 to 64 of [A-Za-z0-9_.-]"));
/** Longest a gate may take over one container; the hook's own deadline may cut it shorter. */
export const MAX_GATE_TIMEOUT_MS = 60_000;
/** Longest nack reason kept: it travels in the hook's one-line refusal. */
export const MAX_NACK_REASON = 1024;

/** Where a watch consumer resumes: the epoch and the last revision it applied. */
export const SinceSchema = v.strictObject({ epoch: EpochSchema, rev: revision });
export type Since = v.InferOutput<typeof SinceSchema>;

/** Makes a watch a gate: live registrations wait for its ack (or nack) for at most `timeoutMs`. */
export const GateSchema = v.strictObject({
  name: GateNameSchema,
  timeoutMs: v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(MAX_GATE_TIMEOUT_MS)),
});
export type Gate = v.InferOutput<typeof GateSchema>;

/** `lookup` takes one of: a (pid, mnt) namespace pair, a host pid (read through /proc/<pid>/ns), a cgroup id. */
const LookupSchema = v.pipe(
  v.strictObject({
    v: version,
    id: requestId,
    op: v.literal("lookup"),
    pidns: v.optional(inode),
    mntns: v.optional(inode),
    pid: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(2 ** 31 - 1))),
    cgroupId: v.optional(inode),
  }),
  v.check((r) => {
    const pair = r.pidns !== undefined && r.mntns !== undefined;
    const forms = [pair, r.pid !== undefined, r.cgroupId !== undefined].filter(Boolean).length;
    return forms === 1 && (pair || (r.pidns === undefined && r.mntns === undefined));
  }, "lookup takes exactly one of: pidns and mntns, pid, cgroupId"),
);

/**
 * A hook's success line, in its register or unregister: only what the agent cannot know itself.
 * The agent writes the line once it has answered the call ok (lib/agent/hook-records.ts).
 */
export const HookLogSchema = v.strictObject({
  /** The hook's pid and milliseconds from its process start to sending this request. */
  pid: v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(2 ** 31 - 1)),
  ms: v.pipe(v.number(), v.minValue(0), v.maxValue(3_600_000)),
  /** The hook's rotation of the log (its --log-max-bytes and --log-keep). */
  maxBytes: v.pipe(v.number(), v.integer(), v.minValue(MIN_LOG_MAX_BYTES), v.maxValue(MAX_LOG_MAX_BYTES)),
  keep: v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(MAX_LOG_KEEP)),
});
export type HookLog = v.InferOutput<typeof HookLogSchema>;

export const RequestSchema = v.variant("op", [
  v.strictObject({ v: version, id: requestId, op: v.literal("ping") }),
  v.strictObject({
    v: version,
    id: requestId,
    op: v.literal("register"),
    source: SourceSchema,
    container: ContainerInfoSchema,
    /** Unix epoch ms by which the hook needs its answer: a register arriving later is not applied (E_DEADLINE), and gates never wait beyond it. */
    deadline: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(Number.MAX_SAFE_INTEGER))),
    log: v.optional(HookLogSchema),
  }),
  v.strictObject({ v: version, id: requestId, op: v.literal("unregister"), container: ContainerIdSchema, log: v.optional(HookLogSchema) }),
  v.strictObject({ v: version, id: requestId, op: v.literal("list") }),
  v.strictObject({ v: version, id: requestId, op: v.literal("get"), container: ContainerIdSchema }),
  LookupSchema,
  v.strictObject({ v: version, id: requestId, op: v.literal("watch"), since: v.optional(SinceSchema), gate: v.optional(GateSchema) }),
  v.strictObject({ v: version, id: requestId, op: v.literal("ack"), rev: revision }),
  v.strictObject({ v: version, id: requestId, op: v.literal("nack"), rev: revision, reason: v.pipe(v.string(), v.maxLength(MAX_NACK_REASON)) }),
  v.strictObject({ v: version, id: requestId, op: v.literal("status") }),
  v.strictObject({ v: version, id: requestId, op: v.literal("bootstrap-begin") }),
  v.strictObject({ v: version, id: requestId, op: v.literal("bootstrap-end"), count: v.pipe(v.number(), v.integer(), v.minValue(0)) }),
]);
export type Request = v.InferOutput<typeof RequestSchema>;
export type Op = Request["op"];

/** Request without the envelope fields, as callers build it. */
export type RequestBody = Request extends infer R ? (R extends Request ? Omit<R, "v" | "id"> : never) : never;

export const ErrorBodySchema = v.strictObject({
  code: v.pipe(v.string(), v.maxLength(64)),
  message: v.pipe(v.string(), v.maxLength(4096)),
});

export const ResponseSchema = v.variant("ok", [
  v.strictObject({ v: version, id: requestId, ok: v.literal(true), result: v.unknown() }),
  v.strictObject({ v: version, id: v.nullable(requestId), ok: v.literal(false), error: ErrorBodySchema }),
]);
export type Response = v.InferOutput<typeof ResponseSchema>;

/**
 * What a watcher receives after its `watch` answer: a snapshot (unless it resumed),
 * then one event per change, `rev` increasing by exactly 1. `gated` marks, for a gate,
 * an add the agent waits on it for.
 */
export const EventSchema = v.variant("event", [
  v.strictObject({
    v: version,
    event: v.literal("snapshot"),
    epoch: EpochSchema,
    rev: revision,
    reset: v.optional(v.literal(true)),
    containers: v.array(ContainerSchema),
  }),
  v.strictObject({ v: version, event: v.literal("add"), epoch: EpochSchema, rev: revision, gated: v.optional(v.literal(true)), container: ContainerSchema }),
  v.strictObject({
    v: version,
    event: v.literal("remove"),
    epoch: EpochSchema,
    rev: revision,
    source: v.picklist(["unregister", "sweep", "gate", "poll"]),
    container: ContainerSchema,
  }),
]);
export type Event = v.InferOutput<typeof EventSchema>;
/** A change (not the snapshot). */
export type ChangeEvent = Exclude<Event, { event: "snapshot" }>;

/** Results, per op, as the agent sends them. */
export const PingResultSchema = v.looseObject({ agent: v.literal("armor-agent"), version: v.string(), containers: v.number() });
/** `container` is null when a pre-existing add was refused as stale (its id was removed meanwhile). */
export const RegisterResultSchema = v.strictObject({
  container: v.nullable(ContainerSchema),
  outcome: v.picklist(["added", "updated", "unchanged", "ignored"]),
  /** Set when a gate timed out or left under `--gate-policy open`: the container starts, unconfirmed by that gate. */
  warning: v.optional(v.pipe(v.string(), v.maxLength(4096))),
});
export const UnregisterResultSchema = v.strictObject({ removed: v.boolean() });
export const ListResultSchema = v.strictObject({ containers: v.array(ContainerSchema) });
export const GetResultSchema = v.strictObject({ container: ContainerSchema });
export const LookupResultSchema = v.strictObject({ container: v.nullable(ContainerSchema) });
/** `resumed`: the changes after `since` follow; otherwise a snapshot at `rev` follows. */
export const WatchResultSchema = v.strictObject({ watching: v.literal(true), epoch: EpochSchema, rev: revision, resumed: v.boolean() });
/** `counted` false: the rev was not waiting on this gate (decided already, by a timeout, or never gated). */
export const DecisionResultSchema = v.strictObject({ rev: revision, counted: v.boolean() });
export const BootstrapEndResultSchema = v.strictObject({ state: v.picklist(["bootstrapping", "ready"]) });
export const StatusResultSchema = v.looseObject({
  agent: v.literal("armor-agent"),
  version: v.string(),
  state: v.picklist(["bootstrapping", "ready"]),
  startedAt: v.string(),
  uptimeMs: v.number(),
  socket: v.string(),
  containers: v.number(),
  bootstrap: v.looseObject({
    mode: v.string(),
    completedBy: v.nullable(v.string()),
    containers: v.number(),
    durationMs: v.nullable(v.number()),
    warning: v.nullable(v.string()),
  }),
  lastErrors: v.optional(v.array(v.looseObject({ time: v.string(), code: v.string(), message: v.string() })), []),
  gates: v.optional(
    v.looseObject({
      policy: v.string(),
      unconfirmed: v.number(),
      gates: v.array(
        v.looseObject({
          name: v.string(),
          connected: v.boolean(),
          timeoutMs: v.nullable(v.number()),
          pending: v.number(),
          acks: v.number(),
          nacks: v.number(),
          timeouts: v.number(),
          disconnects: v.number(),
          latencyMs: v.looseObject({ mean: v.nullable(v.number()), max: v.nullable(v.number()) }),
        }),
      ),
    }),
  ),
  sweep: v.optional(
    v.nullable(
      v.looseObject({
        hostPidNamespace: v.boolean(),
        intervalMs: v.number(),
        checked: v.number(),
        unchecked: v.number(),
        swept: v.number(),
        warning: v.nullable(v.string()),
      }),
    ),
  ),
});

/** Builds a success answer. */
export function okResponse(id: number, result: unknown): Response {
  return { v: PROTOCOL_VERSION, id, ok: true, result };
}

/** Builds an error answer. */
export function errorResponse(id: number | null, code: ErrorCode, message: string): Response {
  return { v: PROTOCOL_VERSION, id, ok: false, error: { code, message } };
}
