/**
 * deploy/kubernetes as kubectl renders it (kustomize: base + an injection-mode component +
 * metrics), for every mode, with the recent kubectl and with Debian's kubectl 1.20 (overlays/,
 * its kustomize has no components) — the same objects both ways. Every object is checked
 * strictly: kubernetes-models' schemas for values, and its TypeScript types for field names
 * (an object literal with an unknown field, `readinesProbe`, does not compile), so a typo can
 * never pass as an ignored field.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import ts from "typescript";
import { DaemonSet } from "kubernetes-models/apps/v1";
import { IMAGE } from "../../scripts/image.ts";
import { Namespace, ResourceQuota, Service, ServiceAccount, type IContainer, type IPodSpec } from "kubernetes-models/v1";

const ROOT = resolve(import.meta.dir, "../..");
const DIR = join(ROOT, "deploy/kubernetes");
/** Debian's kubernetes-client 1.20, unpacked by scripts/setup.sh (its package would replace the recent kubectl). */
export const KUBECTL_1_20 = "/opt/kubernetes-client-1.20/usr/bin/kubectl";
const MODES = ["hooks-d", "base-runtime-spec", "nri"] as const;
type Mode = (typeof MODES)[number];

/** kind → [model class for value checks, module and interface name for the field-name check]. */
const MODELS = {
  "v1/Namespace": [Namespace, "kubernetes-models/v1/Namespace", "INamespace"],
  "v1/ServiceAccount": [ServiceAccount, "kubernetes-models/v1/ServiceAccount", "IServiceAccount"],
  "v1/ResourceQuota": [ResourceQuota, "kubernetes-models/v1/ResourceQuota", "IResourceQuota"],
  "v1/Service": [Service, "kubernetes-models/v1/Service", "IService"],
  "apps/v1/DaemonSet": [DaemonSet, "kubernetes-models/apps/v1/DaemonSet", "IDaemonSet"],
} as const;
type Doc = { apiVersion?: unknown; kind?: unknown; metadata?: { name?: string; namespace?: string; labels?: Record<string, string> } } & Record<
  string,
  unknown
>;

const scratch = mkdtempSync(join(tmpdir(), "armor-kustomize-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function kubectl(binary: string, dir: string): Doc[] {
  const ran = Bun.spawnSync([binary, "kustomize", dir], { stdout: "pipe", stderr: "pipe" });
  if (ran.exitCode !== 0) throw new Error(`${binary} kustomize ${dir}: ${ran.stderr.toString()}`);
  return ran.stdout
    .toString()
    .split(/^---$/m)
    .filter((part) => part.trim() !== "")
    .map((part) => Bun.YAML.parse(part) as Doc);
}

/** base + components/<mode> + components/metrics, as a user's kustomization would say it. */
function renderModern(mode: Mode): Doc[] {
  const dir = join(scratch, `modern-${mode}`);
  if (!existsSync(dir)) {
    Bun.spawnSync(["mkdir", "-p", dir]);
    // kustomize takes no absolute roots: name the repository's directories relative to this one.
    const rel = (path: string): string => relative(dir, join(DIR, path));
    writeFileSync(
      join(dir, "kustomization.yaml"),
      `apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [${rel("base")}]\ncomponents: [${rel(`components/${mode}`)}, ${rel("components/metrics")}]\n`,
    );
  }
  return kubectl("kubectl", dir);
}

const byKey = (docs: Doc[]): Doc[] => [...docs].sort((a, b) => `${a.kind}/${a.metadata?.name}`.localeCompare(`${b.kind}/${b.metadata?.name}`));
const rendered = Object.fromEntries(MODES.map((mode) => [mode, renderModern(mode)])) as Record<Mode, Doc[]>;

/** Type-checks the docs as object literals of their kubernetes-models interfaces; returns the compiler's complaints. */
function fieldNameErrors(docs: Doc[]): string[] {
  const lines: string[] = [];
  const imports = new Set<string>();
  docs.forEach((doc, i) => {
    const model = MODELS[`${String(doc.apiVersion)}/${String(doc.kind)}` as keyof typeof MODELS];
    if (!model) throw new Error(`no model for ${String(doc.apiVersion)}/${String(doc.kind)}`);
    imports.add(`import type { ${model[2]} } from "${model[1]}";`);
    lines.push(`export const doc${i}: ${model[2]} = ${JSON.stringify(doc)};`);
  });
  const file = join(ROOT, "tests/unit", `.kustomize-check-${process.pid}.ts`);
  writeFileSync(file, `${[...imports].join("\n")}\n${lines.join("\n")}\n`);
  try {
    const program = ts.createProgram([file], {
      strict: true,
      noEmit: true,
      skipLibCheck: true,
      module: ts.ModuleKind.ESNext,
      moduleResolution: ts.ModuleResolutionKind.Bundler,
      target: ts.ScriptTarget.ES2022,
    });
    return ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, "\n"));
  } finally {
    rmSync(file, { force: true });
  }
}

