/**
 * deploy/kubernetes/*.yaml are valid Kubernetes objects (kubernetes-models' schemas)
 * and keep the promises of the install issue: the agent mounts only /run/armor, the
 * installer only the paths install.sh writes, both on the same labelled nodes.
 */
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { Namespace } from "kubernetes-models/v1";
import { DaemonSet } from "kubernetes-models/apps/v1";
import type { IContainer, IPodSpec } from "kubernetes-models/v1";

const ROOT = resolve(import.meta.dir, "../..");
const DIR = join(ROOT, "deploy/kubernetes");
const MODELS = { "v1/Namespace": Namespace, "apps/v1/DaemonSet": DaemonSet } as const;

interface Manifest {
  file: string;
  doc: { apiVersion?: unknown; kind?: unknown; metadata?: { name?: string } } & Record<string, unknown>;
}

const manifests: Manifest[] = readdirSync(DIR)
  .filter((file) => file.endsWith(".yaml"))
  .sort()
  .map((file) => ({ file, doc: Bun.YAML.parse(readFileSync(join(DIR, file), "utf8")) as Manifest["doc"] }));

/** Validates with the schema of the object's apiVersion/kind; throws naming the bad field. */
function validate(doc: Manifest["doc"]): void {
  const key = `${String(doc.apiVersion)}/${String(doc.kind)}`;
  if (!Object.hasOwn(MODELS, key)) throw new Error(`no schema for ${key}`);
  new MODELS[key as keyof typeof MODELS](doc as never).validate();
}

function daemonSet(name: string): IPodSpec {
  const found = manifests.find((m) => m.doc.kind === "DaemonSet" && m.doc.metadata?.name === name);
  if (!found) throw new Error(`no DaemonSet ${name} in ${DIR}`);
  const spec = new DaemonSet(found.doc as never).spec?.template.spec;
  if (!spec) throw new Error(`DaemonSet ${name} has no pod spec`);
  return spec;
}

const hostPaths = (spec: IPodSpec): string[] => (spec.volumes ?? []).flatMap((v) => (v.hostPath ? [v.hostPath.path] : []));
const flag = (container: IContainer, name: string): string | undefined => {
  const args = container.args ?? [];
  const at = args.indexOf(name);
  return at === -1 ? undefined : args[at + 1];
};

