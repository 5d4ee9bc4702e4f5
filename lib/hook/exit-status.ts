/** The one place where an error code becomes the hook's exit status (documented in --help and the README). */
import type { ErrorCode } from "../errors.ts";

export const EXIT_STATUS: Record<ErrorCode, number> = {
  E_USAGE: 2,
  E_STAGE: 2,
  E_STATE: 3,
  E_BUNDLE: 4,
  E_PROCESS_GONE: 5,
  E_AGENT_REJECTED: 6,
  E_PROTOCOL: 6,
  E_FRAME_TOO_LARGE: 6,
  E_VERSION: 6,
  E_INVALID_REQUEST: 6,
  E_NOT_FOUND: 6,
  E_NOT_READY: 6,
  E_BUSY: 7,
  E_REGISTRY_FULL: 7,
  E_DEADLINE: 7,
  E_AGENT_UNREACHABLE: 7,
  E_AGENT_TIMEOUT: 7,
  E_HOOK_TIMEOUT: 7,
  E_GATE_REFUSED: 6,
  E_SOCKET: 1,
  E_INTERNAL: 1,
};

/**
 * Codes that mean "the agent could not confirm": it could not be reached, did not answer
 * in time, could not take the container (its registry is full, or the request came past
 * its deadline), or the hook's own deadline came first. The registration is unconfirmed
 * and the fail policy decides (fail-open: a warning, status 0).
 */
export const UNREACHABLE_CODES: ReadonlySet<ErrorCode> = new Set(["E_AGENT_UNREACHABLE", "E_AGENT_TIMEOUT", "E_HOOK_TIMEOUT", "E_REGISTRY_FULL", "E_DEADLINE"]);
