/**
 * The one image the CRI suite runs: busybox-static as an OCI image layout (one
 * uncompressed layer, a config, a manifest, an index), packed with tar so
 * `ctr images import` puts it into containerd's `k8s.io` namespace without a
 * registry. Its default command sleeps forever, so it also serves as the pod
 * sandbox (pause) image.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeRootfs, run } from "../support.ts";

/** The name containerd records the image under; CRI requests use it as `image`. */
export const IMAGE = "docker.io/library/armor-busybox:e2e";

const MEDIA = {
  layer: "application/vnd.oci.image.layer.v1.tar",
  config: "application/vnd.oci.image.config.v1+json",
  manifest: "application/vnd.oci.image.manifest.v1+json",
} as const;

interface Blob {
  digest: string;
  size: number;
}

function sha256(bytes: Uint8Array): string {
  return `sha256:${new Bun.CryptoHasher("sha256").update(bytes).digest("hex")}`;
}

/** Stores bytes as a content-addressed blob of the layout. */
function putBlob(layout: string, bytes: Uint8Array): Blob {
  const digest = sha256(bytes);
  writeFileSync(join(layout, "blobs", "sha256", digest.slice("sha256:".length)), bytes);
  return { digest, size: bytes.byteLength };
}

/** Writes the image archive under `dir` and returns its path. */
export async function buildImageArchive(dir: string): Promise<string> {
  const layout = join(dir, "layout");
  mkdirSync(join(layout, "blobs", "sha256"), { recursive: true });
  const rootfs = makeRootfs(join(dir, "image"));
  const layerTar = join(dir, "layer.tar");
  const tarred = await run(["tar", "--numeric-owner", "-C", rootfs, "-cf", layerTar, "."]);
  if (tarred.code !== 0) throw new Error(`tar of the busybox rootfs failed: ${tarred.stderr}`);
  const layerBytes = new Uint8Array(await Bun.file(layerTar).arrayBuffer());
  const layer = putBlob(layout, layerBytes);

  const json = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
  const config = putBlob(
    layout,
    json({
      architecture: process.arch === "arm64" ? "arm64" : "amd64",
      os: "linux",
      config: { Env: ["PATH=/bin"], Cmd: ["sleep", "infinity"] },
      // An uncompressed layer's diff id is its own digest.
      rootfs: { type: "layers", diff_ids: [layer.digest] },
    }),
  );
  const manifest = putBlob(
    layout,
    json({
      schemaVersion: 2,
      mediaType: MEDIA.manifest,
      config: { mediaType: MEDIA.config, ...config },
      layers: [{ mediaType: MEDIA.layer, ...layer }],
    }),
  );
  writeFileSync(join(layout, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  writeFileSync(
    join(layout, "index.json"),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [{ mediaType: MEDIA.manifest, ...manifest, annotations: { "io.containerd.image.name": IMAGE, "org.opencontainers.image.ref.name": "e2e" } }],
    }),
  );
  const archive = join(dir, "image.tar");
  const packed = await run(["tar", "-C", layout, "-cf", archive, "."]);
  if (packed.code !== 0) throw new Error(`tar of the image layout failed: ${packed.stderr}`);
  return archive;
}
