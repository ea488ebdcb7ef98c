/**
 * `npm run bench`'s measurements: which sections a run measures (all, or the one BENCH_ONLY names), with what
 * counts, on which machine; each section's module measures it and returns its typed result for report.ts.
 */
import { cpus, release, totalmem } from "node:os";
import { prepareToolchain } from "../harness/toolchain";
import { measureCredentials } from "./credentials";
import { measureDeploys } from "./deploys";
import { measureHa } from "./ha";
import { measureLeaseAudit } from "./lease-audit";
import { measureDrains, measureLeaseScale } from "./lease-scale";
import { type LocalStackNames, localStackNames } from "./local-stack";
import { progress } from "./measure";
import { measureRaft } from "./raft";
import type { BenchResults, Machine } from "./report";
import { measureSynth } from "./synth";

/**
 * The parts BENCH_ONLY can name, in the report's order (sections 1 to 7); `drain` is section 7's drain after an
 * outage alone (a full run measures it within `scale`), so that it can be re-measured without the hour-long curve.
 */
export const BENCH_PARTS = ["synth", "creds", "deploy", "ha", "leases", "raft", "scale", "drain"] as const;
/** A part BENCH_ONLY can name. */
export type BenchPart = (typeof BENCH_PARTS)[number];

/** How a run measures: the counts of each section (BENCH_* in scripts/bench.ts), and which part alone, if one. */
export interface BenchOptions {
  /** Measure this part alone (its section of BENCHMARKS.md is replaced, the others kept); absent: every part. */
  readonly only?: BenchPart;
  /** Synth runs per size and per command, after one warm-up. */
  readonly synthRuns: number;
  /** Runs per credential variant. */
  readonly credRepeats: number;
  /** Credentials issued per credential run. */
  readonly creds: number;
  readonly deployRepeats: number;
  /** Switchovers and crashes per HA row. */
  readonly haRepeats: number;
  /** Active leases the audit runs at. */
  readonly auditLeases: number;
  /** Audits per server. */
  readonly auditRuns: number;
  /** Runs of each Raft event per server. */
  readonly raftRepeats: number;
  /** Active-lease levels of the curve, ascending. */
  readonly scaleLevels: readonly number[];
  /** Credentials issued at concurrency 16 per role and level. */
  readonly scaleSamples: number;
  /** Leases of the drain after an outage (0: none). */
  readonly drainLeases: number;
  /** Whether section 7 measures three-node Raft clusters too (the curve, the drain and a restart). */
  readonly scaleRaft: boolean;
}

/**
 * The options of `npm run bench` from its environment: BENCH_ONLY (one of {@link BENCH_PARTS}) and each
 * section's counts (BENCH_SYNTH_RUNS, BENCH_CRED_REPEATS, BENCH_CREDS, BENCH_DEPLOY_REPEATS, BENCH_HA_REPEATS,
 * BENCH_AUDIT_LEASES, BENCH_AUDIT_RUNS, BENCH_RAFT_REPEATS, BENCH_SCALE_SAMPLES; BENCH_SCALE_LEVELS a comma-separated
 * ascending list, BENCH_DRAIN_LEASES 0 or more, BENCH_SCALE_RAFT=0 to leave the Raft clusters out), each with its default. Throws on a BENCH_ONLY that names no part,
 * or a count that is not a whole number in range.
 */
