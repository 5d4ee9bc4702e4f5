/** Human-readable views of containers for the CLI: a table and one-line events. Every field is escaped (lib/escape.ts): a pod author writes most of them. */
import type { Container } from "../container.ts";
import { escapeText as e } from "../escape.ts";
import type { ChangeEvent } from "../wire/messages.ts";

const COLUMNS: ReadonlyArray<[string, (c: Container) => string]> = [
  ["ID", (c) => c.id],
  ["PID", (c) => String(c.pid)],
  ["PIDNS", (c) => String(c.namespaces.pid ?? "-")],
  ["MNTNS", (c) => String(c.namespaces.mnt ?? "-")],
  ["POD", (c) => (c.pod ? `${c.pod.namespace}/${c.pod.name}` : "-")],
  ["CONTAINER", (c) => c.containerName ?? "-"],
  ["TYPE", (c) => c.containerType ?? "-"],
  ["APPARMOR", (c) => c.apparmorProfile ?? "-"],
  ["SOURCE", (c) => c.source],
  ["REGISTERED", (c) => c.registeredAt],
];

/** An aligned table, one container a row. */
export function formatTable(containers: readonly Container[]): string {
  const rows = [COLUMNS.map(([title]) => title), ...containers.map((c) => COLUMNS.map(([, cell]) => e(cell(c))))];
  const widths = COLUMNS.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? "").length)));
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join("  ")).join("\n");
}

/** Every field of one container, one per line. */
export function formatContainer(c: Container): string {
  const ns = Object.entries(c.namespaces)
    .map(([kind, inode]) => `${kind}:${inode}`)
    .join(" ");
  return [
    `id:              ${e(c.id)}`,
    `pid:             ${c.pid}`,
    `bundle:          ${e(c.bundle)}`,
    `namespaces:      ${e(ns)}`,
    `apparmorProfile: ${e(c.apparmorProfile ?? "-")}`,
    `pod:             ${c.pod ? e(`${c.pod.namespace}/${c.pod.name} (uid ${c.pod.uid ?? "-"})`) : "-"}`,
    `containerName:   ${e(c.containerName ?? "-")}`,
    `sandboxId:       ${e(c.sandboxId ?? "-")}`,
    `containerType:   ${e(c.containerType ?? "-")}`,
    `image:           ${e(c.image ?? "-")}`,
    `cgroup:          ${c.cgroup ? `${e(c.cgroup.path)} (id ${c.cgroup.id ?? "-"})` : "-"}`,
    `source:          ${e(c.source)}`,
    `registeredAt:    ${e(c.registeredAt)}`,
  ].join("\n");
}

/** One line per watch change: `+` added, `-` removed (and by what, unless its poststop), then its revision. */
export function formatEvent(event: ChangeEvent): string {
  const c = event.container;
  const pod = c.pod ? ` pod=${e(`${c.pod.namespace}/${c.pod.name}`)}` : "";
  const cgroup = c.cgroup?.id ? ` cgroup=${c.cgroup.id}` : "";
  const by = event.event === "remove" && event.source !== "unregister" ? ` removed-by=${event.source}` : "";
  return `${event.event === "add" ? "+" : "-"} ${e(c.id)} pid=${c.pid} pidns=${c.namespaces.pid ?? "-"} mntns=${c.namespaces.mnt ?? "-"}${cgroup}${pod} source=${e(c.source)}${by} rev=${event.rev}`;
}