describe("deploy/kubernetes", () => {
  test("holds the namespace and the three DaemonSets", () => {
    expect(manifests.map((m) => `${m.doc.kind}/${m.doc.metadata?.name}`).sort()).toEqual([
      "DaemonSet/armor-agent",
      "DaemonSet/armor-hooks-installer",
      "DaemonSet/armor-nri",
      "Namespace/armor-system",
    ]);
  });

  test.each(manifests.map((m) => [m.file, m] as const))("%s is a valid Kubernetes object", (_, manifest) => {
    expect(() => validate(manifest.doc)).not.toThrow();
  });

  test("the schema check rejects a broken object", () => {
    const broken = structuredClone(manifests.find((m) => m.doc.kind === "DaemonSet")!.doc) as Record<string, any>;
    broken.spec.template.spec.containers[0].ports = [{ containerPort: "eighty" }];
    expect(() => validate(broken)).toThrow(/containerPort must be integer/);
    delete broken.spec.selector;
    expect(() => validate(broken)).toThrow(/must have required property selector/);
  });

  test("the agent mounts only its socket directory, waits for the hook's bootstrap, and is ready once it is in", () => {
    const spec = daemonSet("armor-agent");
    expect(hostPaths(spec)).toEqual(["/run/armor"]);
    expect(spec.hostPID ?? false).toBe(false);
    expect(spec.hostNetwork ?? false).toBe(false);
    const [agent, ...others] = spec.containers;
    expect(others).toEqual([]);
    expect([...(agent?.command ?? []), ...(agent?.args ?? [])]).toEqual([
      "/opt/armor-hooks/armor-agent",
      "serve",
      "--socket",
      "/run/armor/armor.sock",
      "--bootstrap",
      "hook",
    ]);
    // The hook recognises the agent by its command's basename and forks the bootstrap for it.
    expect(agent?.command?.[0]?.split("/").at(-1)).toBe("armor-agent");
    expect(agent?.readinessProbe?.exec?.command).toEqual(["/opt/armor-hooks/armor-agent", "status", "--ready", "--socket", "/run/armor/armor.sock"]);
    expect(agent?.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] } });
    expect(agent?.securityContext?.privileged ?? false).toBe(false);
    expect(agent?.volumeMounts).toEqual([{ name: "socket-dir", mountPath: "/run/armor" }]);
  });

  test("the installer mounts exactly the host paths install.sh writes, under its --root", () => {
    const spec = daemonSet("armor-hooks-installer");
    const install = spec.initContainers?.[0];
    expect(install?.command).toEqual(["/opt/armor-hooks/install.sh"]);
    const root = flag(install!, "--root");
    const written = [flag(install!, "--prefix"), flag(install!, "--hooks-dir")].filter((path): path is string => path !== undefined);
    expect(written).toEqual(["/usr/local/lib/armor-hooks", "/usr/share/containers/oci/hooks.d"]);
    expect(hostPaths(spec).sort()).toEqual([...written].sort());
    const hostMounts = (install?.volumeMounts ?? []).filter((m) => spec.volumes?.find((v) => v.name === m.name)?.hostPath);
    for (const mount of hostMounts) {
      const volume = spec.volumes?.find((v) => v.name === mount.name);
      expect(mount.mountPath).toBe(`${root}${volume?.hostPath?.path}`);
    }
    expect(flag(install!, "--socket")).toBe("/run/armor/armor.sock");
    expect(install?.args).toContain("--no-systemd");
    for (const container of spec.containers) expect(container.volumeMounts ?? []).toEqual([]);
  });

  test("both DaemonSets run on the same labelled nodes, from the same image", () => {
    const agent = daemonSet("armor-agent");
    const installer = daemonSet("armor-hooks-installer");
    expect(agent.affinity?.nodeAffinity).toEqual(installer.affinity?.nodeAffinity);
    const term = agent.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms[0]?.matchExpressions?.[0];
    expect(term).toEqual({ key: "armor-hooks/injection", operator: "In", values: ["hooks-d", "base-runtime-spec", "nri"] });
    const nri = daemonSet("armor-nri");
    const images = new Set([...agent.containers, ...installer.containers, ...(installer.initContainers ?? []), ...nri.containers].map((c) => c.image));
    expect(images.size).toBe(1);
  });

  test("the NRI plugin runs only on nri nodes, apart from the agent, and injects the hook where the installer put it", () => {
    const spec = daemonSet("armor-nri");
    const installer = daemonSet("armor-hooks-installer").initContainers?.[0];
    const term = spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms[0]?.matchExpressions?.[0];
    expect(term).toEqual({ key: "armor-hooks/injection", operator: "In", values: ["nri"] });
    const [nri, ...others] = spec.containers;
    expect(others).toEqual([]);
    expect(nri?.args?.[0]).toBe("nri");
    // Not named armor-agent: armor-hook would take it for the agent's own container and register nothing.
    expect(nri?.command).toEqual(["/opt/armor-hooks/armor-nri"]);
    expect(readFileSync(join(ROOT, "deploy/Containerfile"), "utf8")).toMatch(/^RUN ln -s armor-agent \/opt\/armor-hooks\/armor-nri$/m);
    expect(flag(nri!, "--hook-path")).toBe(`${flag(installer!, "--prefix")}/armor-hook`);
    expect(flag(nri!, "--socket")).toBe(flag(installer!, "--socket"));
    // Host paths: the NRI socket, the agent's socket directory, and runc's state and bundles read-only; never a runtime socket.
    expect(hostPaths(spec).sort()).toEqual(["/run/armor", "/run/containerd/io.containerd.runtime.v2.task", "/run/containerd/runc", "/var/run/nri"]);
    for (const mount of nri?.volumeMounts ?? []) if (mount.mountPath.startsWith("/run/containerd")) expect(mount.readOnly).toBe(true);
    expect(nri?.securityContext).toMatchObject({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ["ALL"], add: ["SYS_PTRACE"] },
    });
    expect(nri?.securityContext?.privileged ?? false).toBe(false);
    // The agent's own pod never holds the NRI socket.
    expect(hostPaths(daemonSet("armor-agent"))).not.toContain("/var/run/nri");
  });

  test("the Containerfile puts the binaries and install.sh where the manifests run them", () => {
    const containerfile = readFileSync(join(ROOT, "deploy/Containerfile"), "utf8");
    expect(containerfile).toMatch(/^COPY --from=build \/src\/dist\/armor-hook \/src\/dist\/armor-agent \/opt\/armor-hooks\/$/m);
    expect(containerfile).toMatch(/^COPY --from=build \/src\/install\.sh \/opt\/armor-hooks\/install\.sh$/m);
    expect(containerfile).not.toMatch(/BUN_(BE_BUN|OPTIONS)=/);
  });
});
