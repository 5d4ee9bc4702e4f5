/** Human-readable views of containers for the CLI: a table and one-line events. */
import type { Container } from "../container.ts";
import type { Event } from "../wire/messages.ts";

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
  const rows = [COLUMNS.map(([title]) => title), ...containers.map((c) => COLUMNS.map(([, cell]) => cell(c)))];
  const widths = COLUMNS.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? "").length)));
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join("  ")).join("\n");
}

/** Every field of one container, one per line. */
export function formatContainer(c: Container): string {
  const ns = Object.entries(c.namespaces)
    .map(([kind, inode]) => `${kind}:${inode}`)
    .join(" ");
  return [
    `id:              ${c.id}`,
    `pid:             ${c.pid}`,
    `bundle:          ${c.bundle}`,
    `namespaces:      ${ns}`,
    `apparmorProfile: ${c.apparmorProfile ?? "-"}`,
    `pod:             ${c.pod ? `${c.pod.namespace}/${c.pod.name} (uid ${c.pod.uid ?? "-"})` : "-"}`,
    `containerName:   ${c.containerName ?? "-"}`,
    `sandboxId:       ${c.sandboxId ?? "-"}`,
    `containerType:   ${c.containerType ?? "-"}`,
    `image:           ${c.image ?? "-"}`,
    `source:          ${c.source}`,
    `registeredAt:    ${c.registeredAt}`,
  ].join("\n");
}

/** One line per watch event. */
export function formatEvent(e: Event): string {
  const pod = e.container.pod ? ` pod=${e.container.pod.namespace}/${e.container.pod.name}` : "";
  return `${e.event === "add" ? "+" : "-"} ${e.container.id} pid=${e.container.pid} pidns=${e.container.namespaces.pid ?? "-"} mntns=${e.container.namespaces.mnt ?? "-"}${pod} source=${e.container.source}`;
}
