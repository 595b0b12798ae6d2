import { Html, esc, html, jsonBlock } from './layout.js';

export interface ChartSeries {
  label: string;
  colour: string;
  values: number[];
}

/** Colours for failure reasons, in order of their totals (then grey). */
export const FAILURE_COLOURS = ['#b42318', '#e8590c', '#f08c00', '#9c36b5', '#1971c2', '#5c940d', '#868e96'];
export const SUCCESS_COLOUR = '#2b8a3e';

/**
 * A stacked bar chart as inline SVG, drawn on the server: no script, nothing to download, works
 * without JavaScript and under a CSP without 'unsafe-inline' (presentation attributes only). Each
 * bar carries its numbers in a <title> (hover) and in data-* attributes.
 */
export function stackedBars(
  labels: string[],
  series: ChartSeries[],
  options: { height?: number; title?: string } = {},
): Html {
  const width = 960;
  const height = options.height ?? 220;
  const pad = { left: 40, right: 8, top: 8, bottom: 24 };
  const totals = labels.map((_, i) => series.reduce((sum, s) => sum + (s.values[i] ?? 0), 0));
  const max = Math.max(1, ...totals);
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const barW = plotW / Math.max(1, labels.length);
  const bars: string[] = [];
  labels.forEach((label, i) => {
    let y = pad.top + plotH;
    const x = pad.left + i * barW;
    const parts = series.filter((s) => (s.values[i] ?? 0) > 0);
    const tip = `${label}: ${parts.map((s) => `${s.label} ${s.values[i]}`).join(', ') || 'none'}`;
    const rects = parts.map((s) => {
      const h = ((s.values[i] ?? 0) / max) * plotH;
      y -= h;
      return `<rect x="${x.toFixed(2)}" y="${y.toFixed(2)}" width="${Math.max(0.5, barW - 0.5).toFixed(2)}" height="${h.toFixed(2)}" fill="${esc(s.colour)}"></rect>`;
    });
    bars.push(
      `<g class="bar" data-label="${esc(label)}" data-total="${totals[i]}"${series.map((s, k) => ` data-s${k}="${s.values[i] ?? 0}"`).join('')}><title>${esc(tip)}</title>${rects.join('')}</g>`,
    );
  });
  const ticks = [0, 0.5, 1].map((f) => {
    const y = pad.top + plotH - f * plotH;
    return `<line x1="${pad.left}" x2="${width - pad.right}" y1="${y}" y2="${y}" stroke="#e3e8ef"></line><text x="${pad.left - 4}" y="${y + 4}" text-anchor="end" font-size="10" fill="#5b6777">${Math.round(f * max)}</text>`;
  });
  const dayTicks = labels
    .map((label, i) => (label.endsWith('T00:00:00.000Z') || label.endsWith('T00:00:00Z') ? i : -1))
    .filter((i) => i >= 0)
    .map(
      (i) =>
        `<text x="${(pad.left + i * barW).toFixed(2)}" y="${height - 6}" font-size="10" fill="#5b6777">${esc(labels[i]?.slice(5, 10))}</text>`,
    );
  const legend = html`<p class="legend">
    ${series.map((s) => html`<span>${new Html(`<svg class="swatch" width="10" height="10" aria-hidden="true"><rect width="10" height="10" fill="${esc(s.colour)}"></rect></svg>`)}${s.label}</span>`)}
  </p>`;
  return new Html(
    `<svg class="chart" viewBox="0 0 ${width} ${height}" role="img" aria-label="${esc(options.title ?? 'Sign-ins per hour')}" xmlns="http://www.w3.org/2000/svg">${ticks.join('')}${bars.join('')}${dayTicks.join('')}</svg>${legend.value}`,
  );
}

/**
 * A chart container: the server-drawn SVG (what a browser without JavaScript shows) and the same
 * numbers as a JSON data block, from which charts.js draws it with uPlot (hover values, legend).
 * `labels` are ISO times, one per bar, `step` seconds apart.
 */
export function chartBox(
  id: string,
  labels: string[],
  series: ChartSeries[],
  options: { height?: number; step: number; title: string; attributes?: Record<string, string> },
): Html {
  const data = {
    x: labels.map((l) => Math.floor(Date.parse(l) / 1000)),
    step: options.step,
    height: options.height ?? 220,
    series: series.map((s) => ({ label: s.label, colour: s.colour, values: s.values })),
  };
  const attributes = Object.entries(options.attributes ?? {})
    .map(([k, v]) => ` ${k}="${esc(v)}"`)
    .join('');
  return new Html(
    `<div id="${esc(id)}" class="chart-box" data-uplot${attributes}>${stackedBars(labels, series, { height: options.height, title: options.title }).value}${jsonBlock(`${id}-data`, data).value}</div>`,
  );
}
