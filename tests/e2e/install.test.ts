/**
 * install.sh into a temporary root: every file with its mode, owner and content,
 * idempotence, the dry run, rollback on failure, --check, and the uninstall.
 */
import { afterEach, beforeEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { chmodSync, copyFileSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { layout } from "../../lib/layout.ts";
import { AGENT, HOOK, HOOK_ENV, ROOT, removeDir, run, tempDir, type Ran } from "./support.ts";

const INSTALL = join(ROOT, "install.sh");
const PREFIX = "/usr/local/lib/armor-hooks";
const HOOKS_DIR = "/usr/share/containers/oci/hooks.d";
/** One hooks.d file per stage, whose args name it. */
const HOOKS_FILES = { createRuntime: `${HOOKS_DIR}/10-armor-hooks-createRuntime.json`, poststop: `${HOOKS_DIR}/10-armor-hooks-poststop.json` };
/** The one file for both stages that earlier versions wrote. */
const OLD_HOOKS_FILE = `${HOOKS_DIR}/10-armor-hooks.json`;
const UNIT_FILE = "/etc/systemd/system/armor-agent.service";
const NRI_UNIT_FILE = "/etc/systemd/system/armor-nri.service";
const BASE_SPEC = "/etc/armor-hooks/containerd-base-spec.json";

/** Every path under `dir` with its type, mode, owner, inode and content hash: a node's state. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string): void => {
    const stat = lstatSync(join(dir, rel));
    const mode = (stat.mode & 0o7777).toString(8);
    if (stat.isDirectory()) {
      out[rel || "/"] = `dir ${mode} ${stat.uid}:${stat.gid}`;
      for (const name of readdirSync(join(dir, rel)).sort()) walk(`${rel}/${name}`);
    } else {
      out[rel] = `file ${mode} ${stat.uid}:${stat.gid} ino=${stat.ino} ${Bun.hash(readFileSync(join(dir, rel))).toString(16)}`;
    }
  };
  walk("");
  return out;
}

// Each install copies two ~100 MB binaries and compares them; some tests install three times.
setDefaultTimeout(60_000);

const sameBytes = (a: string, b: string): boolean => readFileSync(a).equals(readFileSync(b));

let root: string;
let work: string;

/** Runs install.sh against the temporary root. */
const install = (...args: string[]): Promise<Ran> => run(["sh", INSTALL, "--root", root, ...args]);

/** A node with systemd and all three hooks.d readers installed. */
function fakeNode(runtimes: string[] = ["crio", "podman", "containerd"], systemd = true): void {
  mkdirSync(join(root, "usr/bin"), { recursive: true });
  for (const name of runtimes) {
    writeFileSync(join(root, "usr/bin", name), "#!/bin/sh\n");
    chmodSync(join(root, "usr/bin", name), 0o755);
  }
  if (systemd) mkdirSync(join(root, "run/systemd/system"), { recursive: true });
}

/** A `--from` directory: armor-hook with `hook` as its content, armor-agent with `agent` (default: a copy of the built agent); both executable. */
function stageFrom(hook: string, agent?: string): string {
  const from = join(work, "from");
  mkdirSync(from);
  writeFileSync(join(from, "armor-hook"), hook);
  chmodSync(join(from, "armor-hook"), 0o755);
  if (agent === undefined) copyFileSync(AGENT, join(from, "armor-agent"));
  else {
    writeFileSync(join(from, "armor-agent"), agent);
    chmodSync(join(from, "armor-agent"), 0o755);
  }
  return from;
}

beforeEach(() => {
  root = tempDir("install-root");
  work = tempDir("install-work");
});
afterEach(() => {
  removeDir(root);
  removeDir(work);
});

describe("install.sh", () => {
  test("--help documents every option", async () => {
    const ran = await run(["sh", INSTALL, "--help"]);
    expect(ran.code).toBe(0);
    for (const flag of [
      "--prefix",
      "--hooks-dir",
      "--socket",
      "--timeout-ms",
      "--runtimes",
      "--root",
      "--dry-run",
      "--force",
      "--uninstall",
      "--check",
      "--no-systemd",
    ]) {
      expect(ran.stdout).toContain(flag);
    }
  });

  test.each([
    [["--timeout-ms", "0"], "--timeout-ms must be a whole number"],
    [["--prefix", "relative/dir"], "--prefix must be an absolute path"],
    [["--socket", "/run/a b"], "--socket may hold only"],
    [["--runtimes", "docker"], 'unknown runtime "docker"'],
    [["--bogus"], 'unknown argument "--bogus"'],
    [["--prefix"], "--prefix needs a value"],
  ])("rejects bad usage %p with status 2 and changes nothing", async (args, message) => {
    fakeNode();
    const before = snapshot(root);
    const ran = await install(...args);
    expect(ran.code).toBe(2);
    expect(ran.stderr).toContain(message);
    expect(snapshot(root)).toEqual(before);
  });

  test("installs binaries, one hooks.d entry per stage, unit and manifest with their modes and owners", async () => {
    fakeNode();
    const ran = await install();
    expect(ran.stderr).toBe("");
    expect(ran.code).toBe(0);
    expect(ran.stdout).toContain("runtimes: crio,podman,containerd (detected); systemd: yes");

    const tree = snapshot(root);
    const written = Object.keys(tree).filter((path) => path !== "/" && !path.startsWith("/usr/bin") && !path.startsWith("/run"));
    expect(written.filter((path) => tree[path]?.startsWith("file")).sort()).toEqual(
      [
        `${PREFIX}/armor-hook`,
        `${PREFIX}/armor-agent`,
        `${PREFIX}/INSTALL.md`,
        `${PREFIX}/install-manifest`,
        HOOKS_FILES.createRuntime,
        HOOKS_FILES.poststop,
        UNIT_FILE,
        NRI_UNIT_FILE,
        BASE_SPEC,
      ].sort(),
    );
    for (const path of written) {
      const expected =
        path.endsWith("armor-hook") || path.endsWith("armor-agent") ? "file 755 0:0" : tree[path]?.startsWith("dir") ? "dir 755 0:0" : "file 644 0:0";
      expect(`${path} ${tree[path]}`).toStartWith(`${path} ${expected}`);
    }
    expect(sameBytes(join(root, PREFIX, "armor-hook"), HOOK)).toBe(true);
    expect(sameBytes(join(root, PREFIX, "armor-agent"), AGENT)).toBe(true);

    for (const [stage, file] of Object.entries(HOOKS_FILES)) {
      expect(JSON.parse(readFileSync(join(root, file), "utf8"))).toEqual({
        version: "1.0.0",
        hook: {
          path: `${PREFIX}/armor-hook`,
          args: ["armor-hook", stage, "--socket", "/run/armor/armor.sock", "--timeout-ms", "2000"],
          env: HOOK_ENV,
          timeout: 5,
        },
        when: { always: true },
        stages: [stage],
      });
    }
    const unit = readFileSync(join(root, UNIT_FILE), "utf8");
    expect(unit).toContain(`ExecStart=${PREFIX}/armor-agent serve --socket /run/armor/armor.sock --reconcile --hook-binary ${PREFIX}/armor-hook\n`);
    expect(unit).toContain("Restart=always\n");
    expect(unit).toContain("UnsetEnvironment=BUN_BE_BUN BUN_OPTIONS\n");
    expect(unit).toContain("WantedBy=multi-user.target\n");
    // containerd is here: the NRI plugin's unit, injecting the same entry as the hooks.d file above.
    const nriUnit = readFileSync(join(root, NRI_UNIT_FILE), "utf8");
    expect(nriUnit).toContain(`ExecStart=${PREFIX}/armor-agent nri --hook-path ${PREFIX}/armor-hook --socket /run/armor/armor.sock --timeout-ms 2000\n`);
    expect(nriUnit).toContain("After=containerd.service armor-agent.service\n");
    expect(nriUnit).toContain("UnsetEnvironment=BUN_BE_BUN BUN_OPTIONS\n");

    const manifest = readFileSync(join(root, PREFIX, "install-manifest"), "utf8")
      .trim()
      .split("\n");
    // Landing order: binaries before the unit (and the guide it names), the unit before the hook config, poststop's before
    // createRuntime's (no container is registered while nothing would unregister it); each with its sha256 as written.
    expect(manifest.slice(0, 8)).toEqual(
      [
        `${PREFIX}/armor-hook`,
        `${PREFIX}/armor-agent`,
        `${PREFIX}/INSTALL.md`,
        UNIT_FILE,
        NRI_UNIT_FILE,
        HOOKS_FILES.poststop,
        HOOKS_FILES.createRuntime,
        BASE_SPEC,
      ].map((path) => `file ${path} ${sha256(path)}`),
    );
    expect(manifest).toContain("dir /usr/share/containers/oci/hooks.d");
    expect(manifest).not.toContain("dir /usr/bin");
  });

  test("honours --prefix, --hooks-dir, --socket and --timeout-ms in every file", async () => {
    fakeNode(["podman"], true);
    const ran = await install("--prefix", "/opt/armor", "--hooks-dir", "/etc/containers/oci/hooks.d", "--socket", "/run/x/agent.sock", "--timeout-ms", "7000");
    expect(ran.code).toBe(0);
    for (const stage of ["createRuntime", "poststop"]) {
      const entry = JSON.parse(readFileSync(join(root, `etc/containers/oci/hooks.d/10-armor-hooks-${stage}.json`), "utf8"));
      expect(entry.hook).toEqual({
        path: "/opt/armor/armor-hook",
        args: ["armor-hook", stage, "--socket", "/run/x/agent.sock", "--timeout-ms", "7000"],
        env: HOOK_ENV,
        timeout: 10,
      });
    }
    expect(readFileSync(join(root, UNIT_FILE), "utf8")).toContain(
      "ExecStart=/opt/armor/armor-agent serve --socket /run/x/agent.sock --reconcile --hook-binary /opt/armor/armor-hook\n",
    );
  });

  test("running it twice rewrites nothing", async () => {
    fakeNode();
    expect((await install()).code).toBe(0);
    const first = snapshot(root);
    const again = await install();
    expect(again.code).toBe(0);
    expect(again.stdout).not.toContain("wrote ");
    expect(again.stdout.match(/^unchanged /gm)).toHaveLength(8);
    // Same inodes: not even rewritten with the same bytes.
    expect(snapshot(root)).toEqual(first);
  });

  test("an upgrade replaces a changed binary by rename and keeps no backup", async () => {
    fakeNode();
    expect((await install()).code).toBe(0);
    const before = snapshot(root);
    const from = stageFrom("#!/bin/sh\necho armor-hook 9.9.9\n");
    const ran = await install("--from", from);
    expect(ran.code).toBe(0);
    expect(ran.stdout).toContain(`wrote ${root}${PREFIX}/armor-hook`);
    const after = snapshot(root);
    expect(after[`${PREFIX}/armor-hook`]).not.toEqual(before[`${PREFIX}/armor-hook`]);
    expect(readFileSync(join(root, PREFIX, "armor-hook"), "utf8")).toContain("9.9.9");
    expect(Object.keys(after).sort()).toEqual(Object.keys(before).sort());
  });

  test("--dry-run prints every file and why, and writes nothing", async () => {
    fakeNode();
    const before = snapshot(root);
    const ran = await install("--dry-run");
    expect(ran.code).toBe(0);
    for (const path of [
      `${PREFIX}/armor-hook`,
      `${PREFIX}/armor-agent`,
      UNIT_FILE,
      NRI_UNIT_FILE,
      ...Object.values(HOOKS_FILES),
      BASE_SPEC,
      `${PREFIX}/install-manifest`,
    ]) {
      expect(ran.stdout).toMatch(new RegExp(`^would write ${root}${path} \\((0755|0644) root:root\\): \\S`, "m"));
    }
    expect(ran.stdout).toContain('"version": "1.0.0"');
    expect(ran.stdout).toContain("Remaining steps");
    expect(snapshot(root)).toEqual(before);

    expect((await install()).code).toBe(0);
    const installed = snapshot(root);
    const again = await install("--dry-run");
    expect(again.stdout).not.toContain("would write /");
    expect(again.stdout.match(/^unchanged /gm)).toHaveLength(8);
    expect(snapshot(root)).toEqual(installed);
  });

  test("--uninstall removes what it wrote and nothing else", async () => {
    fakeNode();
    mkdirSync(join(root, "usr/share/containers/oci/hooks.d"), { recursive: true });
    writeFileSync(join(root, "usr/share/containers/oci/hooks.d/other.json"), "{}");
    mkdirSync(join(root, "etc/systemd/system"), { recursive: true });
    const before = snapshot(root);
    expect((await install()).code).toBe(0);
    expect((await install()).code).toBe(0);
    const installed = snapshot(root);

    const dry = await install("--uninstall", "--dry-run");
    expect(dry.code).toBe(0);
    for (const file of Object.values(HOOKS_FILES)) expect(dry.stdout).toContain(`would remove ${root}${file}`);
    expect(dry.stdout).toContain(`would remove ${root}${PREFIX}/armor-hook`);
    expect(snapshot(root)).toEqual(installed);

    const ran = await install("--uninstall");
    expect(ran.code).toBe(0);
    expect(ran.stdout).toContain("armor-hooks uninstalled");
    // Config before binaries, createRuntime's before poststop's.
    expect(ran.stdout.indexOf(HOOKS_FILES.createRuntime)).toBeLessThan(ran.stdout.indexOf(HOOKS_FILES.poststop));
    expect(ran.stdout.indexOf(HOOKS_FILES.poststop)).toBeLessThan(ran.stdout.indexOf(`${PREFIX}/armor-hook`));
    expect(snapshot(root)).toEqual(before);

    const twice = await install("--uninstall");
    expect(twice.code).toBe(0);
    expect(twice.stdout).toContain("nothing to uninstall");
  });

  test("a failure after the binaries landed puts the node back as it was", async () => {
    fakeNode();
    expect((await install()).code).toBe(0);
    const before = snapshot(root);
    // An agent that runs but cannot check the hooks.d entry: the failure comes after the binaries were renamed in.
    const from = stageFrom("#!/bin/sh\necho armor-hook 9.9.9\n", '#!/bin/sh\n[ "$1" = --version ] && { echo 9.9.9; exit 0; }\necho "checker broke"\nexit 1\n');
    // Without containerd: its base spec would be built by the broken agent before anything lands.
    const ran = await install("--from", from, "--socket", "/run/other.sock", "--runtimes", "crio,podman");
    expect(ran.code).toBe(1);
    expect(ran.stderr).toContain("install.sh: failed: the hooks.d entry would not load: checker broke");
    expect(ran.stderr).toContain("nothing changed");
    expect(snapshot(root)).toEqual(before);
  });

  test("a failed first install leaves no file and no directory behind", async () => {
    fakeNode();
    const before = snapshot(root);
    const from = stageFrom("not a program");
    const ran = await install("--from", from);
    expect(ran.code).toBe(1);
    expect(ran.stderr).toMatch(/failed: .*armor-hook.* does not run on this node/);
    expect(snapshot(root)).toEqual(before);
  });

  test("without runtimes or systemd it writes only the binaries and says what to run", async () => {
    fakeNode([], false);
    const ran = await install();
    expect(ran.code).toBe(0);
    expect(ran.stdout).toContain("No container runtime found");
    expect(ran.stdout).toContain(`env -u BUN_BE_BUN -u BUN_OPTIONS ${PREFIX}/armor-agent serve --socket /run/armor/armor.sock --reconcile`);
    const files = Object.entries(snapshot(root))
      .filter(([, what]) => what.startsWith("file"))
      .map(([path]) => path);
    expect(files.sort()).toEqual([`${PREFIX}/armor-agent`, `${PREFIX}/armor-hook`, `${PREFIX}/install-manifest`]);
  });

  test("for runc it prints a config.json hooks snippet with env at both stages", async () => {
    fakeNode(["runc"], false);
    const ran = await install();
    expect(ran.code).toBe(0);
    const snippet = /^ {2}"hooks": \{[\s\S]*?^ {2}\}$/m.exec(ran.stdout)?.[0];
    expect(snippet).toBeDefined();
    const hooks = JSON.parse(`{${snippet}}`).hooks;
    for (const stage of ["createRuntime", "poststop"]) {
      expect(hooks[stage]).toEqual([
        { path: `${PREFIX}/armor-hook`, args: ["armor-hook", stage, "--socket", "/run/armor/armor.sock", "--timeout-ms", "2000"], env: HOOK_ENV, timeout: 5 },
      ]);
    }
  });

  test("for containerd it writes the hooks.d entries and prints both the NRI and base_runtime_spec steps", async () => {
    fakeNode(["containerd"], false);
    const ran = await install();
    expect(ran.code).toBe(0);
    for (const file of Object.values(HOOKS_FILES)) expect(snapshot(root)[file]).toStartWith("file 644 0:0");
    expect(ran.stdout).toContain('[plugins."io.containerd.nri.v1.nri"]');
    expect(ran.stdout).toContain("containerd 1.7 or newer");
    expect(ran.stdout).toContain("base_runtime_spec");
    expect(ran.stdout).toContain("containerd 1.5 or newer");
    // No systemd: the plugin's command line to run under another supervisor.
    expect(ran.stdout).toContain(`${PREFIX}/armor-agent nri --hook-path ${PREFIX}/armor-hook --socket /run/armor/armor.sock`);
    expect(snapshot(root)[NRI_UNIT_FILE]).toBeUndefined();
  });

  test("warns about another hooks.d file that would stop every container", async () => {
    fakeNode(["podman"], false);
    mkdirSync(join(root, "usr/share/containers/oci/hooks.d"), { recursive: true });
    writeFileSync(join(root, "usr/share/containers/oci/hooks.d/05-broken.json"), '{"version": "9"}');
    const ran = await install();
    expect(ran.code).toBe(0);
    expect(ran.stderr).toContain('05-broken.json: version is "9", not "1.0.0": CRI-O and podman refuse to create any container');
  });
});

/** The sha256 of a file under the root, as the manifest records it. */
const sha256 = (path: string): string => new Bun.CryptoHasher("sha256").update(readFileSync(join(root, path))).digest("hex");

/**
 * Turns the install under the root into what earlier versions of install.sh left: one hooks.d
 * file for both stages whose args name no stage, listed in the manifest in place of the two.
 */
function asSingleFileInstall(): void {
  const { hook } = JSON.parse(readFileSync(join(root, HOOKS_FILES.createRuntime), "utf8"));
  const old = {
    version: "1.0.0",
    hook: { ...hook, args: hook.args.filter((arg: string) => arg !== "createRuntime") },
    when: { always: true },
    stages: ["createRuntime", "poststop"],
  };
  writeFileSync(join(root, OLD_HOOKS_FILE), `${JSON.stringify(old, null, 2)}\n`, { mode: 0o644 });
  const manifest = join(root, PREFIX, "install-manifest");
  const lines = readFileSync(manifest, "utf8").split("\n");
  writeFileSync(
    manifest,
    lines
      .filter((line) => !line.startsWith(`file ${HOOKS_FILES.createRuntime} `))
      .map((line) => (line.startsWith(`file ${HOOKS_FILES.poststop} `) ? `file ${OLD_HOOKS_FILE} ${sha256(OLD_HOOKS_FILE)}` : line))
      .join("\n"),
  );
  for (const file of Object.values(HOOKS_FILES)) rmSync(join(root, file));
}

describe("install.sh after an install of one hooks.d file for both stages", () => {
  test("replaces it with one file per stage, as a fresh install writes them", async () => {
    fakeNode();
    expect((await install()).code).toBe(0);
    const fresh = contents(root);
    asSingleFileInstall();
    const ran = await install();
    expect(ran.stderr).toBe("");
    expect(ran.code).toBe(0);
    expect(ran.stdout).toContain(`removed ${root}${OLD_HOOKS_FILE}: replaced by one hooks.d file per stage`);
    expect(existsSync(join(root, OLD_HOOKS_FILE))).toBe(false);
    expect(readFileSync(join(root, PREFIX, "install-manifest"), "utf8")).not.toContain(OLD_HOOKS_FILE);
    expect(contents(root)).toEqual(fresh);
  });

  test("--uninstall removes it with the rest", async () => {
    fakeNode();
    const before = snapshot(root);
    expect((await install()).code).toBe(0);
    asSingleFileInstall();
    const ran = await install("--uninstall");
    expect(ran.code).toBe(0);
    expect(ran.stdout).toContain(`removed ${root}${OLD_HOOKS_FILE}`);
    expect(snapshot(root)).toEqual(before);
  });

  test("an edited one is kept with a warning, unless --force", async () => {
    fakeNode(["podman"], false);
    expect((await install()).code).toBe(0);
    asSingleFileInstall();
    const edited = readFileSync(join(root, OLD_HOOKS_FILE), "utf8").replace('"timeout": 5', '"timeout": 9');
    writeFileSync(join(root, OLD_HOOKS_FILE), edited);
    const kept = await install();
    expect(kept.code).toBe(0);
    expect(kept.stderr).toContain(
      `install.sh: warning: kept ${root}${OLD_HOOKS_FILE}: changed since install.sh wrote it; if it names armor-hook, containers get the hook twice at each stage (--force removes it)`,
    );
    expect(readFileSync(join(root, OLD_HOOKS_FILE), "utf8")).toBe(edited);
    expect(readFileSync(join(root, PREFIX, "install-manifest"), "utf8")).toContain(`file ${OLD_HOOKS_FILE} `);
    const forced = await install("--force");
    expect(forced.code).toBe(0);
    expect(existsSync(join(root, OLD_HOOKS_FILE))).toBe(false);
  });
});

describe("the hooks.d entries install.sh writes, run by the compiled hook", () => {
  /** Runs the installed entry for `stage` as a runtime would, its stdin held open; killed at the entry's timeout, as a runtime kills it. */
  async function runEntryStdinOpen(stage: string): Promise<{ code: number | null; killed: boolean; stderr: string }> {
    const { hook } = JSON.parse(readFileSync(join(root, HOOKS_FILES[stage as keyof typeof HOOKS_FILES]), "utf8"));
    const env = Object.fromEntries((hook.env as string[]).map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]));
    const proc = Bun.spawn([join(root, hook.path), ...hook.args.slice(1)], {
      argv0: hook.args[0],
      env,
      cwd: "/",
      stdin: "pipe",
      stdout: "ignore",
      stderr: "pipe",
    });
    let killed = false;
    const timer = setTimeout(() => {
      killed = true;
      proc.kill("SIGKILL");
    }, hook.timeout * 1000);
    const code = await proc.exited;
    clearTimeout(timer);
    const stderr = await new Response(proc.stderr).text();
    proc.stdin.end();
    return { code, killed, stderr };
  }

  test("under --fail-policy closed, a poststop whose stdin never closes exits 0 within the entry's timeout; a createRuntime is refused", async () => {
    fakeNode(["podman"], false);
    const socket = join(work, "run/armor.sock");
    // The agent has run on this node (its spool is there) and is down now: fail-closed applies.
    mkdirSync(layout(socket).spool, { recursive: true });
    expect((await install("--socket", socket, "--timeout-ms", "500", "--fail-policy", "closed")).code).toBe(0);

    const poststop = await runEntryStdinOpen("poststop");
    expect(poststop).toMatchObject({ code: 0, killed: false });
    expect(poststop.stderr).toContain("the container has stopped; nothing to refuse (fail-closed)");
    const create = await runEntryStdinOpen("createRuntime");
    expect(create).toMatchObject({ code: 7, killed: false });
    expect(create.stderr).toContain("E_HOOK_TIMEOUT");
  });
});