export function benchOptions(env: NodeJS.ProcessEnv): BenchOptions {
  const only = env.BENCH_ONLY;
  if (only !== undefined && !(BENCH_PARTS as readonly string[]).includes(only)) {
    throw new Error(`BENCH_ONLY=${only}: expected one of ${BENCH_PARTS.join(", ")}`);
  }
  const whole = (name: string, value: string, min: number) => {
    const n = Number(value);
    if (value.trim() === "" || !Number.isInteger(n) || n < min) throw new Error(`${name}=${value}: expected a whole number of at least ${min}`);
    return n;
  };
  const count = (name: string, fallback: number, min = 1) => (env[name] === undefined ? fallback : whole(name, env[name], min));
  const levels =
    env.BENCH_SCALE_LEVELS === undefined ? [0, 10_000, 50_000] : env.BENCH_SCALE_LEVELS.split(",").map((v) => whole("BENCH_SCALE_LEVELS", v, 0));
  if (levels.some((l, i) => i > 0 && l <= levels[i - 1]))
    throw new Error(`BENCH_SCALE_LEVELS=${env.BENCH_SCALE_LEVELS}: expected levels in ascending order`);
  return {
    only: only as BenchPart | undefined,
    synthRuns: count("BENCH_SYNTH_RUNS", 5),
    credRepeats: count("BENCH_CRED_REPEATS", 3),
    creds: count("BENCH_CREDS", 500),
    deployRepeats: count("BENCH_DEPLOY_REPEATS", 3),
    haRepeats: count("BENCH_HA_REPEATS", 3),
    auditLeases: count("BENCH_AUDIT_LEASES", 10_000),
    auditRuns: count("BENCH_AUDIT_RUNS", 3),
    raftRepeats: count("BENCH_RAFT_REPEATS", 3),
    scaleLevels: levels,
    scaleSamples: count("BENCH_SCALE_SAMPLES", 400),
    drainLeases: count("BENCH_DRAIN_LEASES", 10_000, 0),
    scaleRaft: env.BENCH_SCALE_RAFT !== "0",
  };
}

/** The parts a run measures, in order: every part (`drain` within `scale`), or `only`. */
export function partsToRun(only?: BenchPart): BenchPart[] {
  return BENCH_PARTS.filter((p) => (only === undefined ? p !== "drain" : p === only));
}

/** The machine, for the report's header; `date` is now. */
export function describeMachine(): Machine {
  const cpu = cpus();
  return {
    date: new Date().toISOString(),
    cpu: cpu[0]?.model.trim() ?? "unknown",
    cores: cpu.length,
    memoryBytes: totalmem(),
    node: process.version,
    linux: release(),
  };
}

/**
 * Measures the parts `options` asks for; the real-server parts first get their tools (tools/build.sh). A part
 * whose tools could not be had is in the results as not run, with what was missing.
 *
 * @param names the `local` stack's names; default read from config/local.json
 */
export async function runBench(options: BenchOptions, names: LocalStackNames = localStackNames()): Promise<BenchResults> {
  const parts = partsToRun(options.only);
  const machine = describeMachine();
  const synth = parts.includes("synth") ? await measureSynth(options.synthRuns) : undefined;
  const servers = parts.filter((p) => p !== "synth");
  if (servers.length === 0) return { machine, synth };
  progress("preparing the toolchain (tools/build.sh)");
  const { toolchain, missing } = await prepareToolchain({ ha: servers.some((p) => p === "ha" || p === "raft" || p === "scale" || p === "drain") });
  const roles = names.vaultRoles;
  return {
    machine,
    synth,
    credentials: servers.includes("creds")
      ? await measureCredentials(toolchain, missing, { creds: options.creds, repeats: options.credRepeats, names })
      : undefined,
    deploys: servers.includes("deploy") ? await measureDeploys(toolchain, missing, options.deployRepeats) : undefined,
    ha: servers.includes("ha") ? await measureHa(toolchain, missing, { repeats: options.haRepeats, roles }) : undefined,
    leaseAudit: servers.includes("leases")
      ? await measureLeaseAudit(toolchain, missing, { leases: options.auditLeases, runs: options.auditRuns, roles })
      : undefined,
    raft: servers.includes("raft") ? await measureRaft(toolchain, missing, { repeats: options.raftRepeats, roles }) : undefined,
    leaseScale: servers.includes("scale")
      ? await measureLeaseScale(toolchain, missing, {
          levels: options.scaleLevels,
          samples: options.scaleSamples,
          drainLeases: options.drainLeases,
          raft: options.scaleRaft,
          names,
        })
      : undefined,
    drains: servers.includes("drain")
      ? await measureDrains(toolchain, missing, { drainLeases: options.drainLeases, raft: options.scaleRaft, levels: options.scaleLevels, names })
      : undefined,
  };
}
