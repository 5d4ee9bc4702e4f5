/** The agent's systemd unit as install.sh writes it, judged by systemd's own tools (scripts/check-unit.sh runs in .ci/run too). */
import { afterEach, describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { removeDir, ROOT, run, tempDir } from "./support.ts";

const UNIT = "etc/systemd/system/armor-agent.service";
const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

/** Installs into a fresh root that looks like a systemd node, with stand-in binaries; returns the root. */
async function installed(...extra: string[]): Promise<string> {
  const work = tempDir("unit");
  cleanups.push(() => removeDir(work));
  const from = join(work, "from");
  mkdirSync(from);
  for (const bin of ["armor-hook", "armor-agent"]) {
    writeFileSync(join(from, bin), "#!/bin/sh\nexit 0\n");
    chmodSync(join(from, bin), 0o755);
  }
  const root = join(work, "root");
  mkdirSync(join(root, "run", "systemd", "system"), { recursive: true });
  const ran = await run(["sh", join(ROOT, "install.sh"), "--root", root, "--from", from, "--runtimes", "runc", ...extra]);
  expect(ran.code).toBe(0);
  return root;
}

/** systemd-analyze's overall exposure rating of the unit under `root`. */
async function exposure(root: string): Promise<number> {
  const ran = await run(["systemd-analyze", "security", "--offline=true", `--root=${root}`, "armor-agent.service"]);
  const match = /Overall exposure level for armor-agent\.service: (\d+\.\d)/.exec(ran.stdout + ran.stderr);
  if (!match?.[1]) throw new Error(`no rating: ${ran.stdout}${ran.stderr}`);
  return Number(match[1]);
}

describe("armor-agent.service", () => {
  test("scripts/check-unit.sh passes: exposure at most 3.0 with and without --metrics, and it verifies", async () => {
    const ran = await run(["sh", join(ROOT, "scripts/check-unit.sh")]);
    expect(ran.stderr).toBe("");
    expect(ran.code).toBe(0);
    expect(ran.stdout).toContain("armor-agent.service (metrics)");
  });

  test.each([[[]], [["--metrics", "127.0.0.1:9469"]]])("install.sh %j: rated at most 3.0; the same unit stripped of its hardening is not", async (extra) => {
    const root = await installed(...extra);
    expect(await exposure(root)).toBeLessThanOrEqual(3.0);
    // The rating can fail: keep only what the unit had before it was hardened.
    const unit = readFileSync(join(root, UNIT), "utf8");
    const bare = unit
      .split("\n")
      .filter((line) => !/^(Capability|NoNewPrivileges|Protect|Private|Restrict|SystemCall|Lock|RemoveIPC|UMask|ReadWritePaths)/.test(line))
      .join("\n");
    writeFileSync(join(root, UNIT), bare);
    expect(await exposure(root)).toBeGreaterThan(3.0);
  });

  test("says what a platform engineer needs: docs, no restart on usage errors, the spool directory kept on stop, two capabilities", async () => {
    const root = await installed();
    const unit = readFileSync(join(root, UNIT), "utf8");
    expect(unit).toContain("Documentation=file:/usr/local/lib/armor-hooks/INSTALL.md\n");
    expect(readFileSync(join(root, "usr/local/lib/armor-hooks/INSTALL.md"), "utf8")).toContain("## Install on a node");
    expect(unit).toContain("RestartPreventExitStatus=2\n");
    expect(unit).toContain("RuntimeDirectory=armor\n");
    expect(unit).toContain("RuntimeDirectoryPreserve=yes\n");
    expect(unit).toContain("ReadWritePaths=/run/armor\n");
    expect(unit).toContain("CapabilityBoundingSet=CAP_SYS_PTRACE CAP_DAC_READ_SEARCH\n");
    expect(unit).toContain("PrivateNetwork=yes\n");
    // Nothing that runs at stop removes files: ExecStop/ExecStopPost are absent.
    expect(unit).not.toMatch(/^ExecStop/m);
  });

  test("--metrics serves on the given address: the unit passes it and allows Internet sockets, and nothing else changes", async () => {
    const unit = readFileSync(join(await installed("--metrics", "127.0.0.1:9469"), UNIT), "utf8");
    expect(unit).toContain("serve --socket /run/armor/armor.sock --reconcile --hook-binary /usr/local/lib/armor-hooks/armor-hook --metrics 127.0.0.1:9469\n");
    expect(unit).toContain("RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6\n");
    expect(unit).not.toContain("PrivateNetwork=yes");
  });

  test("a socket outside /run gets its directory made before start (RuntimeDirectory= only covers /run)", async () => {
    const unit = readFileSync(join(await installed("--socket", "/var/lib/armor/armor.sock"), UNIT), "utf8");
    expect(unit).toContain("ExecStartPre=+/bin/mkdir -p -m 0700 /var/lib/armor\n");
    expect(unit).toContain("ReadWritePaths=/var/lib/armor\n");
    expect(unit).not.toContain("RuntimeDirectory=armor");
  });

  test.each(["bad", "127.0.0.1", "host:port", "1.2.3.4:9469;rm"])("install.sh --metrics %p is a usage error", async (addr) => {
    const ran = await run(["sh", join(ROOT, "install.sh"), "--dry-run", "--metrics", addr]);
    expect(ran.code).toBe(2);
    expect(ran.stderr).toContain("--metrics must be HOST:PORT");
  });
});
