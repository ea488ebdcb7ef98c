/** bench/plot.ts: the SVG line chart BENCHMARKS.md links. */
import { describe, expect, it } from "vitest";
import { lineChart } from "../../bench/plot";

const CHART = {
  title: "p50 <against> leases",
  xLabel: "active leases",
  yLabel: "ms",
  logY: true,
  series: [
    {
      name: "A & B",
      points: [
        [0, 10],
        [10_000, 100],
        [50_000, 400],
      ] as const,
    },
    {
      name: "runbook",
      points: [
        [0, 8],
        [10_000, 9],
        [50_000, 12],
      ] as const,
      dashed: true,
      colour: 0,
    },
  ],
};

describe("lineChart", () => {
  const svg = lineChart(CHART);

  it("is one SVG document with escaped text, a line and a legend entry per series", () => {
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trimEnd().endsWith("</svg>")).toBe(true);
    expect(svg).toContain("p50 &lt;against&gt; leases");
    expect(svg).toContain(">A &amp; B</text>");
    expect(svg.match(/<polyline /g)).toHaveLength(2);
    expect(svg.match(/<circle /g)).toHaveLength(6);
  });

  it("dashes the series that ask for it and gives series that share a colour the same one", () => {
    const lines = svg.match(/<polyline [^>]*>/g)!;
    expect(lines[0]).not.toContain("stroke-dasharray");
    expect(lines[1]).toContain("stroke-dasharray");
    const colour = (l: string) => /stroke="(#[0-9a-f]+)"/.exec(l)![1];
    expect(colour(lines[1])).toBe(colour(lines[0]));
  });

  it("labels the x axis at each measured x and a log y axis at 1-2-5 steps over whole decades", () => {
    for (const x of ["0", "10k", "50k"]) expect(svg).toContain(`text-anchor="middle">${x}</text>`);
    const yLabels = [...svg.matchAll(/text-anchor="end">([^<]+)<\/text>/g)].map((m) => m[1]);
    expect(yLabels).toEqual(["1", "2", "5", "10", "20", "50", "100", "200", "500", "1k"]);
  });

  it("places a larger y higher on the page", () => {
    const ys = [...svg.matchAll(/<circle cx="[^"]+" cy="([^"]+)"/g)].map((m) => Number(m[1]));
    expect(ys[0]).toBeGreaterThan(ys[1]);
    expect(ys[1]).toBeGreaterThan(ys[2]);
  });

  it("refuses a series without points, and a y of 0 on a log axis", () => {
    expect(() => lineChart({ ...CHART, series: [{ name: "none", points: [] }] })).toThrow("p50 <against> leases: a series without points");
    expect(() => lineChart({ ...CHART, series: [{ name: "zero", points: [[0, 0]] }] })).toThrow("a log axis needs every y above 0");
  });
});
