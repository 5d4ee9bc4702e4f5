/**
 * Why the server dropped a client: the label set of `armor_clients_dropped_total{reason}`.
 * A module of its own so the metrics can name every reason without importing the server.
 */
export const DROP_REASONS = ["busy", "idle", "stalled-frame", "framing", "slow-reader", "output-budget", "evicted-new"] as const;
export type DropReason = (typeof DROP_REASONS)[number];
