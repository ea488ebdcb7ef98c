/**
 * The Raft cluster (harness/raft.ts) losing its active node, or a standby, while credentials churn through
 * HAProxy: used by the Raft suites (test/e2e/fixture/raft-suite.ts) and `BENCH_ONLY=raft npm run bench`.
 *
 * Right before a kill, a burst of issuances runs for one second beside the churn and the kill lands at its
 * end: {@link RaftChurnResult.lastSecond} says how many of the leases answered in that second the node
 * that is active afterwards holds (Raft commits a lease before the answer, so all of them should be).
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { Creds, LocalDeployment, PostgresEndpoint } from "./deployment";
import { CredentialChurn, type Issued, type Recovery } from "./failover";
import { waitFor } from "./processes";
import type { RaftCluster } from "./raft";

/** What happens to the cluster. */
export type RaftEventName = "step-down" | "kill-active" | "kill-standby";

interface RaftEvent {
  /** How the recovery names it, e.g. `kill of the active node`. */
  readonly label: string;
  /** A one-second burst of issuances ends as it starts. */
  readonly burst: boolean;
  /** Does it; returns the node it hit, and how to bring the cluster back to three nodes. */
  readonly run: (cluster: RaftCluster) => Promise<{ node: string; recover: () => Promise<void> }>;
}

/** How long a killed node stays down before it is started again (the cluster runs on two nodes meanwhile). */
export const DOWN_MS = 5000;

export const RAFT_EVENTS: Readonly<Record<RaftEventName, RaftEvent>> = {
  "step-down": {
    label: "step-down of the active node",
    burst: false,
    run: async (cluster) => ({ node: await cluster.stepDown(), recover: async () => undefined }),
  },
  "kill-active": {
    label: "kill of the active node",
    burst: true,
    run: async (cluster) => {
      const node = await cluster.active();
      if (!node) throw new Error("no active node to kill");
      cluster.kill(node);
      return {
        node,
        recover: async () => {
          await waitFor("another node to become active", async () => ((await cluster.active()) ?? node) !== node, 60_000);
          await sleep(DOWN_MS);
          await cluster.restart(node);
        },
      };
    },
  },
  "kill-standby": {
    label: "kill of a standby",
    burst: true,
    run: async (cluster) => {
      const active = await cluster.active();
      const node = cluster.nodes.find((n) => n.name !== active)!.name;
      cluster.kill(node);
      return {
        node,
        recover: async () => {
          await cluster.exited(node);
          await sleep(DOWN_MS);
          await cluster.restart(node);
        },
      };
    },
  },
};

/** The burst before a kill: this long, this many issuances in flight at once. */
export const BURST = { ms: 1000, concurrency: 4 } as const;

export interface RaftChurnResult {
  readonly recovery: Recovery;
  /** The node the event hit. */
  readonly node: string;
  /** Leases answered in the burst's second before a kill, and how many of them the cluster holds afterwards. */
  readonly lastSecond?: { readonly answered: number; readonly known: number };
  /** Every credential the churn and the burst were handed (revoked by now, or among `expiring`). */
  readonly issued: readonly Creds[];
  /** The churn's credentials left to expire with a short TTL. */
  readonly expiring: readonly Issued[];
}

/**
 * Runs `event` while credentials churn through the cluster (every `expireEvery`-th left to expire with
 * `shortTtl`), waits until the cluster is healthy again (three unsealed voters, HAProxy routing) and a few
 * seconds more, then measures; revokes what the burst was handed.
 */
export async function churnThroughRaft(
  env: LocalDeployment<PostgresEndpoint, RaftCluster>,
  roles: readonly string[],
  name: RaftEventName,
  options: { expireEvery?: number; shortTtl?: string; settleMs?: number } = {},
): Promise<RaftChurnResult> {
  const event = RAFT_EVENTS[name];
  const settleMs = options.settleMs ?? 3000;
  const churn = new CredentialChurn(env, roles, { workers: 2, pauseMs: 100, expireEvery: options.expireEvery, expireTtl: options.shortTtl });
  const burstIssued: Creds[] = [];
  churn.start();
  try {
    await sleep(settleMs);
    const lastSecond = event.burst ? await burst(env, roles, burstIssued) : [];
    const at = Date.now();
    const { node, recover } = await event.run(env.vault);
    await recover();
    await env.vault.waitHealthy(120_000);
    const healthyAt = Date.now();
    await sleep(settleMs);
    const recovery = churn.recoveryAfter(`${event.label} ${node}`, at, healthyAt, Date.now());
    await churn.stop();
    const known = await Promise.all(lastSecond.map((c) => leaseKnown(env, c.leaseId)));
    for (const [i, c] of lastSecond.entries()) if (known[i]) await env.revoke(c.leaseId);
    return {
      recovery,
      node,
      ...(event.burst ? { lastSecond: { answered: lastSecond.length, known: known.filter(Boolean).length } } : {}),
      issued: [...churn.issued, ...burstIssued],
      expiring: churn.expiring,
    };
  } finally {
    await churn.stop().catch(() => undefined);
  }
}

/**
 * Issues as fast as {@link BURST}`.concurrency` callers can for {@link BURST}`.ms`; returns the credentials
 * answered in that time (those answered later are revoked at once). Every credential handed goes to `handed`.
 */
async function burst(env: LocalDeployment<PostgresEndpoint, RaftCluster>, roles: readonly string[], handed: Creds[]): Promise<Creds[]> {
  const until = Date.now() + BURST.ms;
  const answered: Creds[] = [];
  await Promise.all(
    Array.from({ length: BURST.concurrency }, async (_, w) => {
      for (let i = 0; Date.now() < until; i++) {
        try {
          const creds = await env.issue(roles[(w + i) % roles.length]);
          handed.push(creds);
          if (Date.now() <= until) answered.push(creds);
          else await env.revoke(creds.leaseId);
        } catch {
          // the churn counts failures; the burst only wants what was answered.
        }
      }
    }),
  );
  return answered;
}

/** Whether the active node holds the lease. */
async function leaseKnown(env: LocalDeployment<PostgresEndpoint, RaftCluster>, leaseId: string): Promise<boolean> {
  return (await env.v("PUT", "sys/leases/lookup", { lease_id: leaseId })).status === 200;
}
