/**
 * Versioned request, response and event schemas of the hook ↔ agent protocol
 * (see PROTOCOL.md). Every request carries `v` and a client-chosen `id`; the
 * agent answers each request exactly once, echoing that `id`.
 */
import * as v from "valibot";
import { ContainerIdSchema, ContainerInfoSchema, ContainerSchema, SourceSchema } from "../container.ts";
import type { ErrorCode } from "../errors.ts";

// Here too for their users; defined where the hook's fast path reads them without these schemas.
export { DEFAULT_SOCKET } from "../layout.ts";
export { PROTOCOL_VERSION } from "./frame.ts";
import { PROTOCOL_VERSION } from "./frame.ts";

const version = v.literal(PROTOCOL_VERSION);
const requestId = v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(2 ** 31 - 1));
const inode = v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(Number.MAX_SAFE_INTEGER));

export const RequestSchema = v.variant("op", [
  v.strictObject({ v: version, id: requestId, op: v.literal("ping") }),
  v.strictObject({
    v: version,
    id: requestId,
    op: v.literal("register"),
    source: SourceSchema,
    container: ContainerInfoSchema,
    /** Unix epoch ms by which the hook needs its answer; a register arriving later is not applied (E_DEADLINE). */
    deadline: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(Number.MAX_SAFE_INTEGER))),
  }),
  v.strictObject({ v: version, id: requestId, op: v.literal("unregister"), container: ContainerIdSchema }),
  v.strictObject({ v: version, id: requestId, op: v.literal("list") }),
  v.strictObject({ v: version, id: requestId, op: v.literal("get"), container: ContainerIdSchema }),
  v.strictObject({ v: version, id: requestId, op: v.literal("lookup"), pidns: inode, mntns: inode }),
  v.strictObject({ v: version, id: requestId, op: v.literal("watch") }),
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

export const EventSchema = v.strictObject({
  v: version,
  event: v.picklist(["add", "remove"]),
  container: ContainerSchema,
});
export type Event = v.InferOutput<typeof EventSchema>;

/** Results, per op, as the agent sends them. */
export const PingResultSchema = v.looseObject({ agent: v.literal("armor-agent"), version: v.string(), containers: v.number() });
/** `container` is null when a pre-existing add was refused as stale (its id was removed meanwhile). */
export const RegisterResultSchema = v.strictObject({
  container: v.nullable(ContainerSchema),
  outcome: v.picklist(["added", "updated", "unchanged", "ignored"]),
});
export const UnregisterResultSchema = v.strictObject({ removed: v.boolean() });
export const ListResultSchema = v.strictObject({ containers: v.array(ContainerSchema) });
export const GetResultSchema = v.strictObject({ container: ContainerSchema });
export const LookupResultSchema = v.strictObject({ container: v.nullable(ContainerSchema) });
export const WatchResultSchema = v.strictObject({ watching: v.literal(true) });
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
});

/** Builds a success answer. */
export function okResponse(id: number, result: unknown): Response {
  return { v: PROTOCOL_VERSION, id, ok: true, result };
}

/** Builds an error answer. */
export function errorResponse(id: number | null, code: ErrorCode, message: string): Response {
  return { v: PROTOCOL_VERSION, id, ok: false, error: { code, message } };
}