function validateValues(doc: Doc): void {
  const model = MODELS[`${String(doc.apiVersion)}/${String(doc.kind)}` as keyof typeof MODELS];
  if (!model) throw new Error(`no model for ${String(doc.apiVersion)}/${String(doc.kind)}`);
  new model[0](doc as never).validate();
}

function find(docs: Doc[], kind: string, name: string): Doc {
  const found = docs.find((d) => d.kind === kind && d.metadata?.name === name);
  if (!found) throw new Error(`no ${kind} ${name}`);
  return found;
}
const podSpec = (docs: Doc[], name: string): IPodSpec => new DaemonSet(find(docs, "DaemonSet", name) as never).spec!.template.spec!;
const hostPaths = (spec: IPodSpec): string[] => (spec.volumes ?? []).flatMap((v) => (v.hostPath ? [v.hostPath.path] : []));
const flag = (container: IContainer, name: string): string | undefined => {
  const args = container.args ?? [];
  const at = args.indexOf(name);
  return at === -1 ? undefined : args[at + 1];
};

describe("kubectl kustomize deploy/kubernetes", () => {
  test("the default kustomization is hooks.d with metrics", () => {
    expect(byKey(kubectl("kubectl", DIR))).toEqual(byKey(rendered["hooks-d"]));
  });

  test.each(MODES)("%s: the objects it renders", (mode) => {
    const names = rendered[mode].map((d) => `${d.kind}/${d.metadata?.name}`).sort();
    expect(names).toEqual(
      [
        "DaemonSet/armor-agent",
        "DaemonSet/armor-hooks-installer",
        ...(mode === "nri" ? ["DaemonSet/armor-nri"] : []),
        "Namespace/armor-system",
        "ResourceQuota/armor-hooks-node-critical",
        "Service/armor-agent-metrics",
        "ServiceAccount/armor-hooks",
      ].sort(),
    );
  });

  test.each(MODES)("%s: every object passes kubernetes-models' schema and has only known fields", (mode) => {
    for (const doc of rendered[mode]) expect(() => validateValues(doc)).not.toThrow();
    expect(fieldNameErrors(rendered[mode])).toEqual([]);
  });

  test.each(MODES)("%s: Debian's kubectl 1.20 renders overlays/%s to the same objects", (mode) => {
    expect(existsSync(KUBECTL_1_20)).toBe(true);
    expect(byKey(kubectl(KUBECTL_1_20, join(DIR, "overlays", mode)))).toEqual(byKey(rendered[mode]));
  });
});

describe("the strict check itself", () => {
  test("an unknown field (readinesProbe) is named", () => {
    const broken = structuredClone(find(rendered["hooks-d"], "DaemonSet", "armor-agent")) as Record<string, any>;
    broken.spec.template.spec.containers[0].readinesProbe = { httpGet: { path: "/readyz", port: 9469 } };
    expect(() => validateValues(broken)).not.toThrow(); // the schemas alone let it pass
    expect(fieldNameErrors([broken]).join("\n")).toContain("readinesProbe");
  });

  test("a bad value and a missing field are named", () => {
    const broken = structuredClone(find(rendered["hooks-d"], "DaemonSet", "armor-agent")) as Record<string, any>;
    broken.spec.template.spec.containers[0].ports = [{ containerPort: "eighty" }];
    expect(() => validateValues(broken)).toThrow(/containerPort must be integer/);
    delete broken.spec.selector;
    expect(() => validateValues(broken)).toThrow(/must have required property selector/);
  });
});

