/** The one place where an error code becomes armor-agent's exit status. */
import type { ErrorCode } from "../errors.ts";

/** Exit status of armor-agent for each error code; anything unlisted is 1. */
export function agentExitStatus(code: ErrorCode): number {
  switch (code) {
    case "E_USAGE":
      return 2;
    case "E_NOT_FOUND":
      return 3;
    case "E_AGENT_UNREACHABLE":
    case "E_AGENT_TIMEOUT":
      return 4;
    case "E_SOCKET":
      return 5;
    case "E_NOT_READY":
      return 6;
    default:
      return 1;
  }
}
