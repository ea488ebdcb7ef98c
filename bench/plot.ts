/**
 * A line chart as SVG text, for the plots BENCHMARKS.md shows: one line per series over a shared x axis, a
 * logarithmic or linear y axis, a legend. No dependency and no I/O: the caller writes the text where it belongs.
 */

/** One line: its name in the legend and its points, x ascending. */
export interface Series {
  readonly name: string;
  readonly points: readonly (readonly [number, number])[];
  /** Dashed, to tell a second family of lines (e.g. the runbook's statements) from the first. */
  readonly dashed?: boolean;
  /** Index into the palette (series that belong together share one); default the series' own index. */
  readonly colour?: number;
}

/** What {@link lineChart} draws. */
export interface Chart {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly series: readonly Series[];
  /** A logarithmic y axis (every y must be above 0). */
  readonly logY?: boolean;
}

const WIDTH = 780;
const HEIGHT = 420;
const MARGIN = { left: 70, right: 270, top: 40, bottom: 50 };
const COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"];

const xmlText = (text: string) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
const round = (n: number) => Math.round(n * 10) / 10;
const label = (n: number) => (n >= 1000 ? `${n / 1000}k` : Number.isInteger(n) ? String(n) : n.toPrecision(2));

/** Ticks of a y axis: powers of ten and their doubles and fives (log), or about five round steps (linear). */
function yTicks(min: number, max: number, log: boolean): number[] {
  if (log) {
    const ticks: number[] = [];
    for (let p = Math.floor(Math.log10(min)); p <= Math.ceil(Math.log10(max)); p++) {
      for (const m of [1, 2, 5]) {
        const t = m * 10 ** p;
        if (t >= min / 1.01 && t <= max * 1.01) ticks.push(t);
      }
    }
    return ticks;
  }
  const step = 10 ** Math.floor(Math.log10(max / 5 || 1));
  const nice = [1, 2, 5, 10].map((m) => m * step).find((s) => max / s <= 6) ?? step * 10;
  return Array.from({ length: Math.floor(max / nice) + 1 }, (_, i) => i * nice);
}

/** The chart as an SVG document. Throws when a series is empty or, on a log axis, a y is not above 0. */
export function lineChart(chart: Chart): string {
  const points = chart.series.flatMap((s) => s.points);
  if (chart.series.some((s) => s.points.length === 0)) throw new Error(`${chart.title}: a series without points`);
  if (chart.logY && points.some(([, y]) => !(y > 0))) throw new Error(`${chart.title}: a log axis needs every y above 0`);
  const xs = [...new Set(points.map(([x]) => x))].sort((a, b) => a - b);
  const ys = points.map(([, y]) => y);
  const log = Boolean(chart.logY);
  const yMin = log ? 10 ** Math.floor(Math.log10(Math.min(...ys))) : 0;
  const yMax = log ? 10 ** Math.ceil(Math.log10(Math.max(...ys))) : Math.max(...ys) * 1.1;
  const xMax = Math.max(...xs) || 1;
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const px = (x: number) => round(MARGIN.left + (x / xMax) * plotW);
  const py = (y: number) =>
    round(MARGIN.top + plotH - (log ? (Math.log10(y) - Math.log10(yMin)) / (Math.log10(yMax) - Math.log10(yMin)) : y / yMax) * plotH);
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`,
    `<text x="${MARGIN.left}" y="22" font-size="14" font-weight="bold">${xmlText(chart.title)}</text>`,
  ];
  for (const t of yTicks(yMin, yMax, log)) {
    out.push(
      `<line x1="${MARGIN.left}" x2="${MARGIN.left + plotW}" y1="${py(t)}" y2="${py(t)}" stroke="#ddd"/>`,
      `<text x="${MARGIN.left - 6}" y="${py(t) + 4}" text-anchor="end">${label(t)}</text>`,
    );
  }
  for (const x of xs) {
    out.push(
      `<line x1="${px(x)}" x2="${px(x)}" y1="${MARGIN.top}" y2="${MARGIN.top + plotH}" stroke="#eee"/>`,
      `<text x="${px(x)}" y="${MARGIN.top + plotH + 16}" text-anchor="middle">${label(x)}</text>`,
    );
  }
  out.push(
    `<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#333"/>`,
    `<text x="${MARGIN.left + plotW / 2}" y="${HEIGHT - 12}" text-anchor="middle">${xmlText(chart.xLabel)}</text>`,
    `<text transform="translate(18 ${MARGIN.top + plotH / 2}) rotate(-90)" text-anchor="middle">${xmlText(chart.yLabel)}</text>`,
  );
  chart.series.forEach((s, i) => {
    const colour = COLOURS[(s.colour ?? i) % COLOURS.length];
    const dash = s.dashed ? ` stroke-dasharray="6 4"` : "";
    const path = s.points.map(([x, y]) => `${px(x)},${py(y)}`).join(" ");
    out.push(`<polyline points="${path}" fill="none" stroke="${colour}" stroke-width="2"${dash}/>`);
    for (const [x, y] of s.points) out.push(`<circle cx="${px(x)}" cy="${py(y)}" r="3" fill="${colour}"/>`);
    const ly = MARGIN.top + 10 + i * 20;
    const lx = MARGIN.left + plotW + 16;
    out.push(
      `<line x1="${lx}" x2="${lx + 24}" y1="${ly}" y2="${ly}" stroke="${colour}" stroke-width="2"${dash}/>`,
      `<text x="${lx + 30}" y="${ly + 4}">${xmlText(s.name)}</text>`,
    );
  });
  out.push("</svg>", "");
  return out.join("\n");
}