/** Every regular file under `dir` with its content hash, for trees install.sh writes twice (inodes differ). */
function contents(dir: string): Record<string, string> {
  return Object.fromEntries(Object.entries(snapshot(dir)).map(([path, what]) => [path, what.replace(/ ino=\d+/, "")]));
}

/** A stub that SIGKILLs the install.sh running it (its nearest ancestor running install.sh), as a power cut or OOM kill would. */
const KILL_INSTALL = `p=$PPID top=
while [ "$p" -gt 1 ]; do
  if tr '\\0' ' ' </proc/$p/cmdline | grep -qF install.sh; then top=$p; fi
  p=$(awk '/^PPid/ {print $2}' /proc/$p/status)
done
kill -9 "$top"; exit 1
`;

describe("install.sh hardening", () => {
  test("a link planted where install.sh stages files is never written through", async () => {
    fakeNode();
    const victim = join(work, "victim");
    writeFileSync(victim, "outside --root\n");
    const dir = join(root, PREFIX);
    mkdirSync(dir, { recursive: true });
    for (const name of [".armor-hook.armor-tmp", ".armor-agent.armor-tmp", ".install-manifest.armor-tmp", ".armor-install"])
      symlinkSync(victim, join(dir, name));
    const ran = await install();
    expect(ran.code).toBe(0);
    expect(readFileSync(victim, "utf8")).toBe("outside --root\n");
    expect(sameBytes(join(root, PREFIX, "armor-hook"), HOOK)).toBe(true);
    expect(readdirSync(dir).filter((name) => name.includes(".armor-install"))).toEqual([]);
  });

  test("absolute and escaping links inside --root resolve inside --root, never onto the real /", async () => {
    fakeNode();
    const outside = tempDir("install-outside");
    try {
      // usr/local -> <outside>/usr/local (absolute); usr/share -> ../../<outside's name>/share (climbs above --root).
      mkdirSync(join(outside, "usr/local"), { recursive: true });
      symlinkSync(join(outside, "usr/local"), join(root, "usr/local"));
      symlinkSync(`../../${outside.split("/").pop()}/share`, join(root, "usr/share"));
      const before = snapshot(outside);
      const ran = await install();
      expect(ran.stderr).toBe("");
      expect(ran.code).toBe(0);
      expect(snapshot(outside)).toEqual(before);
      expect(sameBytes(join(root, outside, "usr/local/lib/armor-hooks/armor-hook"), HOOK)).toBe(true);
      expect(
        JSON.parse(readFileSync(join(root, outside.split("/").pop() as string, "share/containers/oci/hooks.d/10-armor-hooks-poststop.json"), "utf8")).hook.path,
      ).toBe(`${PREFIX}/armor-hook`);
      expect((await install("--check")).stdout).toEndWith(": ok\n");
      expect((await install("--uninstall")).code).toBe(0);
      expect(snapshot(outside)).toEqual(before);
      expect(existsSync(join(root, outside, "usr/local/lib/armor-hooks"))).toBe(false);
    } finally {
      removeDir(outside);
    }
  });

  test.each([
    ["while staging (the hook's --version check)", KILL_INSTALL, undefined],
    [
      "after the binaries and the unit landed (the hooks.d check)",
      "#!/bin/sh\necho armor-hook 0.0.0\n",
      `#!/bin/sh\n[ "$1" = --version ] && { echo 0.0.0; exit 0; }\n${KILL_INSTALL}`,
    ],
  ])("killed %s: --uninstall rolls it back, the next install completes", async (_, hook, agent) => {
    fakeNode();
    const before = snapshot(root);
    const from = stageFrom(hook.startsWith("#!") ? hook : `#!/bin/sh\n[ "$1" = --version ] && { ${hook}}\n`, agent);
    // Without containerd, whose base spec the agent builds before anything is staged.
    // TMPDIR: the killed run's work directory is left where the test removes it.
    const killedRun = (): Promise<Ran> =>
      run(["sh", INSTALL, "--root", root, "--from", from, "--runtimes", "crio,podman"], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", TMPDIR: work } });
    const killed = await killedRun();
    expect(killed.code).not.toBe(0);
    expect(killed.stdout).not.toContain("armor-hooks installed");
    expect(existsSync(join(root, PREFIX, ".armor-install/journal"))).toBe(true);

    const undone = await install("--uninstall");
    expect(undone.code).toBe(0);
    expect(undone.stderr).toContain("rolling back an interrupted install");
    expect(snapshot(root)).toEqual(before);

    expect((await killedRun()).code).not.toBe(0);
    const completed = await install();
    expect(completed.code).toBe(0);
    expect(completed.stderr).toContain("rolling back an interrupted install");
    const clean = contents(root);
    removeDir(root);
    mkdirSync(root, { mode: 0o700 });
    fakeNode();
    expect((await install()).code).toBe(0);
    expect(contents(root)).toEqual(clean);
  });

  test("a file the admin changed is kept with a warning, unless --force", async () => {
    fakeNode();
    expect((await install()).code).toBe(0);
    const hooksFile = join(root, HOOKS_FILES.createRuntime);
    const edited = readFileSync(hooksFile, "utf8").replace('"timeout": 5', '"timeout": 9');
    writeFileSync(hooksFile, edited);

    const again = await install("--timeout-ms", "3000");
    expect(again.code).toBe(0);
    expect(again.stderr).toContain(`install.sh: warning: kept ${root}${HOOKS_FILES.createRuntime}: changed since install.sh wrote it (--force replaces it)`);
    expect(readFileSync(hooksFile, "utf8")).toBe(edited);
    expect(readFileSync(join(root, UNIT_FILE), "utf8")).toContain("--socket /run/armor/armor.sock");

    const kept = await install("--uninstall");
    expect(kept.code).toBe(0);
    expect(kept.stderr).toContain(`kept ${root}${HOOKS_FILES.createRuntime}: changed since install.sh wrote it (--force removes it)`);
    expect(readFileSync(hooksFile, "utf8")).toBe(edited);
    expect(existsSync(join(root, PREFIX, "armor-hook"))).toBe(false);

    expect((await install()).stderr).toContain(`kept ${root}${HOOKS_FILES.createRuntime}: not written by install.sh (--force replaces it)`);
    const forced = await install("--force");
    expect(forced.code).toBe(0);
    expect(JSON.parse(readFileSync(hooksFile, "utf8")).hook.timeout).toBe(5);
    writeFileSync(hooksFile, edited);
    expect((await install("--uninstall", "--force")).code).toBe(0);
    expect(existsSync(hooksFile)).toBe(false);
  });
});

describe("install.sh --check", () => {
  const good = (path: string): Record<string, unknown> => ({
    version: "1.0.0",
    hook: { path, args: ["armor-hook"], env: HOOK_ENV, timeout: 5 },
    when: { always: true },
    stages: ["createRuntime", "poststop"],
  });

  test("accepts the entries install.sh writes", async () => {
    fakeNode(["podman"], false);
    expect((await install()).code).toBe(0);
    const ran = await install("--check");
    expect(ran.code).toBe(0);
    expect(ran.stdout).toBe(`${root}${HOOKS_FILES.createRuntime}: ok\n${root}${HOOKS_FILES.poststop}: ok\n`);
  });

  test.each<[string, (doc: Record<string, any>) => unknown, string]>([
    ["a bad version", (doc) => ({ ...doc, version: "1.0.1" }), 'version is "1.0.1", not "1.0.0": CRI-O and podman refuse'],
    [
      "a missing binary",
      (doc) => ({ ...doc, hook: { ...doc.hook, path: "/nowhere/armor-hook" } }),
      "does not exist: CRI-O, podman and the NRI hook-injector silently skip",
    ],
    ["an unknown stage", (doc) => ({ ...doc, stages: ["createRuntime", "poststart-ish"] }), 'unknown stage "poststart-ish"'],
    ["no when condition", (doc) => ({ ...doc, when: {} }), "when needs at least one of"],
    ["a string timeout", (doc) => ({ ...doc, hook: { ...doc.hook, timeout: "5" } }), "hook.timeout is not a positive whole number"],
    ["no env for armor-hook", (doc) => ({ ...doc, hook: { path: doc.hook.path } }), "hook.env is not set"],
    ["BUN_OPTIONS in env", (doc) => ({ ...doc, hook: { ...doc.hook, env: ["BUN_OPTIONS=--inspect"] } }), "sets a BUN_ variable"],
    ["a bad regular expression", (doc) => ({ ...doc, when: { commands: ["("] } }), "when.commands is not a list of regular expressions"],
    [
      "args naming poststop in an entry for createRuntime too",
      (doc) => ({ ...doc, hook: { ...doc.hook, args: ["armor-hook", "poststop"] } }),
      'hook.args name the stage poststop, so stages must be ["poststop"] alone: at any other stage armor-hook would act as poststop',
    ],
    [
      "args naming no stage in an entry for one stage",
      (doc) => ({ ...doc, stages: ["createRuntime"] }),
      "stages must include createRuntime and poststop for an armor-hook whose args name no stage",
    ],
  ])("catches %s", async (_, breakIt, message) => {
    const file = join(work, "entry.json");
    writeFileSync(file, JSON.stringify(breakIt(good(HOOK))));
    const ran = await run(["sh", INSTALL, "--check", file]);
    expect(ran.stdout).toContain(message);
    expect(ran.code).toBe(1);
  });

  test("catches malformed JSON and a name that does not end in .json", async () => {
    writeFileSync(join(work, "broken.json"), '{"version": "1.0.0",');
    writeFileSync(join(work, "entry.conf"), JSON.stringify(good(HOOK)));
    const ran = await run(["sh", INSTALL, "--check", join(work, "broken.json"), join(work, "entry.conf")]);
    expect(ran.code).toBe(1);
    expect(ran.stdout).toContain("broken.json: cannot read it as JSON");
    expect(ran.stdout).toContain("entry.conf: does not end in .json");
  });

  test("checks the hook path inside --root", async () => {
    const file = join(work, "entry.json");
    writeFileSync(file, JSON.stringify(good("/bin/armor-hook")));
    mkdirSync(join(root, "bin"));
    copyFileSync(HOOK, join(root, "bin/armor-hook"));
    chmodSync(join(root, "bin/armor-hook"), 0o755);
    expect((await install("--check", file)).code).toBe(0);
    chmodSync(join(root, "bin/armor-hook"), 0o644);
    const ran = await install("--check", file);
    expect(ran.code).toBe(1);
    expect(ran.stdout).toContain("is not an executable file");
  });
});

describe("install.sh and containerd's base spec", () => {
  const CONFIG = "/etc/containerd/config.toml";
  const nodeDefault = async (): Promise<Record<string, unknown>> => JSON.parse((await run(["ctr", "oci", "spec"])).stdout) as Record<string, unknown>;
  const entry = (stage: string, extra: string[] = []) => ({
    path: `${PREFIX}/armor-hook`,
    args: ["armor-hook", stage, "--socket", "/run/armor/armor.sock", "--timeout-ms", "2000", ...extra],
    env: HOOK_ENV,
    timeout: 5,
  });

  test("writes the node's default spec (ctr oci spec) with the hooks, and prints the config lines for 1.x and 2.x without touching the config", async () => {
    fakeNode(["containerd"], false);
    mkdirSync(join(root, "etc/containerd"), { recursive: true });
    writeFileSync(join(root, CONFIG), "version = 2\n");
    const ran = await install();
    expect(ran.stderr).toBe("");
    expect(ran.code).toBe(0);
    const spec = JSON.parse(readFileSync(join(root, BASE_SPEC), "utf8")) as Record<string, unknown>;
    expect(spec).toEqual({ ...(await nodeDefault()), hooks: { createRuntime: [entry("createRuntime")], poststop: [entry("poststop")] } });
    expect((lstatSync(join(root, BASE_SPEC)).mode & 0o777).toString(8)).toBe("644");
    expect(ran.stdout).toContain(`[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]\n        base_runtime_spec = "${BASE_SPEC}"`);
    expect(ran.stdout).toContain(`[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]\n        base_runtime_spec = "${BASE_SPEC}"`);
    expect(ran.stdout).toContain("never to a pod's sandbox (pause) container");
    expect(readFileSync(join(root, CONFIG), "utf8")).toBe("version = 2\n");
    // The agent's own check agrees, with the hook resolved inside --root.
    const check = await run([AGENT, "containerd-spec", "check", join(root, BASE_SPEC), "--root", root]);
    expect(check.stdout).toBe(`${join(root, BASE_SPEC)}: ok\n`);
  });

  test("--containerd-base-spec chooses the path and --fail-policy closed reaches both the spec and the hooks.d entry", async () => {
    fakeNode(["containerd"], false);
    const ran = await install("--containerd-base-spec", "/etc/other/spec.json", "--fail-policy", "closed");
    expect(ran.code).toBe(0);
    expect(existsSync(join(root, BASE_SPEC))).toBe(false);
    const spec = JSON.parse(readFileSync(join(root, "etc/other/spec.json"), "utf8"));
    expect(spec.hooks.createRuntime).toEqual([entry("createRuntime", ["--fail-policy", "closed"])]);
    for (const [stage, file] of Object.entries(HOOKS_FILES)) {
      expect(JSON.parse(readFileSync(join(root, file), "utf8")).hook).toEqual(entry(stage, ["--fail-policy", "closed"]));
    }
    expect((await install("--fail-policy", "shut")).stderr).toContain('--fail-policy must be open or closed, got "shut"');
  });

  test.each([
    ["is not JSON", "{", "is not JSON"],
    ["is not a spec", JSON.stringify({ ociVersion: "1.0.2" }), "the default spec is not an OCI runtime spec"],
  ])("refuses a default spec that %s and leaves the node as it was", async (_, text, message) => {
    fakeNode(["containerd"], false);
    writeFileSync(join(work, "default.json"), text);
    const before = snapshot(root);
    const ran = await install("--containerd-default-spec", join(work, "default.json"));
    expect(ran.code).toBe(1);
    expect(ran.stderr).toContain(message);
    expect(snapshot(root)).toEqual(before);
  });

  test("refuses a spec naming a hook binary that is not there: containerd would fail every app container", async () => {
    fakeNode(["containerd"], false);
    const withOther = { ...(await nodeDefault()), hooks: { prestart: [{ path: "/usr/bin/gone-hook" }] } };
    writeFileSync(join(work, "default.json"), JSON.stringify(withOther));
    const before = snapshot(root);
    const ran = await install("--containerd-default-spec", join(work, "default.json"));
    expect(ran.code).toBe(1);
    expect(ran.stderr).toContain("containerd's base spec would fail containers");
    expect(ran.stderr).toContain("hooks.prestart: /usr/bin/gone-hook is not an executable file");
    expect(snapshot(root)).toEqual(before);
  });

  test("--apply-containerd-config points runc at the spec; --uninstall keeps the spec while the config names it; with the flag it takes the line out first", async () => {
    fakeNode(["containerd"], false);
    mkdirSync(join(root, "etc/containerd"), { recursive: true });
    const theirs = 'version = 2\n\n[plugins."io.containerd.grpc.v1.cri"]\n  sandbox_image = "pause:3.9"\n';
    writeFileSync(join(root, CONFIG), theirs);
    const applied = await install("--apply-containerd-config");
    expect(applied.code).toBe(0);
    expect(applied.stdout).toContain(`wrote ${root}${CONFIG}`);
    expect(readFileSync(join(root, CONFIG), "utf8")).toBe(
      `${theirs}\n[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]\n  base_runtime_spec = "${BASE_SPEC}"\n`,
    );
    // The config is the admin's: never in the manifest, so never removed.
    expect(readFileSync(join(root, PREFIX, "install-manifest"), "utf8")).not.toContain(CONFIG);
    expect((await install("--apply-containerd-config")).stdout).not.toContain(`wrote ${root}${CONFIG}`);

    const installed = snapshot(root);
    const refused = await install("--uninstall");
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`${CONFIG} still names ${BASE_SPEC} as base_runtime_spec`);
    expect(snapshot(root)).toEqual(installed);

    const unset = await install("--uninstall", "--apply-containerd-config");
    expect(unset.code).toBe(0);
    expect(unset.stdout).toContain("systemctl restart containerd");
    expect(readFileSync(join(root, CONFIG), "utf8")).not.toContain("base_runtime_spec");
    expect(existsSync(join(root, BASE_SPEC))).toBe(true);
    expect(existsSync(join(root, PREFIX, "armor-hook"))).toBe(true);

    const removed = await install("--uninstall");
    expect(removed.code).toBe(0);
    expect(existsSync(join(root, BASE_SPEC))).toBe(false);
    expect(existsSync(join(root, PREFIX))).toBe(false);
    expect(existsSync(join(root, CONFIG))).toBe(true);
  });
});
