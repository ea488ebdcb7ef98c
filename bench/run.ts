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
import { type LocalStackNames, localStackNames } from "./local-stack";
import { progress } from "./measure";
import { measureRaft } from "./raft";
import type { BenchResults, Machine } from "./report";
import { measureSynth } from "./synth";

/** The parts BENCH_ONLY can name, in the report's order (sections 1 to 6). */
export const BENCH_PARTS = ["synth", "creds", "deploy", "ha", "leases", "raft"] as const;
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
}

/**
 * The options of `npm run bench` from its environment: BENCH_ONLY (one of {@link BENCH_PARTS}) and each
 * section's counts (BENCH_SYNTH_RUNS, BENCH_CRED_REPEATS, BENCH_CREDS, BENCH_DEPLOY_REPEATS, BENCH_HA_REPEATS,
 * BENCH_AUDIT_LEASES, BENCH_AUDIT_RUNS, BENCH_RAFT_REPEATS), each with its default. Throws on a BENCH_ONLY that
 * names no part, or a count that is not a positive whole number.
 */
export function benchOptions(env: NodeJS.ProcessEnv): BenchOptions {
  const only = env.BENCH_ONLY;
  if (only !== undefined && !(BENCH_PARTS as readonly string[]).includes(only)) {
    throw new Error(`BENCH_ONLY=${only}: expected one of ${BENCH_PARTS.join(", ")}`);
  }
  const count = (name: string, fallback: number) => {
    const value = env[name];
    if (value === undefined) return fallback;
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) throw new Error(`${name}=${value}: expected a whole number of at least 1`);
    return n;
  };
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
  };
}

/** The parts a run measures, in order: every part, or `only`. */
export function partsToRun(only?: BenchPart): BenchPart[] {
  return BENCH_PARTS.filter((p) => only === undefined || p === only);
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
  const { toolchain, missing } = await prepareToolchain({ ha: servers.includes("ha") || servers.includes("raft") });
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
  };
}
