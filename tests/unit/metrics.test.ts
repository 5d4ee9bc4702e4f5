import { describe, expect, test } from "bun:test";
import { parseAddress } from "../../lib/agent/http.ts";
import { HOOK_BUCKETS, HOOK_CALL_RESULTS, HOOK_STAGES, LAST_ERRORS, LATENCY_BUCKETS, Metrics } from "../../lib/agent/metrics.ts";
import { sampleProcess, type ProcessReader } from "../../lib/agent/process-metrics.ts";
import { DROP_REASONS } from "../../lib/agent/drop-reason.ts";
import { AGENT_ERROR_CODES, CLIENT_ERROR_CODES } from "../../lib/errors.ts";
import { ArmorError } from "../../lib/errors.ts";

const gauges = { containers: 3, ready: true, bootstrapDurationSeconds: 0.25, spoolDepth: 2, registryBytes: 4096 };
const sample = (text: string, series: string): number | undefined => {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};

describe("Metrics.render()", () => {
  test("every family has HELP and TYPE before its samples, and every sample line is name{labels} value", () => {
    const m = new Metrics();
    m.registryChange("add", "hook");
    m.request("register", true, 0.0003);
    m.error("E_PROTOCOL", "frame is not valid JSON");
    const text = m.render(gauges);
    expect(text.endsWith("\n")).toBe(true);
    const declared = new Set<string>();
    for (const line of text.trimEnd().split("\n")) {
      const help = /^# HELP (\w+) \S/.exec(line);
      const type = /^# TYPE (\w+) (gauge|counter|histogram)$/.exec(line);
      if (help?.[1]) continue;
      if (type?.[1]) {
        declared.add(type[1]);
        continue;
      }
      const sampleLine = /^(\w+?)(_bucket|_sum|_count)?(\{[^}]*\})? (-?[\d.e+-]+|NaN)$/.exec(line);
      expect(sampleLine).not.toBeNull();
      const family = sampleLine?.[1] ?? "";
      expect(declared.has(family) || declared.has(`${family}${sampleLine?.[2] ?? ""}`)).toBe(true);
    }
  });

  test("reports the gauges it is given", () => {
    const text = new Metrics().render({ containers: 7, ready: false, bootstrapDurationSeconds: null, spoolDepth: 4, registryBytes: 0 });
    expect(sample(text, "armor_containers")).toBe(7);
    expect(sample(text, "armor_ready")).toBe(0);
    expect(text).toContain("armor_bootstrap_duration_seconds NaN");
    expect(sample(text, "armor_spool_depth")).toBe(4);
  });

  test("counts registrations and removals by source, and requests by op and result", () => {
    const m = new Metrics();
    m.registryChange("add", "hook");
    m.registryChange("add", "hook");
    m.registryChange("add", "bootstrap");
    m.registryChange("remove", "hook");
    m.request("list", true, 0.001);
    m.request("get", false, 0.001);
    const text = m.render(gauges);
    expect(sample(text, 'armor_registrations_total{source="hook"}')).toBe(2);
    expect(sample(text, 'armor_registrations_total{source="bootstrap"}')).toBe(1);
    expect(sample(text, 'armor_removals_total{source="hook"}')).toBe(1);
    expect(sample(text, 'armor_requests_total{op="list",result="ok"}')).toBe(1);
    expect(sample(text, 'armor_requests_total{op="get",result="error"}')).toBe(1);
  });

  test("counts the containers the settle pass found, from 0", () => {
    const m = new Metrics();
    expect(sample(m.render(gauges), "armor_settle_found_total")).toBe(0);
    m.settleFound(2);
    expect(sample(m.render(gauges), "armor_settle_found_total")).toBe(2);
  });

  test("the registration histogram is cumulative, ends with +Inf, and has sum and count", () => {
    const m = new Metrics();
    for (const seconds of [0.00005, 0.0003, 0.0003, 0.004, 2]) m.request("register", true, seconds);
    m.request("list", true, 0.5);
    const text = m.render(gauges);
    const counts = LATENCY_BUCKETS.map((bound) => sample(text, `armor_registration_seconds_bucket{le="${bound}"}`) ?? -1);
    expect(counts).toEqual([1, 1, 3, 3, 3, 4, 4, 4, 4, 4]);
    expect(sample(text, 'armor_registration_seconds_bucket{le="+Inf"}')).toBe(5);
    expect(sample(text, "armor_registration_seconds_count")).toBe(5);
    expect(sample(text, "armor_registration_seconds_sum")).toBeCloseTo(2.00465, 6);
  });

  test("escapes quotes, backslashes and newlines in label values", () => {
    const m = new Metrics();
    m.error('E_"X\\\n', "x");
    expect(m.render(gauges)).toContain('armor_errors_total{code="E_\\"X\\\\\\n"} 1');
  });
});

