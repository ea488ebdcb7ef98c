/** bench/run.ts: what `npm run bench` measures, from its environment. */
import { describe, expect, it } from "vitest";
import { BENCH_PARTS, benchOptions, describeMachine, partsToRun } from "../../bench/run";

describe("benchOptions", () => {
  it("takes every part and the defaults from an empty environment", () => {
    expect(benchOptions({})).toEqual({
      only: undefined,
      synthRuns: 5,
      credRepeats: 3,
      creds: 500,
      deployRepeats: 3,
      haRepeats: 3,
      auditLeases: 10_000,
      auditRuns: 3,
      raftRepeats: 3,
      scaleLevels: [0, 10_000, 50_000],
      scaleSamples: 400,
      drainLeases: 10_000,
      scaleRaft: true,
    });
  });

  it("reads the curve's levels as an ascending list, and a drain of 0 as none", () => {
    expect(benchOptions({ BENCH_SCALE_LEVELS: "0,2000", BENCH_DRAIN_LEASES: "0" })).toMatchObject({ scaleLevels: [0, 2000], drainLeases: 0 });
    expect(() => benchOptions({ BENCH_SCALE_LEVELS: "10000,0" })).toThrow("BENCH_SCALE_LEVELS=10000,0: expected levels in ascending order");
    expect(() => benchOptions({ BENCH_SCALE_LEVELS: "0,,5" })).toThrow("BENCH_SCALE_LEVELS=: expected a whole number of at least 0");
    expect(() => benchOptions({ BENCH_DRAIN_LEASES: "-1" })).toThrow("BENCH_DRAIN_LEASES=-1: expected a whole number of at least 0");
  });

  it("reads BENCH_ONLY and each count", () => {
    const options = benchOptions({
      BENCH_ONLY: "synth",
      BENCH_SYNTH_RUNS: "1",
      BENCH_CREDS: "50",
      BENCH_AUDIT_LEASES: "2000",
      BENCH_RAFT_REPEATS: "2",
    });
    expect(options).toMatchObject({ only: "synth", synthRuns: 1, creds: 50, auditLeases: 2000, raftRepeats: 2, haRepeats: 3 });
  });

  it("fails on a BENCH_ONLY that names no part, listing the parts", () => {
    expect(() => benchOptions({ BENCH_ONLY: "credentials" })).toThrow(
      "BENCH_ONLY=credentials: expected one of synth, creds, deploy, ha, leases, raft, scale, drain",
    );
  });

  it("fails on a count that is not a whole number of at least 1", () => {
    expect(() => benchOptions({ BENCH_CREDS: "many" })).toThrow("BENCH_CREDS=many: expected a whole number of at least 1");
    expect(() => benchOptions({ BENCH_HA_REPEATS: "0" })).toThrow(/BENCH_HA_REPEATS=0/);
    expect(() => benchOptions({ BENCH_AUDIT_RUNS: "1.5" })).toThrow(/BENCH_AUDIT_RUNS=1\.5/);
  });
});

describe("partsToRun", () => {
  it("runs every part in the report's order without BENCH_ONLY, the drain within section 7's scale part", () => {
    expect(partsToRun()).toEqual(["synth", "creds", "deploy", "ha", "leases", "raft", "scale"]);
    expect(partsToRun("drain")).toEqual(["drain"]);
  });

  it("runs the one part BENCH_ONLY names", () => {
    for (const part of BENCH_PARTS) expect(partsToRun(part)).toEqual([part]);
  });
});

describe("describeMachine", () => {
  it("describes this machine, dated now", () => {
    const before = Date.now();
    const machine = describeMachine();
    expect(Date.parse(machine.date)).toBeGreaterThanOrEqual(before);
    expect(machine.cores).toBeGreaterThan(0);
    expect(machine.memoryBytes).toBeGreaterThan(0);
    expect(machine.node).toBe(process.version);
  });
});
