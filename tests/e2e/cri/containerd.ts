/**
 * A private containerd for one test file, driven through its CRI plugin as
 * kubelet drives it. Everything it owns lives under one directory: its root,
 * state, gRPC/ttrpc sockets, config, CNI dirs (empty: pods use the host network)
 * and runc's state root (the runc runtime's `Root` option), so neither another
 * test file's containerd nor another checkout's run sees its containers, and the
 * host's /run/containerd is never touched. The test process is the subreaper of
 * its shims (PID 1 does not reap here) and reaps them. The one path outside the
 * directory is containerd's own choice: each shim's socket is
 * /run/containerd/s/<hash of address, namespace and id>, distinct per instance and
 * removed with the shim.
 *
 * Parameters cover what differs between the suites that use it: the containerd
 * binary and its shim directory (Debian's 1.6, or the 1.7.13 build with NRI),
 * whether a base runtime spec is configured, and extra TOML (e.g. the NRI section).
 */
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { killStragglers, reapOrphans, setSubreaper, type LifecycleHooks } from "../reaper.ts";
import { run, waitFor } from "../support.ts";
import { CriClient, type PodSandboxConfig } from "./client.ts";
import { IMAGE, buildImageArchive } from "./image.ts";

/** The Kubernetes namespace of containerd every CRI object lives in. */
export const CRI_NAMESPACE = "k8s.io";

/** What a private containerd is started with. */
export interface ContainerdOptions {
  /** The daemon (Debian's `containerd` on PATH unless given). */
  binary: string;
  /** Put first in the daemon's PATH so it runs this directory's `containerd-shim-runc-v2`; null: the system's. */
  shimDir: string | null;
  /** `base_runtime_spec` of the runc runtime (containerd reads it at start-up), or null for containerd's built-in spec. */
  baseSpec: string | null;
  /** Annotation keys (globs) passed from pod / container requests into the OCI spec. */
  podAnnotations: string[];
  containerAnnotations: string[];
  /** TOML appended to the generated config as is, e.g. `[plugins."io.containerd.nri.v1.nri"]`; may use `{dir}` for the instance's directory. */
  extraToml: string;
}

/** containerd 1.7.13 with NRI, beside the checkout (ARMOR_CONTAINERD_NRI names another directory). */
export const CONTAINERD_NRI_DIR = process.env.ARMOR_CONTAINERD_NRI || join(import.meta.dir, "../../../../shared/tools/containerd-1.7.13");

/** extraToml turning NRI on, its socket at `{dir}/nri/nri.sock` (make `{dir}/nri/conf.d` and `plugins` first). */
export const NRI_TOML = `
[plugins."io.containerd.nri.v1.nri"]
  disable = false
  disable_connections = false
  plugin_config_path = "{dir}/nri/conf.d"
  plugin_path = "{dir}/nri/plugins"
  plugin_registration_timeout = "5s"
  plugin_request_timeout = "2s"
  socket_path = "{dir}/nri/nri.sock"
`;

export const DEFAULT_CONTAINERD: ContainerdOptions = {
  binary: "containerd",
  shimDir: null,
  baseSpec: null,
  podAnnotations: [],
  containerAnnotations: [],
  extraToml: "",
};

/** Where one instance keeps what it owns, all under `dir`. */
export interface ContainerdPaths {
  dir: string;
  config: string;
  root: string;
  state: string;
  address: string;
  /** runc's `--root` as the shim passes it: containers live in `<runcRoot>/k8s.io/<id>`. */
  runcRoot: string;
  log: string;
}

export function containerdPaths(dir: string): ContainerdPaths {
  return {
    dir,
    config: join(dir, "config.toml"),
    root: join(dir, "root"),
    state: join(dir, "state"),
    address: join(dir, "containerd.sock"),
    runcRoot: join(dir, "runc"),
    log: join(dir, "containerd.log"),
  };
}

const toml = (value: string): string => JSON.stringify(value);
const tomlList = (values: string[]): string => `[${values.map(toml).join(", ")}]`;