describe("pre-initialised label sets", () => {
  // increase() over a series born at 1 misses that first event: every known label set starts at 0.
  const fresh = new Metrics().render(gauges);
  test.each(HOOK_STAGES.flatMap((stage) => HOOK_CALL_RESULTS.map((result) => [stage, result])))(
    "armor_hook_calls_total{stage=%p,result=%p} is 0",
    (stage, result) => {
      expect(sample(fresh, `armor_hook_calls_total{stage="${stage}",result="${result}"}`)).toBe(0);
    },
  );
  test.each([
    ...AGENT_ERROR_CODES.map((code) => `armor_errors_total{code="${code}"}`),
    ...CLIENT_ERROR_CODES.map((code) => `armor_client_errors_total{code="${code}"}`),
    ...DROP_REASONS.map((reason) => `armor_clients_dropped_total{reason="${reason}"}`),
    ...["hook", "bootstrap", "poll"].map((source) => `armor_registrations_total{source="${source}"}`),
    'armor_requests_total{op="register",result="error"}',
    'armor_hook_duration_seconds_count{stage="poststop"}',
    "armor_proc_denied_total",
    "armor_settle_found_total",
  ])("%s is 0", (series) => {
    expect(sample(fresh, series)).toBe(0);
  });
});

describe("client mistakes and agent errors", () => {
  test("a get of an unknown id is a client error, not an agent error, and not one of status's last errors", () => {
    const m = new Metrics();
    m.error("E_NOT_FOUND", 'no container "x"');
    const text = m.render(gauges);
    expect(sample(text, 'armor_client_errors_total{code="E_NOT_FOUND"}')).toBe(1);
    expect(text).not.toContain('armor_errors_total{code="E_NOT_FOUND"}');
    expect(m.lastErrors()).toEqual([]);
  });

  test("an invalid request is the client's mistake; an internal error is the agent's", () => {
    const m = new Metrics();
    m.error("E_INVALID_REQUEST", "invalid request: op");
    m.error("E_INTERNAL", "boom");
    const text = m.render(gauges);
    expect(sample(text, 'armor_client_errors_total{code="E_INVALID_REQUEST"}')).toBe(1);
    expect(sample(text, 'armor_errors_total{code="E_INVALID_REQUEST"}')).toBeUndefined();
    expect(sample(text, 'armor_errors_total{code="E_INTERNAL"}')).toBe(1);
    expect(m.lastErrors().map((e) => e.code)).toEqual(["E_INVALID_REQUEST", "E_INTERNAL"]);
  });
});

describe("hook calls", () => {
  test("count by stage and result, and time each stage in its own histogram", () => {
    const m = new Metrics();
    m.hookCall("createRuntime", "registered", 0.03);
    m.hookCall("createRuntime", "registered", 2.2);
    m.hookCall("poststop", "unregistered", 0.02);
    const text = m.render(gauges);
    expect(sample(text, 'armor_hook_calls_total{stage="createRuntime",result="registered"}')).toBe(2);
    expect(sample(text, 'armor_hook_calls_total{stage="poststop",result="unregistered"}')).toBe(1);
    const buckets = HOOK_BUCKETS.map((bound) => sample(text, `armor_hook_duration_seconds_bucket{stage="createRuntime",le="${bound}"}`));
    expect(buckets).toEqual([0, 0, 0, 1, 1, 1, 1, 1, 2, 2]);
    expect(sample(text, 'armor_hook_duration_seconds_count{stage="createRuntime"}')).toBe(2);
    expect(sample(text, 'armor_hook_duration_seconds_sum{stage="poststop"}')).toBeCloseTo(0.02, 6);
  });
});

test("an unconfirmed hook call (replayed from the spool) is counted without a duration", () => {
  const m = new Metrics();
  m.hookCall("createRuntime", "unconfirmed", null);
  const text = m.render(gauges);
  expect(sample(text, 'armor_hook_calls_total{stage="createRuntime",result="unconfirmed"}')).toBe(1);
  expect(sample(text, 'armor_hook_duration_seconds_count{stage="createRuntime"}')).toBe(0);
});

