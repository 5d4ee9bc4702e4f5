/**
 * The agent's file descriptors: the soft RLIMIT_NOFILE raised to the hard limit at
 * start, and a budget that keeps the hook socket's connections, the metrics
 * listener's and a reserve (spool files, log writes, the runtime's
 * state files at reconcile, Bun's own) inside it, so no client can take a
 * descriptor the agent needs to answer a hook.
 */
import { fileLimit, setFileLimit } from "../syscall.ts";

/** Descriptors kept for everything but client connections. */
export const DESCRIPTOR_RESERVE = 64;

/** Raises the soft limit to the hard one when lower; returns the limits now in force. */
export function raiseFileLimit(): { soft: number; hard: number; raisedFrom: number | null } {
  const { soft, hard } = fileLimit();
  if (soft >= hard) return { soft, hard, raisedFrom: null };
  setFileLimit(hard, hard);
  return { ...fileLimit(), raisedFrom: soft };
}

/** Connection caps that fit the soft limit. */
export interface ConnectionBudget {
  socket: number;
  /** Of `socket`, the slots kept for hooks. */
  hooks: number;
  http: number;
  /** Whether the socket's cap had to shrink below what was asked. */
  reduced: boolean;
}

/**
 * Fits the wanted caps into `soft` descriptors: the reserve first, the metrics
 * listener's small cap (and its listening socket), then the hook socket's (and its
 * listening socket). The hooks' share shrinks with the socket's cap, to a quarter.
 */
export function connectionBudget(soft: number, wanted: { socket: number; hooks: number; http: number }): ConnectionBudget {
  const http = Math.max(0, Math.min(wanted.http, soft - DESCRIPTOR_RESERVE - 2 - 1));
  const room = Math.max(1, soft - DESCRIPTOR_RESERVE - (wanted.http > 0 ? http + 1 : 0) - 1);
  if (room >= wanted.socket) return { socket: wanted.socket, hooks: wanted.hooks, http, reduced: false };
  return { socket: room, hooks: Math.min(wanted.hooks, Math.max(1, Math.floor(room / 4))), http, reduced: true };
}
