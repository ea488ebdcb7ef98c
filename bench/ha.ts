/**
 * Section 4, behind HAProxy: the `local` stack deployed through HAProxy to a two-node Patroni cluster
 * (harness/patroni.ts), asynchronous and synchronous replication, OpenBao and Vault; per combination, repeated
 * switchovers and crashes of the leader while credentials churn (harness/failover.ts): how long until Vault
 * issues credentials again, the longest gap, when the cluster was healthy again.
 */
import { LocalDeployment } from "../harness/deployment";
import { churnThrough, type Recovery } from "../harness/failover";
import { HAPROXY_CHECK, PATRONI_TIMING, PatroniCluster, type ReplicationMode } from "../harness/patroni";
import type { Toolchain } from "../harness/toolchain";
import { type NotRun, progress } from "./measure";

/** The events of each repeat, in this order: a `patronictl switchover`, then a crash of the leader. */
export const HA_EVENTS = ["switchover", "crash"] as const;
/** What happens to the Patroni leader. */
export type HaEvent = (typeof HA_EVENTS)[number];

/** One row of section 4: a server, a replication mode, an event, and what the churn saw each time. */
export interface HaRow {
  readonly server: string;
  readonly replication: ReplicationMode;
  readonly event: HaEvent;
  readonly recoveries: readonly Recovery[];
}

/** What section 4 measured. */
export interface HaResult {
  /** When the measurement ended (ISO 8601). */
  readonly measuredAt: string;
  readonly postgresMajor: number;
  /** Runs of each event per row. */
  readonly repeats: number;
  /** Patroni's leader TTL and loop wait (s), HAProxy's check interval (ms) and falls: what the recoveries depend on. */
  readonly timing: { readonly leaderTtlS: number; readonly loopWaitS: number; readonly checkInterMs: number; readonly checkFall: number };
  /** Asynchronous then synchronous; within each, OpenBao then Vault; within each, {@link HA_EVENTS}. */
  readonly rows: readonly HaRow[];
}

/** How section 4 runs. */
export interface HaOptions {
  readonly repeats: number;
  /** The Vault roles the churn issues from (every application's). */
  readonly roles: readonly string[];
}

async function haOn(
  toolchain: Toolchain,
  binary: string,
  replication: ReplicationMode,
  options: HaOptions,
): Promise<{ label: string; runs: Record<HaEvent, Recovery[]> }> {
  const log = `[bench] ha ${replication}:`;
  const env = await LocalDeployment.start({
    startPostgres: (parentDir) =>
      PatroniCluster.start({
        binDir: toolchain.postgres[0].binDir,
        programs: toolchain.ha!,
        replication,
        parentDir,
        log: (m) => progress(`ha ${m}`),
      }),
    vaultBinary: binary,
    tools: { engine: toolchain.tofu, cliConfig: toolchain.cliConfig },
    log,
  });
  try {
    await env.deploy();
    const runs: Record<HaEvent, Recovery[]> = { switchover: [], crash: [] };
    for (let rep = 1; rep <= options.repeats; rep++) {
      for (const name of HA_EVENTS) {
        const { recovery, before } = await churnThrough(env, options.roles, name, async () =>
          name === "switchover" ? (({ from, to }) => `${from} → ${to}`)(await env.pg.switchover()) : `of ${(await env.pg.crashLeader()).name}`,
        );
        for (const c of before) await env.revoke(c.leaseId);
        progress(
          `ha ${env.vault.product} ${replication} ${rep}/${options.repeats}: ${recovery.event}: issuance back after ${recovery.issuanceBackMs} ms`,
        );
        runs[name].push(recovery);
      }
    }
    return { label: env.vault.label, runs };
  } finally {
    await env.stop();
  }
}

/** Measures section 4; {@link NotRun} without the toolchain or its HA topology. */
export async function measureHa(toolchain: Toolchain | undefined, missing: string | undefined, options: HaOptions): Promise<HaResult | NotRun> {
  if (!toolchain?.ha) return { missing: missing ?? "the HA topology (tools/build.sh ha-topology)" };
  const rows: HaRow[] = [];
  for (const replication of ["async", "sync"] as const) {
    for (const binary of [toolchain.bao, toolchain.vault]) {
      const { label, runs } = await haOn(toolchain, binary, replication, options);
      for (const event of HA_EVENTS) rows.push({ server: label, replication, event, recoveries: runs[event] });
    }
  }
  return {
    measuredAt: new Date().toISOString(),
    postgresMajor: toolchain.postgres[0].major,
    repeats: options.repeats,
    timing: { leaderTtlS: PATRONI_TIMING.ttl, loopWaitS: PATRONI_TIMING.loop_wait, checkInterMs: HAPROXY_CHECK.inter, checkFall: HAPROXY_CHECK.fall },
    rows,
  };
}
