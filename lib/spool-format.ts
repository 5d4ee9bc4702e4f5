/**
 * The spool: where the hook leaves an event the agent could not take, for the
 * agent to replay. One file per event, named so that names sort in event order
 * and carry their own size (the hook bounds the spool from names alone):
 * `<µs since epoch, 16 digits>-<hook pid>-<random>-<bytes>.json`. A file appears
 * under that name only once complete (written as `.tmp-<name>`, then renamed).
 * Its name grammar, bounds and record schema (the type inferred from it) live here;
 * the schema is built on first use: the hook imports this on its hot path and only
 * writes records (lib/agent/spool.ts validates what it reads).
 */
import * as v from "valibot";
import { ContainerIdSchema, ContainerInfoSchema } from "./container.ts";

/** At most this many spooled events; the hook drops (with a warning) beyond it. */
export const MAX_SPOOL_FILES = 4096;
/** At most this many bytes of spooled events in all. */
export const MAX_SPOOL_BYTES = 16 * 1024 * 1024;
/** One event's file is never larger than one frame. */
export const MAX_SPOOL_ENTRY_BYTES = 64 * 1024;
/** Prefix of a file still being written; the agent leaves it until its writer has certainly ended, then replays it if complete. */
export const SPOOL_TMP_PREFIX = ".tmp-";

const NAME = /^(\d{16})-(\d{1,10})-([0-9a-f]{8})-(\d{1,8})\.json$/;

function buildSchema() {
  const at = v.pipe(v.number(), v.integer(), v.minValue(0));
  return v.variant("op", [
    v.strictObject({ v: v.literal(1), at, op: v.literal("register"), container: ContainerInfoSchema }),
    v.strictObject({ v: v.literal(1), at, op: v.literal("unregister"), container: ContainerIdSchema }),
  ]);
}
let schema: ReturnType<typeof buildSchema> | undefined;

/** What a spooled event must be (built once, on first use); anything else in the spool is removed with a warning. */
export function spoolRecordSchema(): ReturnType<typeof buildSchema> {
  return (schema ??= buildSchema());
}
/** One spooled event, as the hook writes it: `at` is µs since the epoch. */
export type SpoolRecord = v.InferOutput<ReturnType<typeof buildSchema>>;

export { epochMicros } from "./clock.ts";

/** The file name of an event spooled at `atMicros` by process `pid`, `bytes` long. */
export function spoolFileName(atMicros: number, pid: number, random: number, bytes: number): string {
  const rand = (random >>> 0).toString(16).padStart(8, "0");
  return `${String(atMicros).padStart(16, "0")}-${pid}-${rand}-${bytes}.json`;
}

/** The parts of a spool file name, or undefined for a name that is not one (temp files, strays). */
export function parseSpoolFileName(name: string): { atMicros: number; pid: number; bytes: number } | undefined {
  const match = NAME.exec(name);
  if (!match) return undefined;
  return { atMicros: Number(match[1]), pid: Number(match[2]), bytes: Number(match[4]) };
}
