/**
 * Part of section 7: how long a Raft cluster holding tens of thousands of leases takes to serve again after every
 * node went down at once (a power loss: SIGKILL of all three), on the three-node cluster of section 6
 * (harness/raft.ts: TLS, HAProxy in front, the `local` stack deployed through it). The nodes are started again
 * together and unsealed; measured from the start: a node active behind HAProxy, the first credential issued
 * through it, the active node's "lease restore complete" (it loads every lease from storage after it becomes
 * active), and the cluster healthy again (every node an unsealed voter).
 */
import { performance } from "node:perf_hooks";
import { ThrowawayCa } from "../harness/ca";
import { LocalDeployment } from "../harness/deployment";
import { pool, waitFor } from "../harness/processes";
import { RaftCluster } from "../harness/raft";
import type { Toolchain } from "../harness/toolchain";
import { CONCURRENCY, progress } from "./measure";

/** One server's restart with its leases. */
export interface RaftRestartFigures {
  readonly label: string;
  /** Leases the cluster held (issued through HAProxy, 4 h, left active). */
  readonly leases: number;
  /** How long issuing them took, s. */
  readonly fillS: number;
  /** From the restart to each milestone, s. */
  readonly activeS: number;
  readonly firstIssueS: number;
  readonly restoredS: number;
  readonly healthyS: number;
}

/** The line the active node logs once every lease is loaded (OpenBao and Vault, vault/expiration.go). */
const RESTORED = "lease restore complete";

/** Fills a three-node cluster of `binary` with `leases` leases, kills every node, starts them again; the times. */
export async function raftRestartOn(toolchain: Toolchain, binary: string, leases: number, roles: readonly string[]): Promise<RaftRestartFigures> {
  if (!toolchain.ha) throw new Error("the Raft restart needs HAProxy (tools/build.sh ha-topology)");
  const ca = await ThrowawayCa.create();
  const env = await LocalDeployment.start({
    server: toolchain.postgres[0],
    startVault: (parentDir) =>
      RaftCluster.start({ binary, ca, haproxy: toolchain.ha!.haproxy, parentDir, log: (m) => progress(`raft restart ${m}`) }),
    tools: { engine: toolchain.tofu, cliConfig: toolchain.cliConfig },
    patchConfig: (config) => {
      for (const a of config.applications) a.defaultTtl = "4h";
    },
    log: "[bench] raft restart:",
  });
  const cluster = env.vault;
  try {
    await env.deploy();
    const what = `raft restart ${cluster.label}`;
    const t0 = performance.now();
    let failed = 0;
    await pool(leases, CONCURRENCY, async (i) => {
      const res = await env.v("GET", `database/creds/${roles[i % roles.length]}`);
      if (res.status !== 200 && ++failed > leases / 100)
        throw new Error(`${what}: ${failed} issuances failed, last ${res.status} ${JSON.stringify(res.body)}`);
      if ((i + 1) % 5000 === 0) progress(`${what}: ${i + 1} of ${leases} issued`);
    });
    const fillS = (performance.now() - t0) / 1000;
    progress(`${what}: ${leases - failed} leases in ${fillS.toFixed(0)} s; killing every node`);
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
    await waitFor(`${what}: a credential through HAProxy`, async () => (await env.v("GET", `database/creds/${roles[0]}`)).status === 200, 600_000);
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
    const figures = { label: cluster.label, leases: leases - failed, fillS, ...milestones, healthyS: since() };
    progress(
      `${what}: active ${figures.activeS.toFixed(1)} s, first credential ${figures.firstIssueS.toFixed(1)} s, leases restored ${figures.restoredS.toFixed(1)} s, healthy ${figures.healthyS.toFixed(1)} s`,
    );
    return figures;
  } finally {
    await env.stop();
    ca.remove();
  }
}
