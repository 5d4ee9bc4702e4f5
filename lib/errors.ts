/** Stable error codes shared by the hook, the agent and the wire protocol. */
export type ErrorCode =
  | "E_USAGE"
  | "E_STATE"
  | "E_STAGE"
  | "E_BUNDLE"
  | "E_PROCESS_GONE"
  | "E_AGENT_UNREACHABLE"
  | "E_AGENT_TIMEOUT"
  | "E_HOOK_TIMEOUT"
  | "E_AGENT_REJECTED"
  | "E_PROTOCOL"
  | "E_FRAME_TOO_LARGE"
  | "E_VERSION"
  | "E_INVALID_REQUEST"
  | "E_NOT_FOUND"
  | "E_NOT_READY"
  | "E_BUSY"
  | "E_REGISTRY_FULL"
  | "E_DEADLINE"
  | "E_SOCKET"
  /** A gate (a `watch` consumer with a name) refused the container, or did not answer under `--gate-policy closed`. */
  | "E_GATE_REFUSED"
  | "E_INTERNAL";

/**
 * Codes an agent answers for the client's own mistake (an unknown id, a request it cannot read):
 * counted apart from the agent's errors (`armor_client_errors_total`), and not shown in `status`.
 */
export const CLIENT_ERROR_CODES = ["E_NOT_FOUND", "E_INVALID_REQUEST", "E_VERSION", "E_FRAME_TOO_LARGE", "E_PROTOCOL"] as const satisfies readonly ErrorCode[];
/** Codes of the agent's own errors, exported at 0 from the start (`armor_errors_total`); others are counted as they come. */
export const AGENT_ERROR_CODES = ["E_INTERNAL", "E_BUSY", "E_REGISTRY_FULL", "E_DEADLINE", "E_SOCKET"] as const satisfies readonly ErrorCode[];

/** The one error type of armor-hooks: a stable code plus a one-line message. */
export class ArmorError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ArmorError";
    this.code = code;
  }
}

/** Wraps anything thrown into an ArmorError, keeping ArmorErrors as they are. */
export function toArmorError(err: unknown, code: ErrorCode = "E_INTERNAL"): ArmorError {
  if (err instanceof ArmorError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new ArmorError(code, message, { cause: err });
}

/** The errno-style code of a system error (ENOENT, ECONNREFUSED…), if any. */
export function errnoOf(err: unknown): string | undefined {
  if (typeof err === "object" && err !== null && "code" in err) {
    const code = (err as { code: unknown }).code;
    if (typeof code === "string") return code;
  }
  return undefined;
}
