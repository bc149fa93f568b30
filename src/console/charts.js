// Charts with uPlot (served from node_modules/uplot): time on x, one line or bar series each.
import uPlot from './uPlot.esm.js';
import { h } from './ui.js';

const palette = ['#2563eb', '#dc2626', '#16a34a', '#9333ea', '#ea580c'];

/**
 * A time-series chart. `x` are Unix seconds; `series` are `{ label, values, color?, bars?, dash?, points? }`.
 * Answers the chart's container (with a data-testid, and the uPlot instance on `.chart`).
 */
export function timeChart({ title, x, series, height = 220, testId, yRange, bucket }) {
  const container = h('figure', { class: 'chart', 'data-testid': testId }, h('figcaption', {}, title));
  const width = () => Math.max(320, Math.min(920, (document.getElementById('page')?.clientWidth ?? 960) - 40));
  // Bar series stand side by side in their bucket (a day, a minute), not on top of each other.
  const barSeries = series.filter((one) => one.bars);
  const barPaths = new Map(barSeries.map((one, index) => [one, uPlot.paths.bars({ size: [0.8 / barSeries.length, 40], align: barSeries.length === 1 ? 0 : index === 0 ? -1 : 1 })]));
  // With buckets, the x scale runs half a bucket past the first and the last, so every bar shows whole.
  const xRange = bucket && x.length > 0 ? { range: () => [x[0] - bucket / 2, x[x.length - 1] + bucket / 2] } : {};
  const options = {
    width: width(),
    height,
    scales: { x: { time: true, ...xRange }, y: yRange ? { range: yRange } : { range: (_u, min, max) => [Math.min(0, min), max > 0 ? max * 1.1 : 1] } },
    axes: [{}, { size: 50 }],
    series: [
      {},
      ...series.map((one, index) => ({
        label: one.label,
        stroke: one.color ?? palette[index % palette.length],
        width: one.dash ? 1.5 : 2,
        dash: one.dash,
        fill: one.bars ? `${one.color ?? palette[index % palette.length]}55` : undefined,
        paths: one.bars ? barPaths.get(one) : undefined,
        points: { show: one.points ?? !one.bars },
        spanGaps: true,
      })),
    ],
    legend: { show: true },
  };
  const chart = new uPlot(options, [x, ...series.map((one) => one.values)], container);
  container.chart = chart;
  return container;
}

/** Unix seconds of a `YYYY-MM-DD` (UTC midnight) or `YYYY-MM-DDTHH:MM` (UTC). */
export const seconds = (period) => Date.parse(period.length === 10 ? `${period}T00:00:00Z` : `${period}:00Z`) / 1000;

/** Every UTC day from `first` to `last` (`YYYY-MM-DD`), both included. */
export function daysBetween(first, last) {
  const days = [];
  for (let day = Date.parse(`${first}T00:00:00Z`); day <= Date.parse(`${last}T00:00:00Z`); day += 86_400_000) days.push(new Date(day).toISOString().slice(0, 10));
  return days;
}
