/**
 * `bun run image [-- --root DIR --runroot DIR]`: builds the image the Kubernetes manifests run,
 * from scratch, out of what this project builds (deploy/Containerfile says what goes in), with
 * podman; prints the image's reference as its last line. --root/--runroot are passed to podman
 * (tests keep their images in a private store).
 */
import { $ } from "bun";
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import pkg from "../package.json" with { type: "json" };

const ROOT = resolve(import.meta.dir, "..");
/** The reference the manifests name (deploy/kubernetes/base/kustomization.yaml `images:`). */
export const IMAGE = `localhost/armor-hooks:${pkg.version}`;
const BINARIES = ["armor-agent", "armor-hook"] as const;
const BUSYBOX = ["/bin/busybox", "/usr/bin/busybox"];

/** The shared objects a dynamically linked binary loads, as ldd resolves them here (absolute paths). */
export async function sharedObjects(binary: string): Promise<string[]> {
  const out = await $`ldd ${binary}`.text();
  const paths = new Set<string>();
  for (const line of out.split("\n")) {
    const match = /=>\s*(\/\S+)|^\s*(\/\S+)\s+\(/.exec(line);
    const path = match?.[1] ?? match?.[2];
    if (path) paths.add(path);
  }
  return [...paths].sort();
}

/** Copies `path` (a symlink's target, followed) into `rootfs` at the same path. */
function place(rootfs: string, path: string): void {
  const target = join(rootfs, path);
  mkdirSync(dirname(target), { recursive: true });
  copyFileSync(path, target);
}

/** Lays out the image's root file system in `rootfs`. */
export async function layOut(rootfs: string): Promise<void> {
  const opt = join(rootfs, "opt/armor-hooks");
  mkdirSync(opt, { recursive: true });
  for (const name of BINARIES) {
    copyFileSync(join(ROOT, "dist", name), join(opt, name));
    chmodSync(join(opt, name), 0o755);
  }
  // The NRI plugin's command (deploy/Containerfile says why it is not named armor-agent).
  symlinkSync("armor-agent", join(opt, "armor-nri"));
  copyFileSync(join(ROOT, "install.sh"), join(opt, "install.sh"));
  chmodSync(join(opt, "install.sh"), 0o755);
  copyFileSync(join(ROOT, "docs/INSTALL.md"), join(opt, "INSTALL.md"));
  const libraries = new Set<string>();
  for (const name of BINARIES) for (const lib of await sharedObjects(join(ROOT, "dist", name))) libraries.add(lib);
  for (const lib of libraries) place(rootfs, lib);
  // install.sh's shell and tools (the installer DaemonSet); the binaries need none of them.
  const busybox = BUSYBOX.find((path) => existsSync(path));
  if (!busybox) throw new Error("no static busybox here: apt-get install busybox-static");
  mkdirSync(join(rootfs, "bin"), { recursive: true });
  copyFileSync(busybox, join(rootfs, "bin/busybox"));
  chmodSync(join(rootfs, "bin/busybox"), 0o755);
  const applets = (await $`${busybox} --list`.text()).split("\n").filter((name) => /^[a-z0-9_.[-]+$/.test(name) && name !== "busybox");
  for (const applet of applets) symlinkSync("busybox", join(rootfs, "bin", applet));
  for (const dir of ["tmp", "run/armor", "host", "proc", "sys", "dev", "etc"]) mkdirSync(join(rootfs, dir), { recursive: true });
  chmodSync(join(rootfs, "tmp"), 0o1777);
}

if (import.meta.main) {
  const podmanArgs = process.argv.slice(2);
  for (const arg of podmanArgs)
    if (!/^--(root|runroot)(=.+)?$/.test(arg) && arg.startsWith("--")) throw new Error(`image: unknown flag ${arg} (only --root, --runroot)`);
  await $`bun run scripts/build.ts`.cwd(ROOT).quiet();
  const context = mkdtempSync(join(tmpdir(), "armor-image-"));
  try {
    await layOut(join(context, "rootfs"));
    copyFileSync(join(ROOT, "deploy/Containerfile"), join(context, "Containerfile"));
    // podman's build of FROM scratch + COPY runs no container: no runtime, no network.
    await $`podman ${podmanArgs} build --quiet --pull=never --tag ${IMAGE} --file ${join(context, "Containerfile")} ${context}`.quiet();
    const size = (await $`podman ${podmanArgs} image inspect --format {{.Size}} ${IMAGE}`.text()).trim();
    console.log(`built ${IMAGE} from scratch: ${(Number(size) / 1024 / 1024).toFixed(1)} MiB`);
    console.log(IMAGE);
  } finally {
    rmSync(context, { recursive: true, force: true });
  }
}
