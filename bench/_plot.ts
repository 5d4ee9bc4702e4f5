/** A small self-contained SVG plot: the empirical distribution (ECDF) of several series. */

/** One line of the plot. */
export interface Series {
  label: string;
  color: string;
  values: readonly number[];
}

const W = 720;
const H = 400;
const M = { left: 60, right: 20, top: 40, bottom: 70 };

const esc = (text: string): string => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** "Nice" tick positions covering [lo, hi]. */
function ticks(lo: number, hi: number, count = 8): number[] {
  const raw = (hi - lo) / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + 1e-9; t += step) out.push(Math.round(t * 1e6) / 1e6);
  return out;
}

/** Renders the ECDFs of `series` (x in the values' unit, y the fraction ≤ x) with a marker at x = 0. */
export function ecdfSvg(title: string, xLabel: string, series: readonly Series[], note: string): string {
  const all = series.flatMap((s) => s.values);
  const lo = Math.min(0, ...all);
  const hi = Math.max(0, ...all);
  const pad = (hi - lo) * 0.03 || 1;
  const [x0, x1] = [lo - pad, hi + pad];
  const px = (x: number): number => M.left + ((x - x0) / (x1 - x0)) * (W - M.left - M.right);
  const py = (y: number): number => H - M.bottom - y * (H - M.top - M.bottom);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="15">${esc(title)}</text>`,
  ];
  for (const t of ticks(x0, x1)) {
    out.push(`<line x1="${px(t).toFixed(1)}" y1="${py(0)}" x2="${px(t).toFixed(1)}" y2="${py(1)}" stroke="#eee"/>`);
    out.push(`<text x="${px(t).toFixed(1)}" y="${py(0) + 16}" text-anchor="middle">${t}</text>`);
  }
  for (const y of [0, 0.25, 0.5, 0.75, 1]) {
    out.push(`<line x1="${M.left}" y1="${py(y).toFixed(1)}" x2="${W - M.right}" y2="${py(y).toFixed(1)}" stroke="#eee"/>`);
    out.push(`<text x="${M.left - 6}" y="${(py(y) + 4).toFixed(1)}" text-anchor="end">${y}</text>`);
  }
  out.push(`<line x1="${px(0).toFixed(1)}" y1="${py(0)}" x2="${px(0).toFixed(1)}" y2="${py(1)}" stroke="#444" stroke-dasharray="4 3"/>`);
  out.push(`<text x="${(px(0) + 4).toFixed(1)}" y="${py(1) - 4}" fill="#444">process starts</text>`);
  out.push(`<rect x="${M.left}" y="${M.top}" width="${W - M.left - M.right}" height="${H - M.top - M.bottom}" fill="none" stroke="#888"/>`);
  series.forEach((s, i) => {
    const sorted = [...s.values].sort((a, b) => a - b);
    let d = `M${px(x0).toFixed(1)},${py(0).toFixed(1)}`;
    sorted.forEach((x, k) => {
      d += ` H${px(x).toFixed(1)} V${py((k + 1) / sorted.length).toFixed(1)}`;
    });
    d += ` H${px(x1).toFixed(1)}`;
    out.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"/>`);
    // Bottom right: every line has reached its top there, so the legend hides none.
    const ly = py(0) - 12 - (series.length - 1 - i) * 18;
    out.push(`<line x1="${W - M.right - 190}" y1="${ly - 4}" x2="${W - M.right - 170}" y2="${ly - 4}" stroke="${s.color}" stroke-width="3"/>`);
    out.push(`<text x="${W - M.right - 164}" y="${ly}">${esc(`${s.label} (n=${s.values.length})`)}</text>`);
  });
  out.push(`<text x="${(M.left + W - M.right) / 2}" y="${H - M.bottom + 36}" text-anchor="middle">${esc(xLabel)}</text>`);
  out.push(`<text x="${M.left}" y="${H - 10}" fill="#555" font-size="11">${esc(note)}</text>`);
  out.push(`<text transform="translate(16,${(M.top + H - M.bottom) / 2}) rotate(-90)" text-anchor="middle">fraction of containers</text>`);
  out.push("</svg>");
  return `${out.join("\n")}\n`;
}