describe("build, bootstrap and process gauges", () => {
  test("armor_build_info carries the version and Bun's", () => {
    expect(new Metrics(undefined, { version: "1.2.3", bun: "1.4.5" }).render(gauges)).toContain('armor_build_info{version="1.2.3",bun="1.4.5"} 1');
  });

  test("armor_bootstrap_incomplete says when the bootstrap ended without the pre-existing containers", () => {
    expect(sample(new Metrics().render(gauges), "armor_bootstrap_incomplete")).toBe(0);
    expect(sample(new Metrics().render({ ...gauges, bootstrapIncomplete: true }), "armor_bootstrap_incomplete")).toBe(1);
  });

  test("process_* from /proc, with a command name holding spaces and parentheses", () => {
    const reader: ProcessReader = {
      readText: (path) =>
        ({
          "/p/stat": "42 (armor agent) (x)) S 1 42 42 0 -1 4194560 100 0 0 0 15 5 0 0 20 0 9 0 12345 1048576000 9000 184467",
          "/proc/stat": "cpu  1 2 3\nbtime 1700000000\nprocesses 9\n",
          "/p/limits":
            "Limit                     Soft Limit           Hard Limit           Units\nMax open files            65536                65536                files\n",
        })[path] ?? "",
      countDir: () => 12,
      cpuMicros: () => 2_500_000,
      residentBytes: () => 36_000_000,
    };
    const p = sampleProcess(reader, "/p");
    expect(p).toEqual({ cpuSeconds: 2.5, residentBytes: 36_000_000, virtualBytes: 1048576000, openFds: 11, maxFds: 65536, startTimeSeconds: 1700000123.45 });
    const text = new Metrics().render({ ...gauges, process: p });
    expect(sample(text, "process_start_time_seconds")).toBe(1700000123.45);
    expect(text).toContain("# TYPE process_cpu_seconds_total counter");
  });

  test("a figure the system does not show is left out, not made up", () => {
    const reader: ProcessReader = {
      readText: () => {
        throw new Error("EACCES");
      },
      countDir: () => {
        throw new Error("EACCES");
      },
      cpuMicros: () => 1,
      residentBytes: () => 1,
    };
    const p = sampleProcess(reader, "/p");
    expect(p).toMatchObject({ openFds: null, maxFds: null, startTimeSeconds: null, virtualBytes: null });
    expect(new Metrics().render({ ...gauges, process: p })).not.toContain("process_open_fds");
  });

  test("the real /proc/self gives every figure", () => {
    const p = sampleProcess();
    for (const value of Object.values(p)) expect(value).toBeGreaterThan(0);
  });
});

describe("promtool check metrics", () => {
  test("finds nothing to say about a full exposition", () => {
    const m = new Metrics(undefined, { version: "0.1.0", bun: Bun.version });
    m.request("register", true, 0.001);
    m.hookCall("createRuntime", "registered", 0.04);
    m.error("E_NOT_FOUND", "x");
    const text = m.render({ ...gauges, bootstrapIncomplete: false, process: sampleProcess() });
    const lint = Bun.spawnSync(["promtool", "check", "metrics"], { stdin: new TextEncoder().encode(text), stdout: "pipe", stderr: "pipe" });
    expect(`${lint.stdout.toString()}${lint.stderr.toString()}`).toBe("");
    expect(lint.exitCode).toBe(0);
  });
});

describe("Metrics.lastErrors()", () => {
  test(`keeps the last ${LAST_ERRORS} errors, oldest first, with time, code and message`, () => {
    let t = 0;
    const m = new Metrics(() => new Date(Date.UTC(2026, 0, 1, 0, 0, t++)));
    for (let i = 0; i < LAST_ERRORS + 3; i++) m.error(`E_${i}`, `error ${i}`);
    const kept = m.lastErrors();
    expect(kept).toHaveLength(LAST_ERRORS);
    expect(kept[0]).toEqual({ time: "2026-01-01T00:00:03.000Z", code: "E_3", message: "error 3" });
    expect(kept.at(-1)?.code).toBe(`E_${LAST_ERRORS + 2}`);
    expect(sample(m.render(gauges), 'armor_errors_total{code="E_0"}')).toBe(1);
  });
});

describe("parseAddress()", () => {
  test.each([
    ["127.0.0.1:9469", "127.0.0.1", 9469],
    ["localhost:1", "localhost", 1],
    ["[::1]:9469", "::1", 9469],
  ])("%s", (addr, hostname, port) => {
    expect(parseAddress(addr)).toEqual({ hostname, port });
  });

  test.each(["9469", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:70000", ":9469", "a b:1"])("refuses %p with E_USAGE", (addr) => {
    let error: unknown;
    try {
      parseAddress(addr);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ArmorError);
    expect((error as ArmorError).code).toBe("E_USAGE");
  });
});
