/**
 * How the hook's one deadline (--timeout-ms) is shared out: the log line's reserve at the end,
 * and the agent's share, which ends before the hook's so an unreachable agent leaves time to
 * spool. The fast path (lib/hook/fast.ts) and runHook() (lib/hook/run.ts) share it.
 */

/** At most this much of --timeout-ms is kept back for the log line. */
const LOG_RESERVE_MS = 100;
/** At most this much of the budget is kept back for writing the spool. */
const SPOOL_RESERVE_MS = 500;

/** Time kept back at the end of --timeout-ms for the log line. */
export function logReserve(timeoutMs: number): number {
  return Math.min(LOG_RESERVE_MS, Math.floor(timeoutMs / 10));
}

/** The hook's own budget in ms: --timeout-ms less the log's reserve (when it logs) and what was spent already. */
export function hookBudget(timeoutMs: number, logging: boolean, spentMs: number): { budgetMs: number } {
  return { budgetMs: Math.max(1, Math.floor(timeoutMs - (logging ? logReserve(timeoutMs) : 0) - spentMs)) };
}

/** The agent's share of a budget, in ms from the budget's start: the budget less the spool's reserve. */
export function agentShare(budgetMs: number, startMs: number): number {
  return startMs + budgetMs - Math.min(SPOOL_RESERVE_MS, Math.floor(budgetMs / 4));
}
