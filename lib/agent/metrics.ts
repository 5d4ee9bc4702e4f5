/**
 * The agent's metrics, rendered in the Prometheus text exposition format (version 0.0.4)
 * for `serve --metrics`. Hand-written rather than prom-client: bench/metrics-exposition.ts
 * weighs both in a compiled binary (README, "Metrics").
 *
 * Every labelled family is declared once below with the label values it can take, and
 * every such label set is exported from the start at 0: `increase()` over a series that
 * first appears with value 1 misses that first event, so after each restart the first
 * error, refusal or dropped client would otherwise go unseen by an alert.
 */
import { CLIENT_ERROR_CODES, AGENT_ERROR_CODES } from "../errors.ts";
import type { HookResult } from "../hook-log-record.ts";
import { SourceSchema } from "../container.ts";
import { DROP_REASONS } from "./drop-reason.ts";
import type { ProcessSample } from "./process-metrics.ts";

/** Upper bounds (seconds) of the registration-latency histogram (the agent's own answer). */
export const LATENCY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1] as const;
/** Upper bounds (seconds) of the hook-duration histogram: a whole hook process, start to its log record. */
export const HOOK_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5] as const;

/** How many recent errors `status` keeps. */
export const LAST_ERRORS = 10;

/** The hook's stages, as its records name them. */
export const HOOK_STAGES = ["createRuntime", "poststop"] as const;
/**
 * The hook calls the agent learns of: one that reached it (its record, in its request), or
 * one that went on unconfirmed and spooled its event (counted when the agent replays it). A
 * refused or failed call had no agent to tell: its line is in hook.log only.
 */
export const HOOK_CALL_RESULTS = ["registered", "unregistered", "unconfirmed"] as const satisfies readonly HookResult[];
/** The ops of the protocol (lib/wire/messages.ts), for pre-initialised request counters. */
const OPS = ["ping", "register", "unregister", "list", "get", "lookup", "watch", "status", "bootstrap-begin", "bootstrap-end"] as const;

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
  /** Bytes of the hook binary (and its loader, libraries) the agent keeps locked in memory (lib/agent/warm-pages.ts). */
  hookPagesLockedBytes?: number;
  /** 1 once the bootstrap ended without (all) the pre-existing containers: none readable, a short batch, /proc denied. */
  bootstrapIncomplete?: boolean;
  /** The agent's own process (lib/agent/process-metrics.ts); absent in tests that do not look at it. */
  process?: ProcessSample;
}

/** What the agent is built from, for `armor_build_info`. */
export interface BuildInfo {
  version: string;
  bun: string;
}

type Labels = Record<string, string>;

interface Family {
  name: string;
  type: "counter" | "histogram";
  help: string;
  /** Every label and the values it can take: their product is exported from the start. */
  labels: Record<string, readonly string[]>;
  buckets?: readonly number[];
}

/** The counted families, declared once: name, help, labels and the values each label can take. */
const FAMILIES = {
  registrations: {
    name: "armor_registrations_total",
    type: "counter",
    help: "Containers added to the registry, by source.",
    labels: { source: SourceSchema.options },
  },
  removals: {
    name: "armor_removals_total",
    type: "counter",
    help: "Containers removed from the registry, by source of the removed record.",
    labels: { source: SourceSchema.options },
  },
  requests: {
    name: "armor_requests_total",
    type: "counter",
    help: "Requests answered on the socket, by op and result.",
    labels: { op: OPS, result: ["ok", "error"] },
  },
  errors: {
    name: "armor_errors_total",
    type: "counter",
    help: "The agent's own errors and failures (not a client's mistake), by code.",
    labels: { code: AGENT_ERROR_CODES },
  },
  clientErrors: {
    name: "armor_client_errors_total",
    type: "counter",
    help: "Requests refused as the client's mistake (unknown id, invalid request, bad frame, wrong version), by code.",
    labels: { code: CLIENT_ERROR_CODES },
  },
  dropped: {
    name: "armor_clients_dropped_total",
    type: "counter",
    help: "Socket clients the agent dropped, by reason (slow-reader, output-budget, stalled-frame, idle, busy, evicted-new, framing).",
    labels: { reason: DROP_REASONS },
  },
  settleFound: {
    name: "armor_settle_found_total",
    type: "counter",
    help: "Running containers the settle pass found that the agent did not hold after a restart: each ran unattributed until then.",
    labels: {},
  },
  registryFull: {
    name: "armor_registry_full_total",
    type: "counter",
    help: "Registrations refused because the registry is at its bounds (count or bytes).",
    labels: {},
  },
  procDenied: {
    name: "armor_proc_denied_total",
    type: "counter",
    help: "Running containers the agent could not describe because reading /proc/<pid>/ns was denied (missing CAP_SYS_PTRACE).",
    labels: {},
  },
  hookCalls: {
    name: "armor_hook_calls_total",
    type: "counter",
    help: "Hook calls the agent learnt of, by stage and result: from the records hooks send after its answer, and unconfirmed ones from the events they spooled.",
    labels: { stage: HOOK_STAGES, result: HOOK_CALL_RESULTS },
  },
  registration: {
    name: "armor_registration_seconds",
    type: "histogram",
    help: "Time the agent took to answer a register request.",
    labels: {},
    buckets: LATENCY_BUCKETS,
  },
  hookDuration: {
    name: "armor_hook_duration_seconds",
    type: "histogram",
    help: "Time a hook process took from its start to its log record, by stage (runtimes do not measure their hooks).",
    labels: { stage: HOOK_STAGES },
    buckets: HOOK_BUCKETS,
  },
} as const satisfies Record<string, Family>;

