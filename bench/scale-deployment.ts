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
 * Section 6's three-node cluster of `binary` (Raft, TLS, HAProxy in front) with the `local` stack deployed through
 * it, `pg_stat_statements` on and leases of {@link FILL_TTL} by default; its throwaway CA goes when it stops.
 */
export async function startRaftDeployment(toolchain: Toolchain, binary: string, log: string): Promise<BenchDeployment<RaftCluster>> {
  const { ha } = toolchain;
  if (!ha) throw new Error("the Raft part needs HAProxy (tools/build.sh ha-topology)");
  const ca = await ThrowawayCa.create();
  let env: LocalDeployment<PostgresCluster, RaftCluster> | undefined;
  try {
    env = await LocalDeployment.start({
      server: toolchain.postgres[0],
      startVault: (parentDir) => RaftCluster.start({ binary, ca, haproxy: ha.haproxy, parentDir, log: (m) => progress(`${log} ${m}`) }),
      tools: { engine: toolchain.tofu, cliConfig: toolchain.cliConfig },
      postgres: { settings: STATEMENT_STATS },
      patchConfig: (config) => {
        for (const a of config.applications) a.defaultTtl = FILL_TTL;
      },
      log,
    });
    await env.deploy();
    await enableStatementStats(env);
    const started = env;
    return {
      env,
      stop: async () => {
        await started.stop();
        ca.remove();
      },
    };
  } catch (err) {
    await env?.stop();
    ca.remove();
    throw err;
  }
}

/** A dev server of `binary` with the stack deployed. */
export async function startDevDeployment(toolchain: Toolchain, binary: string, log: string): Promise<BenchDeployment<VaultServer>> {
  const env = await LocalDeployment.start({
    server: toolchain.postgres[0],
    vaultBinary: binary,
    tools: { engine: toolchain.tofu, cliConfig: toolchain.cliConfig },
    postgres: { settings: STATEMENT_STATS },
    patchConfig: (config) => {
      for (const a of config.applications) a.defaultTtl = FILL_TTL;
    },
    log,
  });
  try {
    await env.deploy();
    await enableStatementStats(env);
    return { env, stop: () => env.stop() };
  } catch (err) {
    await env.stop();
    throw err;
  }
}
