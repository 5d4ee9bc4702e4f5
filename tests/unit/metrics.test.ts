import { describe, expect, test } from "bun:test";
import { parseAddress } from "../../lib/agent/http.ts";
import { LAST_ERRORS, LATENCY_BUCKETS, Metrics } from "../../lib/agent/metrics.ts";
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