type FamilyKey = keyof typeof FAMILIES;

const escapeLabel = (value: string): string => value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
const escapeHelp = (text: string): string => text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
const labelText = (labels: Labels): string =>
  Object.entries(labels)
    .map(([k, v]) => `${k}="${escapeLabel(v)}"`)
    .join(",");

/** Every combination of the declared label values. */
function labelSets(labels: Record<string, readonly string[]>): Labels[] {
  let sets: Labels[] = [{}];
  for (const [name, values] of Object.entries(labels)) sets = sets.flatMap((set) => values.map((value) => ({ ...set, [name]: value })));
  return sets;
}

interface HistogramSeries {
  buckets: number[];
  sum: number;
  count: number;
}

/** Counters and histograms by label set, plus the last errors for `status`. */
export class Metrics {
  readonly #counters = new Map<FamilyKey, Map<string, number>>();
  readonly #histograms = new Map<FamilyKey, Map<string, HistogramSeries>>();
  readonly #lastErrors: RecordedError[] = [];
  readonly #now: () => Date;
  readonly #build: BuildInfo;

  constructor(now: () => Date = () => new Date(), build: BuildInfo = { version: "unknown", bun: Bun.version }) {
    this.#now = now;
    this.#build = build;
    for (const [key, family] of Object.entries(FAMILIES) as Array<[FamilyKey, Family]>) {
      for (const labels of labelSets(family.labels)) {
        if (family.type === "counter") this.#counter(key, labels);
        else this.#histogram(key, labels);
      }
    }
  }

  /** A container entered (`add`) or left (`remove`) the registry. */
  registryChange(event: "add" | "remove", source: string): void {
    this.#inc(event === "add" ? "registrations" : "removals", { source });
  }

  /** A request was answered: its op, whether it succeeded, and how long the agent took. */
  request(op: string, ok: boolean, seconds: number): void {
    this.#inc("requests", { op, result: ok ? "ok" : "error" });
    if (op === "register") this.#observe("registration", {}, seconds);
  }

  /** A registration was refused: the registry is at its bounds. */
  registryFull(): void {
    this.#inc("registryFull", {});
  }

  /** The socket server dropped a client (slow reader, stalled frame, idle, busy…). */
  dropped(reason: string): void {
    this.#inc("dropped", { reason });
  }

  /** The settle pass found `count` running containers the agent did not hold (each ran unattributed until then). */
  settleFound(count: number): void {
    this.#inc("settleFound", {}, count);
  }

  /** `count` running containers could not be described: /proc/<pid>/ns was denied. */
  procDenied(count: number): void {
    this.#inc("procDenied", {}, count);
  }

  /** One hook call: its stage, result and, from the record the hook sent, its duration (null: not known). */
  hookCall(stage: string, result: string, seconds: number | null): void {
    this.#inc("hookCalls", { stage, result });
    if (seconds !== null) this.#observe("hookDuration", { stage }, seconds);
  }

