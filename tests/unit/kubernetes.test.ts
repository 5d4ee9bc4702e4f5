import { describe, expect, test } from "bun:test";
import { kubernetesIdentity, podNamespace } from "../../lib/oci/kubernetes.ts";

describe("kubernetesIdentity()", () => {
  test("reads CRI-O's annotation keys", () => {
    expect(
      kubernetesIdentity({
        "io.kubernetes.pod.name": "web-0",
        "io.kubernetes.pod.namespace": "shop",
        "io.kubernetes.pod.uid": "uid-1",
        "io.kubernetes.container.name": "nginx",
        "io.kubernetes.cri-o.SandboxID": "sb-1",
        "io.kubernetes.cri-o.ImageName": "docker.io/library/nginx:1.27",
      }),
    ).toEqual({
      pod: { name: "web-0", namespace: "shop", uid: "uid-1" },
      containerName: "nginx",
      sandboxId: "sb-1",
      image: "docker.io/library/nginx:1.27",
      containerType: null,
    });
  });

  test("reads containerd CRI's annotation keys", () => {
    expect(
      kubernetesIdentity({
        "io.kubernetes.cri.sandbox-name": "api-7",
        "io.kubernetes.cri.sandbox-namespace": "default",
        "io.kubernetes.cri.sandbox-uid": "uid-2",
        "io.kubernetes.cri.container-name": "app",
        "io.kubernetes.cri.sandbox-id": "sb-2",
        "io.kubernetes.cri.image-name": "ghcr.io/acme/app:v2",
        "io.kubernetes.cri.container-type": "container",
      }),
    ).toEqual({
      pod: { name: "api-7", namespace: "default", uid: "uid-2" },
      containerName: "app",
      sandboxId: "sb-2",
      image: "ghcr.io/acme/app:v2",
      containerType: "container",
    });
  });

  test("takes both runtimes' keys when they agree", () => {
    const identity = kubernetesIdentity({ "io.kubernetes.container.name": "app", "io.kubernetes.cri.container-name": "app" });
    expect(identity.containerName).toBe("app");
  });

  // A runtime passes a pod author's annotations through (containerd's pod_annotations): the other runtime's key is then theirs.
  test.each([
    ["the pod namespace", { "io.kubernetes.cri.sandbox-namespace": "shop", "io.kubernetes.pod.namespace": "kube-system" }],
    ["the pod namespace, either way round", { "io.kubernetes.pod.namespace": "shop", "io.kubernetes.cri.sandbox-namespace": "armor-system" }],
  ])("a pod author's annotation that disagrees with the runtime's on %s: no namespace at all", (_name, annotations) => {
    expect(podNamespace(annotations)).toBeNull();
    expect(kubernetesIdentity({ ...annotations, "io.kubernetes.pod.name": "web-0" }).pod).toBeNull();
  });

  test("a pod author's CRI-O image name beside containerd's own: the image is unknown, never the one the pod author named", () => {
    const identity = kubernetesIdentity({ "io.kubernetes.cri-o.ImageName": "registry.corp/signed:1", "io.kubernetes.cri.image-name": "evil.example/miner:1" });
    expect(identity.image).toBeNull();
    expect(kubernetesIdentity({ "io.kubernetes.cri-o.ImageName": "x/y:1", "io.kubernetes.cri.image-name": "x/y:1" }).image).toBe("x/y:1");
    expect(
      kubernetesIdentity({ "io.kubernetes.cri-o.ImageName": "a/b:1", "io.kubernetes.cri.image-name": "c/d:1", "io.kubernetes.cri-o.Image": "sha256:abc" })
        .image,
    ).toBeNull();
  });

  test("disagreeing keys leave the pod, its uid, the container name, the sandbox and the type unknown", () => {
    const identity = kubernetesIdentity({
      "io.kubernetes.pod.name": "kube-proxy-x",
      "io.kubernetes.cri.sandbox-name": "web-0",
      "io.kubernetes.pod.namespace": "shop",
      "io.kubernetes.cri.sandbox-namespace": "shop",
      "io.kubernetes.pod.uid": "forged",
      "io.kubernetes.cri.sandbox-uid": "uid-1",
      "io.kubernetes.container.name": "armor-agent",
      "io.kubernetes.cri.container-name": "app",
      "io.kubernetes.cri-o.SandboxID": "sb-forged",
      "io.kubernetes.cri.sandbox-id": "sb-1",
      "io.kubernetes.cri-o.ContainerType": "sandbox",
      "io.kubernetes.cri.container-type": "container",
    });
    expect(identity).toEqual({ pod: null, containerName: null, sandboxId: null, image: null, containerType: null });
    expect(
      kubernetesIdentity({
        "io.kubernetes.cri.sandbox-name": "web-0",
        "io.kubernetes.cri.sandbox-namespace": "shop",
        "io.kubernetes.pod.uid": "forged",
        "io.kubernetes.cri.sandbox-uid": "uid-1",
      }).pod,
    ).toEqual({ name: "web-0", namespace: "shop", uid: null });
  });

  test("falls back to the next key when a preferred one is empty", () => {
    expect(kubernetesIdentity({ "io.kubernetes.cri-o.ImageName": "", "io.kubernetes.cri-o.Image": "sha256:abc" }).image).toBe("sha256:abc");
  });

  test("gives no pod without both name and namespace", () => {
    expect(kubernetesIdentity({ "io.kubernetes.pod.name": "web-0" }).pod).toBeNull();
    expect(kubernetesIdentity({ "io.kubernetes.pod.namespace": "shop", "io.kubernetes.pod.uid": "u" }).pod).toBeNull();
  });

  test("gives a pod with a null uid when only name and namespace are known", () => {
    expect(kubernetesIdentity({ "io.kubernetes.pod.name": "web-0", "io.kubernetes.cri.sandbox-namespace": "shop" }).pod).toEqual({
      name: "web-0",
      namespace: "shop",
      uid: null,
    });
  });

  test("gives all nulls for a container outside Kubernetes", () => {
    expect(kubernetesIdentity({ "org.opencontainers.image.title": "x" })).toEqual({
      pod: null,
      containerName: null,
      sandboxId: null,
      image: null,
      containerType: null,
    });
  });

  test.each([
    ["containerd's sandbox", { "io.kubernetes.cri.container-type": "sandbox" }, "sandbox"],
    ["containerd's app container", { "io.kubernetes.cri.container-type": "container" }, "container"],
    ["CRI-O's (and podman pods') sandbox", { "io.kubernetes.cri-o.ContainerType": "sandbox" }, "sandbox"],
    ["CRI-O's app container", { "io.kubernetes.cri-o.ContainerType": "container" }, "container"],
    ["keys that disagree (one is a pod author's)", { "io.kubernetes.cri-o.ContainerType": "sandbox", "io.kubernetes.cri.container-type": "container" }, null],
    ["keys that agree", { "io.kubernetes.cri-o.ContainerType": "sandbox", "io.kubernetes.cri.container-type": "sandbox" }, "sandbox"],
    ["a value neither runtime writes", { "io.kubernetes.cri.container-type": "Sandbox " }, null],
    ["an empty value", { "io.kubernetes.cri.container-type": "" }, null],
    ["no annotation", {}, null],
  ] as const)("containerType of %s", (_, annotations, expected) => {
    expect(kubernetesIdentity(annotations).containerType).toBe(expected);
  });
});