/** The config file: version 2, understood by containerd 1.6 and 1.7. */
export function containerdConfig(paths: ContainerdPaths, options: ContainerdOptions): string {
  const cri = `plugins."io.containerd.grpc.v1.cri"`;
  const runc = `${cri}.containerd.runtimes.runc`;
  return [
    "version = 2",
    `root = ${toml(paths.root)}`,
    `state = ${toml(paths.state)}`,
    // opt writes under /opt/containerd; the others are snapshotters this machine lacks.
    `disabled_plugins = ${tomlList([
      "io.containerd.internal.v1.opt",
      "io.containerd.snapshotter.v1.aufs",
      "io.containerd.snapshotter.v1.btrfs",
      "io.containerd.snapshotter.v1.devmapper",
      "io.containerd.snapshotter.v1.zfs",
    ])}`,
    "[grpc]",
    `  address = ${toml(paths.address)}`,
    "[ttrpc]",
    `  address = ${toml(`${paths.address}.ttrpc`)}`,
    "[debug]",
    `  address = ""`,
    "[metrics]",
    `  address = ""`,
    `[${cri}]`,
    `  sandbox_image = ${toml(IMAGE)}`,
    // Root lacks CAP_SYS_RESOURCE here: without this every sandbox fails to start.
    "  restrict_oom_score_adj = true",
    "  disable_apparmor = true",
    // A port of its own for each instance (the default, 10010, would collide).
    `  stream_server_address = "127.0.0.1"`,
    `  stream_server_port = "0"`,
    `[${cri}.cni]`,
    `  bin_dir = ${toml(join(paths.dir, "cni", "bin"))}`,
    `  conf_dir = ${toml(join(paths.dir, "cni", "conf"))}`,
    `[${cri}.containerd]`,
    `  default_runtime_name = "runc"`,
    `[${runc}]`,
    `  runtime_type = "io.containerd.runc.v2"`,
    ...(options.baseSpec === null ? [] : [`  base_runtime_spec = ${toml(options.baseSpec)}`]),
    `  pod_annotations = ${tomlList(options.podAnnotations)}`,
    `  container_annotations = ${tomlList(options.containerAnnotations)}`,
    `[${runc}.options]`,
    `  Root = ${toml(paths.runcRoot)}`,
    "  SystemdCgroup = false",
    options.extraToml.replaceAll("{dir}", paths.dir),
    "",
  ].join("\n");
}

/** Mount points at or under `dir`, deepest first. */
function mountsUnder(dir: string): string[] {
  const points = readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((line) => line.split(" ")[4] ?? "")
    .map((point) => point.replace(/\\(\d{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8))))
    .filter((point) => point === dir || point.startsWith(`${dir}/`));
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}

/** A running private containerd and its CRI client. */
export class Containerd {
  readonly paths: ContainerdPaths;
  options: ContainerdOptions;
  readonly cri: CriClient;
  #proc: Subprocess;

  private constructor(paths: ContainerdPaths, options: ContainerdOptions, proc: Subprocess) {
    this.paths = paths;
    this.options = options;
    this.#proc = proc;
    this.cri = new CriClient(paths.address);
  }

  /** Starts containerd in `dir` (created if missing), waits for its CRI service, imports the test image. */
  static async start(dir: string, overrides: Partial<ContainerdOptions> = {}): Promise<Containerd> {
    const options = { ...DEFAULT_CONTAINERD, ...overrides };
    const paths = containerdPaths(dir);
    for (const sub of [paths.root, paths.state, paths.runcRoot, join(dir, "cni", "bin"), join(dir, "cni", "conf")]) mkdirSync(sub, { recursive: true });
    writeFileSync(paths.config, containerdConfig(paths, options));
    const containerd = new Containerd(paths, options, spawnDaemon(paths, options));
    try {
      await containerd.#serving();
      await containerd.importImage();
    } catch (error) {
      await containerd.stop();
      throw error;
    }
    return containerd;
  }

  /**
   * Stops the daemon alone (SIGTERM; its shims and containers run on) and starts it
   * again on the same directory, as a node's containerd restart does; `overrides`
   * change its config first.
   */
  async restart(overrides: Partial<ContainerdOptions> = {}): Promise<void> {
    if (this.#proc.exitCode === null) this.#proc.kill("SIGTERM");
    await this.#proc.exited;
    // A changed config (e.g. base_runtime_spec added) is read by the new daemon, as on a node.
    this.options = { ...this.options, ...overrides };
    writeFileSync(this.paths.config, containerdConfig(this.paths, this.options));
    this.#proc = spawnDaemon(this.paths, this.options);
    await this.#serving();
  }

  async #serving(): Promise<void> {
    const proc = this.#proc;
    await waitFor(
      "containerd's CRI service",
      async () => {
        if (proc.exitCode !== null) throw new Error(`containerd exited with ${proc.exitCode}: ${this.log().slice(-2000)}`);
        if (!existsSync(this.paths.address)) return false;
        return await this.cri.version().then(
          () => true,
          () => false,
        );
      },
      30_000,
    );
  }

  /** Runs Debian's `ctr` against this instance in the CRI namespace. */
  ctr(args: string[]) {
    return run(["ctr", "--address", this.paths.address, "--namespace", CRI_NAMESPACE, ...args]);
  }

  async importImage(): Promise<void> {
    const archive = await buildImageArchive(mkdtempSync(join(this.paths.dir, "image-")));
    const imported = await this.ctr(["images", "import", archive]);
    if (imported.code !== 0) throw new Error(`ctr images import failed: ${imported.stderr}`);
    const listed = await this.ctr(["images", "list", "--quiet"]);
    if (!listed.stdout.split("\n").includes(IMAGE)) throw new Error(`${IMAGE} is not in ${CRI_NAMESPACE} after import: ${listed.stdout}${listed.stderr}`);
  }

