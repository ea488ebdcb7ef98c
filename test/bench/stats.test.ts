/** bench/stats.ts: the statistics BENCHMARKS.md reports. */
import { describe, expect, it } from "vitest";
import { median, overlap, quantile, slope, spread, unionSeconds } from "../../bench/stats";

describe("median", () => {
  it("takes the middle value of an odd count, whatever the order", () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([0.26, 0.25, 0.26, 0.25, 0.26])).toBe(0.26);
  });

  it("takes the mean of the two middle values of an even count", () => {
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });

  it("leaves its input unsorted", () => {
    const xs = [3, 1, 2];
    median(xs);
    expect(xs).toEqual([3, 1, 2]);
  });
});

describe("quantile", () => {
  it("is the nearest rank: the smallest value with at least q of the sample at or below it", () => {
    const xs = [40, 10, 30, 20];
    expect(quantile(xs, 0.5)).toBe(20);
    expect(quantile(xs, 0.95)).toBe(40);
    expect(quantile(xs, 0.25)).toBe(10);
    expect(quantile(xs, 0.26)).toBe(20);
  });

  it("stays inside the sample at both ends", () => {
    expect(quantile([5, 6, 7], 0)).toBe(5);
    expect(quantile([5, 6, 7], 1)).toBe(7);
  });

  it("takes p99 of 500 latencies as the 495th", () => {
    const xs = Array.from({ length: 500 }, (_, i) => 500 - i);
    expect(quantile(xs, 0.99)).toBe(495);
  });
});

describe("spread", () => {
  it("writes min–max with the digits asked for, the unit once at the end", () => {
    expect(spread([0.26, 0.25, 0.255], 2, " s")).toBe("0.25–0.26 s");
    expect(spread([161.4, 181.8, 176], 1)).toBe("161.4–181.8");
  });
});

describe("overlap", () => {
  it("is true when the ranges share a point, false when one ends before the other starts", () => {
    expect(overlap([129.0, 135.6, 160.5], [129.5, 150.0, 155.1])).toBe(true);
    expect(overlap([1, 2], [2, 3])).toBe(true);
    expect(overlap([1, 2], [2.1, 3])).toBe(false);
    expect(overlap([5, 6], [1, 4])).toBe(false);
  });
});

describe("slope", () => {
  it("is exact on a line", () => {
    expect(slope([0, 1, 2], [1, 3, 5])).toBeCloseTo(2, 12);
  });

  it("fits least squares through points off a line", () => {
    // the synth's three sizes as BENCHMARKS.md section 1 measured them: 1.78 ms per application.
    expect(slope([16, 100, 1000], [260, 420, 2020])).toBeCloseTo(1061760 / 595104, 12);
    expect(slope([16, 100, 1000], [260, 420, 2020]).toFixed(2)).toBe("1.78");
  });
});

describe("unionSeconds", () => {
  const s = (n: number) => BigInt(n) * 1_000_000_000n;

  it("counts overlapping intervals once, in any order", () => {
    expect(
      unionSeconds([
        [s(5), s(7)],
        [s(0), s(2)],
        [s(1), s(3)],
      ]),
    ).toBe(5);
  });

  it("counts an interval inside another not at all", () => {
    expect(
      unionSeconds([
        [s(0), s(10)],
        [s(2), s(3)],
      ]),
    ).toBe(10);
  });

  it("is 0 with no interval", () => {
    expect(unionSeconds([])).toBe(0);
  });
});
