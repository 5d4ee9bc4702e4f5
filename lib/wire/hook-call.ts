/**
 * The hook's side of its one exchange with the agent, as the fast path (lib/hook/fast.ts) makes
 * it: the request frame, and the answer checked for what the hook reads of it — that it is the
 * answer to this request, a success, and (register) names this container. Anything else in the
 * answer is the agent's business; an answer that fails these checks goes to runHook(), whose
 * client validates the whole of it and says what was wrong. Schemas are built on first use.
 */
import * as v from "valibot";
import { ArmorError } from "../errors.ts";
import { parseWith } from "../validate.ts";
import { encodeFrame, PROTOCOL_VERSION } from "./frame.ts";
import type { RequestBody } from "./messages.ts";

/** The hook sends one request on its connection. */
const REQUEST_ID = 1;

/** The frame of the hook's request. */
export function hookRequestFrame(body: Extract<RequestBody, { op: "register" | "unregister" }>): Uint8Array {
  return encodeFrame({ v: PROTOCOL_VERSION, id: REQUEST_ID, ...body });
}

function success<T extends v.GenericSchema>(result: T) {
  return v.looseObject({ v: v.literal(PROTOCOL_VERSION), id: v.literal(REQUEST_ID), ok: v.literal(true), result });
}
let registerAnswer: ReturnType<typeof buildRegisterAnswer> | undefined;
const buildRegisterAnswer = () => success(v.looseObject({ container: v.looseObject({ id: v.string() }), warning: v.optional(v.string()) }));
let unregisterAnswer: ReturnType<typeof buildUnregisterAnswer> | undefined;
const buildUnregisterAnswer = () => success(v.looseObject({ removed: v.boolean() }));

/**
 * Builds the answer checks ahead of the answer: the hook does it while the agent works on its
 * request (lib/hook/sync-io.ts's `whileWaiting`), so the wait, not the call, pays for it.
 */
export function prepareAnswerChecks(op: "register" | "unregister"): void {
  if (op === "register") registerAnswer ??= buildRegisterAnswer();
  else unregisterAnswer ??= buildUnregisterAnswer();
}

/** Checks a register answer names `containerId`; throws E_PROTOCOL. Returns the agent's warning, if any (a gate that did not decide). */
export function checkRegisterAnswer(answer: unknown, containerId: string): string | undefined {
  const { result } = parseWith((registerAnswer ??= buildRegisterAnswer()), answer, "answer from agent", "E_PROTOCOL");
  checkConfirmed(result.container.id, containerId);
  return result.warning;
}

/** Checks that the agent confirmed `containerId`, not another container or none; throws E_PROTOCOL. Both paths' one check. */
export function checkConfirmed(confirmed: string | undefined, containerId: string): void {
  if (confirmed !== containerId) throw new ArmorError("E_PROTOCOL", `agent confirmed "${confirmed ?? "nothing"}", not "${containerId}"`);
}

/** Checks an unregister answer; throws E_PROTOCOL. */
export function checkUnregisterAnswer(answer: unknown): void {
  parseWith((unregisterAnswer ??= buildUnregisterAnswer()), answer, "answer from agent", "E_PROTOCOL");
}
