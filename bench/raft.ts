/**
 * Section 6, a Vault cluster: the `local` stack deployed through HAProxy to three OpenBao (then three Vault)
 * nodes with Raft storage and TLS (harness/raft.ts); repeated step-downs, kills of the active node and kills
 * of a standby while credentials churn (harness/raft-failover.ts): how long until issuance is back, failed
 * calls, and how many leases answered in the last second before a kill the cluster holds afterwards.
 */
import { ThrowawayCa } from "../harness/ca";
import { LocalDeployment } from "../harness/deployment";
import { RAFT_TIMING, RaftCluster } from "../harness/raft";
import { churnThroughRaft, DOWN_MS, RAFT_EVENTS, type RaftChurnResult, type RaftEventName } from "../harness/raft-failover";
import type { Toolchain } from "../harness/toolchain";
import { type NotRun, progress } from "./measure";

/** What one event did to the churn. */
export type RaftRun = Pick<RaftChurnResult, "recovery" | "lastSecond">;

/** One row of section 6: a server, an event, and its runs. */
export interface RaftRow {
  readonly server: string;
  readonly event: RaftEventName;
  /** How the recovery names the event, e.g. `kill of the active node`. */
  readonly eventLabel: string;
  readonly runs: readonly RaftRun[];
}

/** What section 6 measured. */
export interface RaftResult {
  /** When the measurement ended (ISO 8601). */
  readonly measuredAt: string;
  readonly postgresMajor: number;
  /** Runs of each event per server. */
  readonly repeats: number;
  /** Raft's performance_multiplier, HAProxy's check interval (ms) and falls. */
  readonly timing: { readonly performanceMultiplier: number; readonly checkInterMs: number; readonly checkFall: number };
  /** How long a killed node stays down, ms. */
  readonly downMs: number;
  /** OpenBao then Vault; within each, the events of RAFT_EVENTS in order. */
  readonly rows: readonly RaftRow[];
}

/** How section 6 runs. */
export interface RaftOptions {
  readonly repeats: number;
  /** The Vault roles the churn issues from (every application's). */
  readonly roles: readonly string[];
}

async function raftOn(
  toolchain: Toolchain,
  binary: string,
  options: RaftOptions,
): Promise<{ label: string; runs: Record<RaftEventName, RaftRun[]> }> {
  const ca = await ThrowawayCa.create();
  const env = await LocalDeployment.start({
    server: toolchain.postgres[0],
    startVault: (parentDir) => RaftCluster.start({ binary, ca, haproxy: toolchain.ha!.haproxy, parentDir, log: (m) => progress(`raft ${m}`) }),
    tools: { engine: toolchain.tofu, cliConfig: toolchain.cliConfig },
    log: "[bench] raft:",
  });
  try {
    await env.deploy();
    const runs: Record<RaftEventName, RaftRun[]> = { "step-down": [], "kill-active": [], "kill-standby": [] };
    for (let rep = 1; rep <= options.repeats; rep++) {
      for (const name of Object.keys(RAFT_EVENTS) as RaftEventName[]) {
        const result = await churnThroughRaft(env, options.roles, name);
        progress(
          `raft ${env.vault.label} ${rep}/${options.repeats}: ${result.recovery.event}: issuance back after ${result.recovery.issuanceBackMs} ms`,
        );
        runs[name].push({ recovery: result.recovery, lastSecond: result.lastSecond });
      }
    }
    return { label: env.vault.label, runs };
  } finally {
    await env.stop();
    ca.remove();
  }
}

/** Measures section 6; {@link NotRun} without the toolchain or HAProxy. */
export async function measureRaft(toolchain: Toolchain | undefined, missing: string | undefined, options: RaftOptions): Promise<RaftResult | NotRun> {
  if (!toolchain?.ha) return { missing: missing ?? "HAProxy (tools/build.sh ha-topology)" };
  const rows: RaftRow[] = [];
  for (const binary of [toolchain.bao, toolchain.vault]) {
    const { label, runs } = await raftOn(toolchain, binary, options);
    for (const [name, event] of Object.entries(RAFT_EVENTS) as [RaftEventName, (typeof RAFT_EVENTS)[RaftEventName]][]) {
      rows.push({ server: label, event: name, eventLabel: event.label, runs: runs[name] });
    }
  }
  return {
    measuredAt: new Date().toISOString(),
    postgresMajor: toolchain.postgres[0].major,
    repeats: options.repeats,
    timing: { performanceMultiplier: RAFT_TIMING.performanceMultiplier, checkInterMs: RAFT_TIMING.checkInterMs, checkFall: RAFT_TIMING.checkFall },
    downMs: DOWN_MS,
    rows,
  };
}
