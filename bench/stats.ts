/**
 * The few statistics the bench reports: medians and nearest-rank quantiles, min–max spreads, whether two
 * samples' ranges overlap, a least-squares slope, and the union of time intervals. Pure functions, no I/O.
 */

/** The median of `xs` (the mean of the two middle values for an even count). */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** The q-quantile (0..1) by the nearest-rank method. */
export function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
}

/** "min–max" of `xs` with `digits` decimals, then `unit` once (`0.25–0.26 s`). */
export function spread(xs: readonly number[], digits: number, unit = ""): string {
  return `${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)}${unit}`;
}

/** Whether the min–max ranges of two samples overlap. */
export function overlap(a: readonly number[], b: readonly number[]): boolean {
  return Math.min(...a) <= Math.max(...b) && Math.min(...b) <= Math.max(...a);
}

/** Least-squares slope of y over x. */
export function slope(xs: readonly number[], ys: readonly number[]): number {
  const mx = xs.reduce((a, b) => a + b, 0) / xs.length;
  const my = ys.reduce((a, b) => a + b, 0) / ys.length;
  let num = 0;
  let den = 0;
  xs.forEach((x, i) => {
    num += (x - mx) * (ys[i] - my);
    den += (x - mx) ** 2;
  });
  return num / den;
}

/** Total length of the union of [start, end] intervals (nanoseconds in, seconds out): overlapping runs count once. */
export function unionSeconds(intervals: readonly (readonly [bigint, bigint])[]): number {
  const sorted = [...intervals].sort((a, b) => (a[0] < b[0] ? -1 : 1));
  let total = 0n;
  let [cs, ce] = sorted[0] ?? [0n, 0n];
  for (const [s, e] of sorted.slice(1)) {
    if (s > ce) {
      total += ce - cs;
      [cs, ce] = [s, e];
    } else if (e > ce) ce = e;
  }
  total += ce - cs;
  return Number(total) / 1e9;
}