describe("what the manifests promise", () => {
  const docs = rendered["hooks-d"];

  test("every object carries app.kubernetes.io/part-of and instance; every pod name, component and version", () => {
    for (const mode of MODES) {
      for (const doc of rendered[mode])
        expect(doc.metadata?.labels).toMatchObject({ "app.kubernetes.io/part-of": "armor-hooks", "app.kubernetes.io/instance": "armor-hooks" });
      for (const ds of rendered[mode].filter((d) => d.kind === "DaemonSet")) {
        const labels = new DaemonSet(ds as never).spec?.template.metadata?.labels ?? {};
        expect(Object.keys(labels).sort()).toEqual([
          "app.kubernetes.io/component",
          "app.kubernetes.io/instance",
          "app.kubernetes.io/name",
          "app.kubernetes.io/part-of",
          "app.kubernetes.io/version",
        ]);
      }
    }
  });

  test("every pod: its own ServiceAccount without a token, seccomp RuntimeDefault, the image `bun run image` builds", () => {
    for (const mode of MODES) {
      for (const ds of rendered[mode].filter((d) => d.kind === "DaemonSet")) {
        const spec = podSpec(rendered[mode], ds.metadata?.name ?? "");
        expect(spec.serviceAccountName).toBe("armor-hooks");
        expect(spec.automountServiceAccountToken).toBe(false);
        expect(spec.securityContext?.seccompProfile?.type).toBe("RuntimeDefault");
        for (const c of [...spec.containers, ...(spec.initContainers ?? [])]) expect(c.image).toBe(IMAGE);
      }
    }
  });

  test("system-node-critical outside kube-system comes with a ResourceQuota that admits it", () => {
    const critical = docs.filter((d) => d.kind === "DaemonSet" && podSpec(docs, d.metadata?.name ?? "").priorityClassName === "system-node-critical");
    expect(critical.length).toBeGreaterThan(0);
    for (const d of critical) expect(d.metadata?.namespace).not.toBe("kube-system");
    const quota = new ResourceQuota(find(docs, "ResourceQuota", "armor-hooks-node-critical") as never);
    expect(quota.metadata?.namespace).toBe(critical[0]?.metadata?.namespace);
    expect(quota.spec?.scopeSelector?.matchExpressions).toEqual([{ operator: "In", scopeName: "PriorityClass", values: ["system-node-critical"] }]);
  });

  test("the agent: HTTP startup, readiness and liveness probes on its declared metrics port, which --metrics serves", () => {
    const [agent] = podSpec(docs, "armor-agent").containers;
    expect(agent?.ports).toEqual([{ name: "http-metrics", containerPort: 9469, protocol: "TCP" }]);
    expect(flag(agent!, "--metrics")).toBe("0.0.0.0:9469");
    expect(agent?.startupProbe?.httpGet).toEqual({ path: "/healthz", port: "http-metrics" });
    expect(agent?.readinessProbe?.httpGet).toEqual({ path: "/readyz", port: "http-metrics" });
    expect(agent?.livenessProbe?.httpGet).toEqual({ path: "/healthz", port: "http-metrics" });
    for (const probe of [agent?.startupProbe, agent?.readinessProbe, agent?.livenessProbe]) expect(probe?.exec).toBeUndefined();
    const service = new Service(find(docs, "Service", "armor-agent-metrics") as never);
    expect(service.spec?.selector).toEqual({ "app.kubernetes.io/name": "armor-agent" });
    expect(service.spec?.ports?.[0]?.targetPort).toBe("http-metrics");
  });

  test("the agent waits for the hook's bootstrap; the hook knows it by its command's basename", () => {
    const [agent, ...others] = podSpec(docs, "armor-agent").containers;
    expect(others).toEqual([]);
    expect(agent?.command?.[0]?.split("/").at(-1)).toBe("armor-agent");
    expect(agent?.args?.slice(0, 5)).toEqual(["serve", "--socket", "/run/armor/armor.sock", "--bootstrap", "hook"]);
    expect(agent?.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] } });
    expect(agent?.securityContext?.privileged ?? false).toBe(false);
    expect(hostPaths(podSpec(docs, "armor-agent"))).toContain("/run/armor");
    expect(hostPaths(podSpec(docs, "armor-agent"))).not.toContain("/var/run/nri");
  });

  test("the agent can read what ran before it without any fork: host PID namespace, SYS_PTRACE, the state roots read-only, no runtime socket", () => {
    const spec = podSpec(docs, "armor-agent");
    const [agent] = spec.containers;
    expect(spec.hostPID).toBe(true);
    expect(agent?.securityContext?.capabilities?.add).toEqual(["SYS_PTRACE"]);
    const readOnly = (agent?.volumeMounts ?? []).filter((m) => m.readOnly).map((m) => m.mountPath);
    expect(readOnly.sort()).toEqual(["/run/containerd/runc", "/run/crun", "/run/runc"]);
    // Their host paths are the same: the state names bundles and roots as the host sees them.
    for (const path of readOnly) expect(hostPaths(spec)).toContain(path);
    for (const path of hostPaths(spec)) expect(["/run/containerd", "/run/crio", "/var/run/containerd", "/run/containers"]).not.toContain(path);
    expect(flag(agent!, "--bootstrap-deadline-ms")).toBe("10000");
  });

  test.each([
    ["hooks-d", "crio,podman", ["/usr/local/lib/armor-hooks", "/usr/share/containers/oci/hooks.d"]],
    [
      "base-runtime-spec",
      "containerd",
      ["/usr/local/lib/armor-hooks", "/usr/share/containers/oci/hooks.d", "/etc/armor-hooks", "/usr/bin/ctr", "/etc/containerd"],
    ],
    ["nri", undefined, ["/usr/local/lib/armor-hooks", "/usr/share/containers/oci/hooks.d"]],
  ] as const)("%s: the installer names its runtimes (%p) and mounts exactly what install.sh reads and writes, under --root", (mode, runtimes, paths) => {
    const spec = podSpec(rendered[mode], "armor-hooks-installer");
    const install = spec.initContainers?.[0];
    expect(install?.command).toEqual(["/opt/armor-hooks/install.sh"]);
    expect(flag(install!, "--runtimes")).toBe(runtimes);
    expect(install?.args).toContain("--no-systemd");
    expect(hostPaths(spec).sort()).toEqual([...paths].sort());
    const root = flag(install!, "--root");
    for (const mount of install?.volumeMounts ?? []) {
      const volume = spec.volumes?.find((v) => v.name === mount.name);
      if (volume?.hostPath) expect(mount.mountPath).toBe(`${root}${volume.hostPath.path}`);
    }
    for (const container of spec.containers) expect(container.volumeMounts ?? []).toEqual([]);
  });

  test("nri: the plugin runs apart from the agent and injects the hook where the installer put it", () => {
    const spec = podSpec(rendered.nri, "armor-nri");
    const installer = podSpec(rendered.nri, "armor-hooks-installer").initContainers?.[0];
    const [nri] = spec.containers;
    expect(nri?.args?.[0]).toBe("nri");
    // Not named armor-agent: armor-hook would take it for the agent's own container and register nothing.
    expect(nri?.command).toEqual(["/opt/armor-hooks/armor-nri"]);
    expect(flag(nri!, "--hook-path")).toBe(`${flag(installer!, "--prefix")}/armor-hook`);
    expect(flag(nri!, "--socket")).toBe(flag(installer!, "--socket"));
  });
});

describe("deploy/Containerfile and bun run image", () => {
  test("the image is from scratch: the binaries, install.sh and what ldd says they load", () => {
    const containerfile = readFileSync(join(ROOT, "deploy/Containerfile"), "utf8");
    expect(containerfile).toMatch(/^FROM scratch$/m);
    expect(containerfile.match(/^FROM /gm)).toHaveLength(1);
    expect(containerfile).toMatch(/^ENTRYPOINT \["\/opt\/armor-hooks\/armor-agent"\]$/m);
    expect(containerfile).not.toMatch(/BUN_(BE_BUN|OPTIONS)=/);
  });
});
