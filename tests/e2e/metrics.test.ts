/** `serve --metrics` on loopback with a real runc container through the hook: what an operator's Prometheus and probes see. */
import { expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { encodeFrame } from "../../lib/wire/frame.ts";
import {
  AGENT,
  AgentProcess,
  freePort,
  HOOK,
  hookEntry,
  makeBundle,
  removeDir,
  run,
  runcRuntime,
  readUntil,
  runDetached,
  spawnAsNobody,
  stopContainer,
  tempDir,
  waitFor,
} from "./support.ts";
import { perTest } from "./per-test.ts";

const { defer } = perTest("e2e-metrics");

const value = (text: string, series: string): number | undefined => {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};

test("/readyz is 503 until the bootstrap ends; /metrics counts a real container's registration, removal and a bad client's error", async () => {
  const dir = tempDir("e2e-metrics");
  defer(() => removeDir(dir));
  const socket = join(dir, "run", "armor.sock");
  const addr = `127.0.0.1:${freePort()}`;
  const agent = await AgentProcess.start(socket, [
    "--metrics",
    addr,
    "--bootstrap",
    "hook",
    "--bootstrap-wait-ms",
    "60000",
    "--state-root",
    "runc:/nonexistent/armor-test",
  ]);
  defer(() => agent.stop());
  const get = (path: string) => fetch(`http://${addr}${path}`);

  expect((await get("/healthz")).status).toBe(200);
  expect((await get("/readyz")).status).toBe(503);
  expect(value(await (await get("/metrics")).text(), "armor_ready")).toBe(0);
  // An empty batch ends the bootstrap, as the fork sends it on an empty node.
  const batch = await Bun.connect({ unix: socket, socket: { data() {} } });
  batch.write(Buffer.concat([encodeFrame({ v: 1, id: 1, op: "bootstrap-begin" }), encodeFrame({ v: 1, id: 2, op: "bootstrap-end", count: 0 })]));
  await waitFor("/readyz 200", async () => (await get("/readyz")).status === 200, 5000);
  batch.end();

  const runtime = runcRuntime(join(dir, "state"));
  const bundle = await makeBundle(join(dir, "bundle"), {
    args: ["sleep", "600"],
    hooks: { createRuntime: [hookEntry("createRuntime", socket)], poststop: [hookEntry("poststop", socket)] },
  });
  await runDetached(runtime, bundle, "metrics-1");
  defer(() => stopContainer(runtime, "metrics-1").catch(() => undefined));
  let text = await (await get("/metrics")).text();
  expect(value(text, "armor_containers")).toBe(1);
  expect(value(text, 'armor_registrations_total{source="hook"}')).toBe(1);
  expect(value(text, 'armor_requests_total{op="register",result="ok"}')).toBe(1);
  expect(value(text, "armor_registration_seconds_count")).toBe(1);
  expect(value(text, 'armor_registration_seconds_bucket{le="+Inf"}')).toBe(1);
  expect((await get("/metrics")).headers.get("content-type")).toContain("text/plain; version=0.0.4");

  await stopContainer(runtime, "metrics-1");
  const garbage = await Bun.connect({ unix: socket, socket: { data() {} } });
  garbage.write(encodeFrame("not a request"));
  // A JSON string has no protocol version: E_VERSION, the client's mistake, counted apart and kept for `status`.
  await waitFor("the error to be counted", async () => value(await (await get("/metrics")).text(), 'armor_client_errors_total{code="E_VERSION"}') === 1, 5000);
  garbage.end();
  // The hooks' own records, sent after the agent's answer: their stage, result and duration.
  await waitFor(
    "both hook records",
    async () => value(await (await get("/metrics")).text(), 'armor_hook_calls_total{stage="poststop",result="unregistered"}') === 1,
    5000,
  );
  text = await (await get("/metrics")).text();
  expect(value(text, 'armor_hook_calls_total{stage="createRuntime",result="registered"}')).toBe(1);
  expect(value(text, 'armor_hook_duration_seconds_count{stage="createRuntime"}')).toBe(1);
  expect(value(text, 'armor_hook_duration_seconds_sum{stage="createRuntime"}')).toBeGreaterThan(0);
  expect(value(text, "armor_containers")).toBe(0);
  expect(value(text, 'armor_removals_total{source="hook"}')).toBe(1);
  expect(value(text, 'armor_errors_total{code="E_INTERNAL"}')).toBe(0);
  expect(value(text, "process_resident_memory_bytes")).toBeGreaterThan(1024 * 1024);
  expect(value(text, "process_open_fds")).toBeGreaterThan(2);
  expect(text).toMatch(/^armor_build_info\{version="[^"]+",bun="[^"]+"\} 1$/m);
  // What a real Prometheus would reject or warn about (names, types, HELP, histograms), by its own linter.
  const lint = Bun.spawnSync(["promtool", "check", "metrics"], { stdin: new TextEncoder().encode(text), stderr: "pipe", stdout: "pipe" });
  expect(`${lint.stdout.toString()}${lint.stderr.toString()}`).toBe("");
  expect(lint.exitCode).toBe(0);

  const status = await run([AGENT, "status", "--json", "--socket", socket]);
  const parsed = JSON.parse(status.stdout) as { lastErrors: Array<{ code: string; message: string }> };
  expect(parsed.lastErrors.at(-1)?.code).toBe("E_VERSION");
  const human = (await run([AGENT, "status", "--socket", socket])).stdout;
  expect(human).toContain("errors:      last 1:");
  expect(human).toContain(`hook log:    ${join(dirname(socket), "hook.log")} (armor-agent hook-log ID`);
});

test("a --metrics address that cannot be used stops the agent before it takes the socket", async () => {
  const dir = tempDir("e2e-metrics-bad");
  defer(() => removeDir(dir));
  const socket = join(dir, "run", "armor.sock");
  const ran = await run([AGENT, "serve", "--socket", socket, "--metrics", "127.0.0.1:notaport"]);
  expect(ran.code).toBe(2);
  expect(ran.stderr).toContain("--metrics must be HOST:PORT");
  expect(await Bun.file(socket).exists()).toBe(false);
});

test("3,000 idle connections from another user to the metrics port take nothing the hooks need", async () => {
  const dir = tempDir("e2e-metrics-flood");
  defer(() => removeDir(dir));
  const socket = join(dir, "run", "armor.sock");
  mkdirSync(dirname(socket), { recursive: true, mode: 0o700 });
  const port = freePort();
  // 256 descriptors, soft and hard: the flood alone would take every one of them.
  const proc = Bun.spawn(["prlimit", "--nofile=256:256", "--", AGENT, "serve", "--socket", socket, "--metrics", `127.0.0.1:${port}`], {
    stdin: "ignore",
    stdout: "ignore",
    stderr: "pipe",
  });
  defer(async () => {
    proc.kill("SIGTERM");
    await proc.exited;
  });
  await waitFor("the agent's socket", async () => (await run([AGENT, "status", "--socket", socket])).code === 0);
  // uid 65534 (nobody) holds 3,000 connections open from bash, the way any local user could.
  const flood = spawnAsNobody(
    `ulimit -n 4096; n=0; for i in $(seq 3000); do exec {fd}<>/dev/tcp/127.0.0.1/${port} && n=$((n+1)); done; echo "opened $n"; sleep 60`,
    "pipe",
  );
  defer(async () => {
    flood.kill("SIGKILL");
    await flood.exited;
  });
  // An agent whose descriptors ran out accepts no more: the flood then stalls, and the hooks go on anyway.
  const opened = await readUntil(flood.stdout, "opened", 20_000).catch(() => "flood stalled");

  const sleeper = Bun.spawn(["sleep", "600"], { stdin: "ignore", stdout: "ignore", stderr: "ignore" });
  defer(async () => {
    sleeper.kill();
    await sleeper.exited;
  });
  const bundle = join(dir, "bundle");
  mkdirSync(bundle);
  writeFileSync(join(bundle, "config.json"), JSON.stringify({ process: { args: ["sleep"] } }));
  const hooks = await Promise.all(
    Array.from({ length: 30 }, (_, i) =>
      run([HOOK, "createRuntime", "--socket", socket, "--timeout-ms", "2000", "--no-log-file"], {
        stdin: JSON.stringify({ ociVersion: "1.2.0", id: `flooded-${i}`, status: "created", pid: sleeper.pid, bundle }),
        env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" },
      }),
    ),
  );
  expect(hooks.map((hook) => [hook.code, hook.stderr])).toEqual(hooks.map(() => [0, ""]));
  expect(opened).toMatch(/opened 3000/);
  const list = await run([AGENT, "list", "--json", "--socket", socket]);
  expect((JSON.parse(list.stdout) as unknown[]).length).toBe(30);
  // The flood's connections within the cap are cut at the deadline: scraping works again.
  await waitFor("a scrape to succeed", async () => (await fetch(`http://127.0.0.1:${port}/metrics`).catch(() => undefined))?.status === 200, 15_000);
  expect(proc.exitCode).toBeNull();
}, 120_000);

test("another user churning connections to the metrics port faster than any grace period: the kubelet's probe never fails three times in a row", async () => {
  const dir = tempDir("e2e-metrics-churn");
  defer(() => removeDir(dir));
  const socket = join(dir, "run", "armor.sock");
  mkdirSync(dirname(socket), { recursive: true, mode: 0o700 });
  const port = freePort();
  const proc = Bun.spawn([AGENT, "serve", "--socket", socket, "--metrics", `127.0.0.1:${port}`], { stdin: "ignore", stdout: "ignore", stderr: "ignore" });
  defer(async () => {
    proc.kill("SIGTERM");
    await proc.exited;
  });
  await waitFor("the agent's socket", async () => (await run([AGENT, "status", "--socket", socket])).code === 0);
  // uid 65534 keeps opening connections that never send a request, closing the oldest of 512 of its own:
  // always many more than the listener's 16 slots, each younger than a quarter second.
  const churn = spawnAsNobody(
    `ulimit -n 4096; n=0; while :; do i=$((n % 512)); old=\${ring[$i]}; [ -n "$old" ] && exec {old}>&-; exec {fd}<>/dev/tcp/127.0.0.1/${port} 2>/dev/null && ring[$i]=$fd; n=$((n+1)); [ $n = 2000 ] && echo churning; done`,
    "pipe",
  );
  defer(async () => {
    churn.kill("SIGKILL");
    await churn.exited;
  });
  await readUntil(churn.stdout, "churning", 30_000);
  // The liveness probe of deploy/kubernetes: GET /healthz, a failure after its timeout; the kubelet restarts the agent after 3 in a row.
  const probes: number[] = [];
  for (let i = 0; i < 20; i++) {
    probes.push(
      await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(5000) })
        .then((r) => r.status)
        .catch(() => 0),
    );
    await Bun.sleep(100);
  }
  expect(churn.exitCode).toBeNull();
  expect(probes.join(" ")).not.toMatch(/(^| )(?!200)\d+ (?!200)\d+ (?!200)\d+( |$)/);
  expect(probes.filter((status) => status === 200).length).toBeGreaterThan(0);
  expect(proc.exitCode).toBeNull();
}, 120_000);
