/**
 * `bun run image`: builds the manifests' image from scratch with podman (a private store), and
 * podman runs it here — the agent serving on a bind-mounted socket directory, and install.sh
 * (under the image's busybox) installing into a bind-mounted root.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { IMAGE } from "../../scripts/image.ts";
import { AGENT, removeDir, ROOT, run, tempDir, waitFor } from "./support.ts";

const work = tempDir("e2e-image");
const store = ["--root", join(work, "store"), "--runroot", join(work, "runroot")];
/** runc (crun refuses this host's cgroup layout), cgroupfs, no events journal, no network. */
const podman = (...args: string[]) => run(["podman", ...store, "--runtime", "runc", "--cgroup-manager", "cgroupfs", "--events-backend", "none", ...args]);
const LIMITS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024", "--network", "none"];
let built = "";

beforeAll(async () => {
  const ran = await run(["bun", "run", "image", "--", ...store], { cwd: ROOT });
  if (ran.code !== 0) throw new Error(`bun run image failed: ${ran.stderr}`);
  built = ran.stdout;
}, 300_000);

afterAll(async () => {
  await podman("rm", "--all", "--force");
  await podman("rmi", "--all", "--force");
  removeDir(work);
}, 60_000);

describe("bun run image", () => {
  test("prints the reference the manifests use as its last line", () => {
    expect(built.trim().split("\n").at(-1)).toBe(IMAGE);
  });

  test("holds only the binaries, install.sh, the guide, their shared libraries and busybox", async () => {
    const ran = await podman("image", "inspect", "--format", "{{len .RootFS.Layers}} {{.Config.Entrypoint}}", IMAGE);
    expect(ran.stdout.trim()).toBe("1 [/opt/armor-hooks/armor-agent]");
    const mount = await podman("image", "mount", IMAGE);
    const rootfs = mount.stdout.trim();
    try {
      for (const path of [
        "opt/armor-hooks/armor-agent",
        "opt/armor-hooks/armor-hook",
        "opt/armor-hooks/install.sh",
        "opt/armor-hooks/INSTALL.md",
        "bin/busybox",
        "bin/sh",
      ]) {
        expect(existsSync(join(rootfs, path))).toBe(true);
      }
      // What ldd lists, and no other library: the binaries are dynamically linked against glibc only.
      const ldd = await run(["ldd", AGENT]);
      for (const lib of ldd.stdout.match(/\/\S+\.so[.\d]*/g) ?? []) expect(existsSync(join(rootfs, lib))).toBe(true);
      expect(existsSync(join(rootfs, "usr/bin/apt-get"))).toBe(false);
      expect(readlinkSync(join(rootfs, "opt/armor-hooks/armor-nri"))).toBe("armor-agent");
    } finally {
      await podman("image", "unmount", IMAGE);
    }
  });

  test("podman runs the agent from it, serving a socket the host's CLI reaches", async () => {
    const sockets = join(work, "run-armor");
    mkdirSync(sockets, { recursive: true, mode: 0o700 });
    const started = await podman(
      "run",
      "--detach",
      "--name",
      "agent",
      ...LIMITS,
      "--volume",
      `${sockets}:/run/armor`,
      IMAGE,
      "serve",
      "--socket",
      "/run/armor/armor.sock",
    );
    expect(started.code).toBe(0);
    try {
      const socket = join(sockets, "armor.sock");
      await waitFor("the agent in the container to answer", async () => (await run([AGENT, "status", "--ready", "--socket", socket])).code === 0, 30_000);
      expect(await run([AGENT, "list", "--json", "--socket", socket])).toMatchObject({ code: 0, stdout: "[]\n" });
    } finally {
      await podman("rm", "--force", "agent");
    }
  }, 60_000);

  test("podman runs install.sh from it, under its busybox, into a bind-mounted root", async () => {
    const host = join(work, "host");
    for (const dir of ["usr/local/lib/armor-hooks", "usr/share/containers/oci/hooks.d"]) mkdirSync(join(host, dir), { recursive: true });
    const args = ["--root", "/host", "--from", "/opt/armor-hooks", "--no-systemd", "--runtimes", "crio"];
    const ran = await podman("run", "--rm", ...LIMITS, "--volume", `${host}:/host`, "--entrypoint", "/opt/armor-hooks/install.sh", IMAGE, ...args);
    expect(ran.stderr).toBe("");
    expect(ran.code).toBe(0);
    for (const stage of ["createRuntime", "poststop"]) {
      const entry = JSON.parse(readFileSync(join(host, `usr/share/containers/oci/hooks.d/10-armor-hooks-${stage}.json`), "utf8")) as {
        hook: { args: string[]; path: string };
      };
      expect(entry.hook.path).toBe("/usr/local/lib/armor-hooks/armor-hook");
      expect(entry.hook.args.slice(0, 2)).toEqual(["armor-hook", stage]);
    }
    expect(existsSync(join(host, "usr/local/lib/armor-hooks/armor-hook"))).toBe(true);
  }, 60_000);
});
