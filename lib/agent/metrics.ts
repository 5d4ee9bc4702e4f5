/**
 * The agent's counters and histogram, rendered in the Prometheus text exposition
 * format (version 0.0.4) for `serve --metrics`. No client library: a handful of
 * series does not justify a runtime dependency.
 */

/** Upper bounds (seconds) of the request-latency histogram buckets. */
export const LATENCY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1] as const;

/** How many recent errors `status` keeps. */
export const LAST_ERRORS = 10;

/** One error the agent answered or met, for `status`. */
export interface RecordedError {
  time: string;
  code: string;
  message: string;
}

/** Values read when metrics are rendered, not counted. */
export interface Gauges {
  containers: number;
  /** Sum of the held records' sizes (the registry's byte bound applies to it). */
  registryBytes: number;
  ready: boolean;
  bootstrapDurationSeconds: number | null;
  spoolDepth: number;
}

type Labels = Record<string, string>;

/** Counters by label set, the registration-latency histogram, and the last errors. */
export class Metrics {
  readonly #counters = new Map<string, Map<string, number>>();
  readonly #buckets = LATENCY_BUCKETS.map(() => 0);
  #latencyCount = 0;
  #latencySum = 0;
  readonly #lastErrors: RecordedError[] = [];
  readonly #now: () => Date;

  constructor(now: () => Date = () => new Date()) {
    this.#now = now;
    // A counter without labels is shown from the start: an alert can tell 0 from "not exported".
    this.#counters.set("armor_settle_found_total", new Map([["", 0]]));
    this.#counters.set("armor_registry_full_total", new Map([["", 0]]));
  }

  /** A container entered (`add`) or left (`remove`) the registry. */
  registryChange(event: "add" | "remove", source: string): void {
    this.#inc(event === "add" ? "armor_registrations_total" : "armor_removals_total", { source });
  }

  /** A request was answered: its op, whether it succeeded, and how long the agent took. */
  request(op: string, ok: boolean, seconds: number): void {
    this.#inc("armor_requests_total", { op, result: ok ? "ok" : "error" });
    if (op !== "register") return;
    this.#latencyCount += 1;
    this.#latencySum += seconds;
    LATENCY_BUCKETS.forEach((bound, i) => {
      if (seconds <= bound) this.#buckets[i] = (this.#buckets[i] ?? 0) + 1;
    });
  }

  /** A registration was refused: the registry is at its bounds. */
  registryFull(): void {
    this.#inc("armor_registry_full_total", {});
  }

  /** The socket server dropped a client (slow reader, stalled frame, idle, busy…). */
  dropped(reason: string): void {
    this.#inc("armor_clients_dropped_total", { reason });
  }

  /** The settle pass found `count` running containers the agent did not hold (each ran unattributed until then). */
  settleFound(count: number): void {
    for (let i = 0; i < count; i++) this.#inc("armor_settle_found_total", {});
  }

  /** An error answer or failure, by code; the last few are kept for `status`. */
  error(code: string, message: string): void {
    this.#inc("armor_errors_total", { code });
    this.#lastErrors.push({ time: this.#now().toISOString(), code, message });
    if (this.#lastErrors.length > LAST_ERRORS) this.#lastErrors.shift();
  }

  /** The most recent errors, oldest first. */
  lastErrors(): RecordedError[] {
    return [...this.#lastErrors];
  }

  /** Everything in the Prometheus text format. */
  render(gauges: Gauges): string {
    const out: string[] = [];
    const family = (name: string, type: string, help: string): void => void out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    family("armor_containers", "gauge", "Containers the agent holds.");
    out.push(`armor_containers ${gauges.containers}`);
    family("armor_registry_bytes", "gauge", "Bytes of the records the agent holds (JSON), against its bound.");
    out.push(`armor_registry_bytes ${gauges.registryBytes}`);
    family("armor_ready", "gauge", "1 once the containers that predate the agent are known (bootstrap done), else 0.");
    out.push(`armor_ready ${gauges.ready ? 1 : 0}`);
    family("armor_bootstrap_duration_seconds", "gauge", "Time from the socket coming up to ready (NaN while bootstrapping).");
    out.push(`armor_bootstrap_duration_seconds ${gauges.bootstrapDurationSeconds ?? "NaN"}`);
    family("armor_spool_depth", "gauge", "Events hooks spooled that the agent has not replayed yet.");
    out.push(`armor_spool_depth ${gauges.spoolDepth}`);
    const counters: Array<[string, string]> = [
      ["armor_registrations_total", "Containers added to the registry, by source."],
      ["armor_removals_total", "Containers removed from the registry, by source of the removed record."],
      ["armor_requests_total", "Requests answered on the socket, by op and result."],
      ["armor_errors_total", "Error answers and failures, by code."],
      [
        "armor_clients_dropped_total",
        "Socket clients the agent dropped, by reason (slow-reader, output-budget, stalled-frame, idle, busy, evicted-new, framing).",
      ],
      ["armor_settle_found_total", "Running containers the settle pass found that the agent did not hold after a restart: each ran unattributed until then."],
    ];
    for (const [name, help] of counters) {
      family(name, "counter", help);
      for (const [labels, value] of this.#counters.get(name) ?? []) out.push(labels === "" ? `${name} ${value}` : `${name}{${labels}} ${value}`);
    }
    family("armor_registration_seconds", "histogram", "Time the agent took to answer a register request.");
    LATENCY_BUCKETS.forEach((bound, i) => out.push(`armor_registration_seconds_bucket{le="${bound}"} ${this.#buckets[i]}`));
    out.push(`armor_registration_seconds_bucket{le="+Inf"} ${this.#latencyCount}`);
    out.push(`armor_registration_seconds_sum ${this.#latencySum}`);
    out.push(`armor_registration_seconds_count ${this.#latencyCount}`);
    return `${out.join("\n")}\n`;
  }

  #inc(name: string, labels: Labels): void {
    const key = Object.entries(labels)
      .map(([k, v]) => `${k}="${v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`)
      .join(",");
    const series = this.#counters.get(name) ?? new Map<string, number>();
    series.set(key, (series.get(key) ?? 0) + 1);
    this.#counters.set(name, series);
  }
}
