/** Boundary validation: valibot parse that fails with one ArmorError line naming the bad field. */
import * as v from "valibot";
import { ArmorError, type ErrorCode } from "./errors.ts";

/** Parses `input` with `schema`, or throws `code` with "<what>: <path>: <problem>". */
export function parseWith<S extends v.GenericSchema>(schema: S, input: unknown, what: string, code: ErrorCode): v.InferOutput<S> {
  const result = v.safeParse(schema, input);
  if (result.success) return result.output;
  throw new ArmorError(code, `${what}: ${describeIssue(result.issues[0])}`);
}

/** One readable line for a valibot issue: the dotted path, then the problem. */
export function describeIssue(issue: v.BaseIssue<unknown> | undefined): string {
  if (!issue) return "invalid";
  const path = issue.path?.map((item) => String(item.key)).join(".");
  const problem = issue.received === "undefined" ? "missing" : issue.message;
  return path ? `${path}: ${problem}` : problem;
}

/** JSON.parse that throws `code` with a one-line reason instead of a SyntaxError. */
export function parseJson(text: string, what: string, code: ErrorCode): unknown {
  if (text.trim() === "") throw new ArmorError(code, `${what} is empty`);
  try {
    return JSON.parse(text);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new ArmorError(code, `${what} is not valid JSON (${reason})`);
  }
}

/**
 * A value (a schema) built on first use, not at module load: the hook's start-up pays only for
 * the schemas its path parses (every valibot function run for the first time costs ~10 µs).
 */
export function lazy<T>(build: () => T): () => T {
  let value: T | undefined;
  return () => (value ??= build());
}