  /** Everything containerd logged so far. */
  log(): string {
    try {
      return readFileSync(this.paths.log, "utf8");
    } catch {
      return "";
    }
  }

  /** runc's state directory of this instance's CRI containers (`<runcRoot>/k8s.io`). */
  get runcState(): string {
    return join(this.paths.runcRoot, CRI_NAMESPACE);
  }

  /** Removes every pod (and so its containers) through CRI, as kubelet draining the node would. */
  async removeAllPods(): Promise<void> {
    const pods = await this.cri.listPodSandbox().catch(() => []);
    for (const pod of pods) {
      await this.cri.stopPodSandbox(pod.id).catch(() => undefined);
      await this.cri.removePodSandbox(pod.id).catch(() => undefined);
    }
  }

  /**
   * Stops the daemon after removing its pods, then makes sure nothing it started
   * outlives it: leftover runc containers deleted, shims killed, mounts under its
   * directory detached. The directory itself stays for the caller to remove.
   */
  async stop(): Promise<void> {
    if (this.#proc.exitCode === null) await this.removeAllPods();
    this.cri.close();
    if (this.#proc.exitCode === null) {
      this.#proc.kill("SIGTERM");
      const exited = await Promise.race([this.#proc.exited.then(() => true), Bun.sleep(10_000).then(() => false)]);
      if (!exited) this.#proc.kill("SIGKILL");
      await this.#proc.exited;
    }
    if (existsSync(this.runcState)) {
      for (const id of readdirSync(this.runcState)) await run(["runc", "--root", this.runcState, "delete", "--force", id]);
    }
    await killStragglers(this.paths.dir);
    for (const point of mountsUnder(this.paths.dir)) await run(["umount", "-l", point]);
    await reapOrphans();
  }
}

/** The daemon on `paths`' config, logging to its log file (appended across restarts). */
function spawnDaemon(paths: ContainerdPaths, options: ContainerdOptions): Subprocess {
  const path = [...(options.shimDir === null ? [] : [options.shimDir]), "/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"].join(
    ":",
  );
  const log = openSync(paths.log, "a");
  try {
    return Bun.spawn([options.binary, "--config", paths.config], { stdin: "ignore", stdout: "ignore", stderr: log, env: { PATH: path, HOME: paths.dir } });
  } finally {
    closeSync(log);
  }
}

/** A pod config kubelet would send for a host-network pod (no CNI here; the hostname must then be empty). */
export function hostNetworkPod(name: string, namespace: string, uid: string, extra: Partial<PodSandboxConfig> = {}): PodSandboxConfig {
  return {
    metadata: { name, namespace, uid, attempt: 0 },
    hostname: "",
    labels: { "io.kubernetes.pod.name": name, "io.kubernetes.pod.namespace": namespace, "io.kubernetes.pod.uid": uid },
    annotations: {},
    linux: { securityContext: { namespaceOptions: { network: "NODE", pid: "CONTAINER", ipc: "POD" } } },
    ...extra,
  };
}

/**
 * Lifecycle of a CRI test file: a temp dir, this process as subreaper, one private
 * containerd started before the file's tests (options may depend on the dir, e.g.
 * a base spec written into it first) and stopped after them, and per-test cleanups
 * run newest first. `setup` runs before containerd starts (install.sh writing the
 * base spec, say).
 */
export function containerdTestLifecycle(
  prefix: string,
  hooks: LifecycleHooks,
  configure: (dir: string) => Partial<ContainerdOptions> | Promise<Partial<ContainerdOptions>> = () => ({}),
): { dir: () => string; containerd: () => Containerd; defer: (cleanup: () => Promise<unknown> | void) => void } {
  let work = "";
  let containerd: Containerd | undefined;
  const cleanups: Array<() => Promise<unknown> | void> = [];
  hooks.beforeAll(async () => {
    setSubreaper(true);
    work = mkdtempSync(join(tmpdir(), `armor-${prefix}-`));
    const options = await configure(work);
    containerd = await Containerd.start(join(work, "containerd"), options);
  });
  hooks.afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    await reapOrphans();
  }, 120_000);
  hooks.afterAll(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    await containerd?.stop();
    await killStragglers(work);
    await reapOrphans();
    setSubreaper(false);
    if (work !== "") {
      for (const point of mountsUnder(work)) await run(["umount", "-l", point]);
      rmSync(work, { recursive: true, force: true });
    }
  });
  return {
    dir: () => work,
    containerd: () => {
      if (!containerd) throw new Error("containerd is not started yet (use it inside a test)");
      return containerd;
    },
    defer: (cleanup) => void cleanups.push(cleanup),
  };
}