  /**
   * An error answer or failure, by code. A client's mistake (`get` of an unknown id, an invalid
   * request) is counted apart: it says nothing about the agent's health. `status` keeps the last
   * few of both, but for "not found", which is an answer (a lookup miss), not a failure.
   */
  error(code: string, message: string): void {
    const client = (CLIENT_ERROR_CODES as readonly string[]).includes(code);
    this.#inc(client ? "clientErrors" : "errors", { code });
    if (code === "E_NOT_FOUND") return;
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
    const family = (name: string, type: string, help: string): void => void out.push(`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} ${type}`);
    const gauge = (name: string, help: string, value: number | string, labels?: Labels): void => {
      family(name, "gauge", help);
      out.push(labels ? `${name}{${labelText(labels)}} ${value}` : `${name} ${value}`);
    };
    gauge("armor_build_info", "The agent's version and the Bun it runs on; always 1.", 1, { version: this.#build.version, bun: this.#build.bun });
    gauge("armor_containers", "Containers the agent holds.", gauges.containers);
    gauge("armor_registry_bytes", "Bytes of the records the agent holds (JSON), against its bound.", gauges.registryBytes);
    gauge("armor_ready", "1 once the containers that predate the agent are known (bootstrap done), else 0.", gauges.ready ? 1 : 0);
    gauge("armor_bootstrap_duration_seconds", "Time from the socket coming up to ready (NaN while bootstrapping).", gauges.bootstrapDurationSeconds ?? "NaN");
    gauge(
      "armor_bootstrap_incomplete",
      "1 when the bootstrap ended without all the pre-existing containers (no state readable, a short batch, /proc denied): they run unattributed.",
      gauges.bootstrapIncomplete ? 1 : 0,
    );
    gauge("armor_spool_depth", "Events hooks spooled that the agent has not replayed yet.", gauges.spoolDepth);
    gauge(
      "armor_hook_pages_locked_bytes",
      "Bytes of the hook binary's pages the agent keeps resident (part of its resident memory).",
      gauges.hookPagesLockedBytes ?? 0,
    );
    for (const [key, def] of Object.entries(FAMILIES) as Array<[FamilyKey, Family]>) {
      family(def.name, def.type, def.help);
      if (def.type === "counter") {
        for (const [labels, value] of this.#counters.get(key) ?? []) out.push(labels === "" ? `${def.name} ${value}` : `${def.name}{${labels}} ${value}`);
        continue;
      }
      for (const [labels, series] of this.#histograms.get(key) ?? []) {
        const prefix = labels === "" ? "" : `${labels},`;
        const suffix = labels === "" ? "" : `{${labels}}`;
        (def.buckets ?? []).forEach((bound, i) => out.push(`${def.name}_bucket{${prefix}le="${bound}"} ${series.buckets[i]}`));
        out.push(`${def.name}_bucket{${prefix}le="+Inf"} ${series.count}`);
        out.push(`${def.name}_sum${suffix} ${series.sum}`);
        out.push(`${def.name}_count${suffix} ${series.count}`);
      }
    }
    if (gauges.process) renderProcess(gauges.process, family, out);
    return `${out.join("\n")}\n`;
  }

  #counter(key: FamilyKey, labels: Labels): [Map<string, number>, string] {
    const series = this.#counters.get(key) ?? new Map<string, number>();
    this.#counters.set(key, series);
    const text = labelText(labels);
    if (!series.has(text)) series.set(text, 0);
    return [series, text];
  }

  #histogram(key: FamilyKey, labels: Labels): HistogramSeries {
    const all = this.#histograms.get(key) ?? new Map<string, HistogramSeries>();
    this.#histograms.set(key, all);
    const text = labelText(labels);
    let series = all.get(text);
    if (!series) {
      series = { buckets: (FAMILIES[key] as Family).buckets?.map(() => 0) ?? [], sum: 0, count: 0 };
      all.set(text, series);
    }
    return series;
  }

  #inc(key: FamilyKey, labels: Labels, by = 1): void {
    const [series, text] = this.#counter(key, labels);
    series.set(text, (series.get(text) ?? 0) + by);
  }

  #observe(key: FamilyKey, labels: Labels, seconds: number): void {
    const series = this.#histogram(key, labels);
    series.count += 1;
    series.sum += seconds;
    (FAMILIES[key] as Family).buckets?.forEach((bound, i) => {
      if (seconds <= bound) series.buckets[i] = (series.buckets[i] ?? 0) + 1;
    });
  }
}

/** The standard process_* families (the names Prometheus's client libraries use). */
function renderProcess(sample: ProcessSample, family: (name: string, type: string, help: string) => void, out: string[]): void {
  const one = (name: string, type: string, help: string, value: number | null): void => {
    if (value === null) return;
    family(name, type, help);
    out.push(`${name} ${value}`);
  };
  one("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.", sample.cpuSeconds);
  one("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", sample.residentBytes);
  one("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.", sample.virtualBytes);
  one("process_open_fds", "gauge", "Number of open file descriptors.", sample.openFds);
  one("process_max_fds", "gauge", "Maximum number of open file descriptors.", sample.maxFds);
  one("process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.", sample.startTimeSeconds);
}
