/**
 * The deployments section 7 measures on, each with its own throwaway PostgreSQL (`pg_stat_statements` loaded), the
 * `local` stack deployed by OpenTofu and leases of {@link FILL_TTL} by default: a dev server (in-memory storage), or
 * section 6's three-node Raft cluster (TLS, HAProxy in front), production's storage.
 */
import { ThrowawayCa } from "../harness/ca";
import { LocalDeployment } from "../harness/deployment";
import type { PostgresCluster } from "../harness/postgres";
import { RaftCluster } from "../harness/raft";
import type { Toolchain } from "../harness/toolchain";
import type { VaultEndpoint, VaultServer } from "../harness/vault";
import { enableStatementStats, FILL_TTL, STATEMENT_STATS } from "./lease-curve";
import { progress } from "./measure";

/** A deployment the bench started, and how to stop it leaving nothing behind. */
export interface BenchDeployment<V extends VaultEndpoint = VaultEndpoint> {
  readonly env: LocalDeployment<PostgresCluster, V>;
  readonly stop: () => Promise<void>;
}

/**
 * The `local` stack deployed on PostgreSQL and the server `vault` names (a dev server's binary, or a starter),
 * `pg_stat_statements` on; `cleanup` runs after the deployment stops, or when it could not start.
 */
async function deployed<V extends VaultEndpoint>(
  toolchain: Toolchain,
  vault: { vaultBinary: string } | { startVault: (parentDir: string) => Promise<V> },
  log: string,
  cleanup: () => void = () => undefined,
): Promise<BenchDeployment<V>> {
  let env: LocalDeployment<PostgresCluster, V> | undefined;
  try {
    env = await LocalDeployment.start<PostgresCluster, V>({
      server: toolchain.postgres[0],
      ...vault,
      tools: { engine: toolchain.tofu, cliConfig: toolchain.cliConfig },
      postgres: { settings: STATEMENT_STATS },
      patchConfig: (config) => {
        for (const a of config.applications) a.defaultTtl = FILL_TTL;
      },
      log,
    });
    await env.deploy();
    await enableStatementStats(env);
  } catch (err) {
    await env?.stop();
    cleanup();
    throw err;
  }
  const started = env;
  return {
    env,
    stop: async () => {
      await started.stop();
      cleanup();
    },
  };
}

/**
 * Section 6's three-node cluster of `binary` (Raft, TLS, HAProxy in front) with the `local` stack deployed through
 * it; its throwaway CA goes when it stops.
 */
export async function startRaftDeployment(toolchain: Toolchain, binary: string, log: string): Promise<BenchDeployment<RaftCluster>> {
  const { ha } = toolchain;
  if (!ha) throw new Error("the Raft part needs HAProxy (tools/build.sh ha-topology)");
  const ca = await ThrowawayCa.create();
  const startVault = (parentDir: string) => RaftCluster.start({ binary, ca, haproxy: ha.haproxy, parentDir, log: (m) => progress(`${log} ${m}`) });
  return deployed(toolchain, { startVault }, log, () => ca.remove());
}

/** A dev server of `binary` with the stack deployed. */
export function startDevDeployment(toolchain: Toolchain, binary: string, log: string): Promise<BenchDeployment<VaultServer>> {
  return deployed<VaultServer>(toolchain, { vaultBinary: binary }, log);
}
