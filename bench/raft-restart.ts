/**
 * Part of section 7 on production's storage: the three-node cluster of section 6 (harness/raft.ts: Raft, TLS,
 * HAProxy in front, the `local` stack deployed through it). First the curve (bench/lease-curve.ts, without a CPU
 * profile), then how long the cluster, holding the curve's top level of leases, takes to serve again after every
 * node went down at once (a power loss: SIGKILL of all three). The nodes are started again together and unsealed;
 * measured from the start: a node active behind HAProxy, the first credential issued through it, the active node's
 * "lease restore complete" (it loads every lease from storage after it becomes active), and the cluster healthy
 * again (every node an unsealed voter).
 */
import { performance } from "node:perf_hooks";
import { waitFor } from "../harness/processes";
import type { Toolchain } from "../harness/toolchain";
import { type Curve, measureCurve } from "./lease-curve";
import type { LocalStackNames } from "./local-stack";
import { progress } from "./measure";
import { addRunbookRole } from "./runbook-role";
import { startRaftDeployment } from "./scale-deployment";

/** One cluster's restart with its leases. */
export interface RaftRestartFigures {
  /** Leases the cluster held (issued through HAProxy, 4 h, left active). */
  readonly leases: number;
  /** From the restart to each milestone, s. */
  readonly activeS: number;
  readonly firstIssueS: number;
  readonly restoredS: number;
  readonly healthyS: number;
}

/** The line the active node logs once every lease is loaded (OpenBao and Vault, vault/expiration.go). */
const RESTORED = "lease restore complete";

/** The curve on a three-node cluster of `binary`, then every node killed and started again; the figures. */
export async function raftCurveAndRestart(
  toolchain: Toolchain,
  binary: string,
  stack: LocalStackNames,
  options: { readonly levels: readonly number[]; readonly samples: number },
): Promise<{ label: string; curve: Curve; restart: RaftRestartFigures }> {
  const { env, stop } = await startRaftDeployment(toolchain, binary, "[bench] scale raft:");
  const cluster = env.vault;
  try {
    await addRunbookRole(env, stack);
    const what = `scale ${cluster.label} (Raft)`;
    const curve = await measureCurve(env, stack, { ...options, what });
    const leases = curve.levels.at(-1)?.active ?? 0;
    progress(`${what}: ${leases} leases; killing every node`);
    const names = cluster.nodes.map((n) => n.name);
    for (const name of names) cluster.kill(name);
    await Promise.all(names.map((n) => cluster.exited(n)));
    const start = performance.now();
    const since = () => (performance.now() - start) / 1000;
    const restarting = Promise.all(names.map((n) => cluster.restart(n)));
    const milestones = { activeS: 0, firstIssueS: 0, restoredS: 0 };
    await waitFor(
      `${what}: a node active behind HAProxy`,
      async () => (await cluster.request("GET", "sys/health", undefined, "")).status === 200,
      600_000,
    );
    milestones.activeS = since();
    await waitFor(
      `${what}: a credential through HAProxy`,
      async () => (await env.v("GET", `${stack.mountPath}/creds/${stack.projectRole.vaultRole}`)).status === 200,
      600_000,
    );
    milestones.firstIssueS = since();
    await waitFor(
      `${what}: "${RESTORED}" on the active node`,
      // each restarted node's output is its new process's alone.
      async () => cluster.nodes.some((n) => (n.process?.output() ?? "").includes(RESTORED)),
      1_800_000,
    );
    milestones.restoredS = since();
    await restarting;
    await cluster.waitHealthy(600_000);
    const restart = { leases, ...milestones, healthyS: since() };
    progress(
      `${what}: active ${restart.activeS.toFixed(1)} s, first credential ${restart.firstIssueS.toFixed(1)} s, leases restored ${restart.restoredS.toFixed(1)} s, healthy ${restart.healthyS.toFixed(1)} s`,
    );
    return { label: cluster.label, curve, restart };
  } finally {
    await stop();
  }
}
