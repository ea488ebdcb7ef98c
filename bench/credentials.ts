/**
 * Section 2, credential issuance against real servers (harness/: a throwaway PostgreSQL, OpenBao and then
 * HashiCorp Vault dev servers, the stack deployed by OpenTofu with both providers, everything on 127.0.0.1):
 * N credentials at concurrency 16, then revoke-prefix, for the project's pool settings against the server's
 * defaults and the project's statements against the runbook's bare role.
 */
import { performance } from "node:perf_hooks";
import { ISSUED_USER_PREFIX } from "../constructs/vocabulary";
import { LocalDeployment } from "../harness/deployment";
import { pool } from "../harness/processes";
import type { TfJson } from "../harness/stack";
import type { Toolchain } from "../harness/toolchain";
import type { VaultResponse } from "../harness/vault";
import type { LocalStackNames } from "./local-stack";
import { CONCURRENCY, type NotRun, progress } from "./measure";
import { addRunbookRole, must, RUNBOOK_ROLE } from "./runbook-role";
import { quantile } from "./stats";

/** One run of a variant: N issued, then revoke-prefix. */
export interface IssueRun {
  /** Credentials issued per second. */
  readonly rate: number;
  /** Issuance latency, ms. */
  readonly p50: number;
  readonly p99: number;
  readonly errors: number;
  readonly revokeS: number;
  readonly revokeStatus: number;
  /** The revoke-prefix's errors when it failed, else empty. */
  readonly revokeError: string;
  /** Issued users left in pg_roles after the revoke. */
  readonly left: number;
  /** What the bench did to leave the next run a clean slate, else empty. */
  readonly cleanup: string;
}

/** A role and pool combination, measured in every repeat. */
export interface Variant {
  readonly key: "project" | "defaultPool" | "bare";
  readonly label: string;
  readonly role: string;
  readonly pool: "project" | "default";
  readonly runs: readonly IssueRun[];
}

/** One server's issuance figures: its name and the three variants. */
export interface ServerRuns {
  readonly server: string;
  readonly pgVersion: string;
  /** The project's variant, the server's default pool, the runbook's bare role: in this order. */
  readonly variants: readonly Variant[];
  /** The two pools as the server reports them after they were written. */
  readonly pools: { readonly project: string; readonly default: string };
}

/** What section 2 measured. */
export interface CredentialsResult {
  /** Credentials issued per run. */
  readonly creds: number;
  readonly concurrency: number;
  /** Runs per variant. */
  readonly repeats: number;
  /** The base role the runbook's bare role grants (the project role's). */
  readonly baseRole: string;
  /** OpenBao, then Vault. */
  readonly servers: readonly ServerRuns[];
}

/** How section 2 runs. */
export interface CredentialsOptions {
  readonly creds: number;
  readonly repeats: number;
  readonly names: LocalStackNames;
}

/** Issuance and revocation on one Vault-API server (`binary`), the stack deployed by OpenTofu with both providers. */
async function credentialsOn(toolchain: Toolchain, binary: string, options: CredentialsOptions): Promise<ServerRuns> {
  const { creds: CREDS, repeats: CRED_REPEATS, names } = options;
  const { mountPath, projectRole } = names;
  let env: LocalDeployment | undefined;
  try {
    // the machine's PostgreSQL, as in every earlier report.
    env = await LocalDeployment.start({
      server: toolchain.postgres[0],
      vaultBinary: binary,
      tools: { engine: toolchain.tofu, cliConfig: toolchain.cliConfig },
      log: "[bench] credentials:",
    });
    await env.deploy();
    const { pg } = env;
    const databaseName = env.databaseName;
    const serverLabel = env.vault.label;
    const v = (method: string, path: string, body?: unknown): Promise<VaultResponse> => env!.v(method, path, body);
    const CONN = `${mountPath}/config/${names.connectionName}`;
    const readPool = async () => {
      const d = (await must(env!, "GET", CONN)).body.data.connection_details as TfJson;
      return `max_open_connections ${d.max_open_connections}, max_idle_connections ${d.max_idle_connections}, max_connection_lifetime ${d.max_connection_lifetime}`;
    };
    // the runbook's bare role beside the project's; Vault's defaults for the two pool sizes (the lifetime stays as
    // synthesized: no run here lasts 300 s).
    const { projectPool, writeConnection } = await addRunbookRole(env, names);
    const defaultPool = { ...projectPool, max_open_connections: 4, max_idle_connections: 0 };
    const projectPoolRead = await readPool();
    await writeConnection(defaultPool);
    const defaultPoolRead = await readPool();
    await writeConnection(projectPool);

    const issuedUsers = `${ISSUED_USER_PREFIX}%`;
    const leftRoles = async () =>
      Number((await pg.query<{ n: string }>("SELECT count(*) AS n FROM pg_roles WHERE rolname LIKE $1", [issuedUsers]))[0].n);

    async function issueAndRevoke(role: string): Promise<IssueRun> {
      const latencies: number[] = [];
      let errors = 0;
      let firstError = "";
      const start = performance.now();
      await pool(CREDS, CONCURRENCY, async () => {
        const t0 = performance.now();
        const res = await v("GET", `${mountPath}/creds/${role}`);
        latencies.push(performance.now() - t0);
        if (res.status !== 200) {
          errors++;
          firstError ||= `${res.status} ${JSON.stringify(res.body.errors)}`;
        }
      });
      const issueS = (performance.now() - start) / 1000;
      if (errors) progress(`  ${errors} issuance errors, first: ${firstError}`);
      const r0 = performance.now();
      const revoke = await v("PUT", `sys/leases/revoke-prefix/${mountPath}/creds/${role}`, {});
      const revokeS = (performance.now() - r0) / 1000;
      const revokeError = revoke.status >= 300 ? JSON.stringify(revoke.body.errors ?? revoke.body).slice(0, 400) : "";
      const left = await leftRoles();
      let cleanup = "";
      if (revoke.status >= 300 || left > 0) {
        // leave the next run a clean slate: drop the leases and the users left behind, and say so.
        await v("PUT", `sys/leases/revoke-force/${mountPath}/creds/${role}`, {});
        const users = await pg.query<{ rolname: string }>("SELECT rolname FROM pg_roles WHERE rolname LIKE $1", [issuedUsers]);
        for (const u of users) {
          const id = `"${u.rolname.replace(/"/g, '""')}"`;
          await pg.query(`DROP OWNED BY ${id}`, [], databaseName).catch(() => undefined);
          await pg.query(`DROP ROLE IF EXISTS ${id}`);
        }
        cleanup = `revoke-force + superuser DROP ROLE of ${users.length} users`;
      }
      return {
        rate: (CREDS - errors) / issueS,
        p50: quantile(latencies, 0.5),
        p99: quantile(latencies, 0.99),
        errors,
        revokeS,
        revokeStatus: revoke.status,
        revokeError,
        left,
        cleanup,
      };
    }

    const variants: (Variant & { runs: IssueRun[] })[] = [
      {
        key: "project",
        label: `project: pool as synthesized, project statements (\`${projectRole.vaultRole}\`)`,
        role: projectRole.vaultRole,
        pool: "project",
        runs: [],
      },
      {
        key: "defaultPool",
        label: `Vault's default pool, project statements (\`${projectRole.vaultRole}\`)`,
        role: projectRole.vaultRole,
        pool: "default",
        runs: [],
      },
      { key: "bare", label: `project pool, the runbook's bare role (\`${RUNBOOK_ROLE}\`)`, role: RUNBOOK_ROLE, pool: "project", runs: [] },
    ];
    let current: "project" | "default" = "project";
    for (let rep = 1; rep <= CRED_REPEATS; rep++) {
      // interleaved, so that the noise of a shared machine spreads over every variant alike.
      for (const variant of variants) {
        if (variant.pool !== current) {
          await writeConnection(variant.pool === "project" ? projectPool : defaultPool);
          current = variant.pool;
        }
        progress(
          `credentials on ${serverLabel}: ${variant.key}, repeat ${rep}/${CRED_REPEATS}: issuing ${CREDS} at concurrency ${CONCURRENCY}, then revoke-prefix`,
        );
        const r = await issueAndRevoke(variant.role);
        progress(
          `  ${r.rate.toFixed(1)} creds/s, p50 ${r.p50.toFixed(0)} ms, p99 ${r.p99.toFixed(0)} ms; revoke ${r.revokeS.toFixed(2)} s (HTTP ${r.revokeStatus}); ${r.left} ${ISSUED_USER_PREFIX} roles left` +
            (r.revokeError ? `; error ${r.revokeError}` : ""),
        );
        variant.runs.push(r);
      }
    }
    const pgVersion = (await pg.query<{ v: string }>("SELECT current_setting('server_version') AS v"))[0].v;
    return {
      server: serverLabel,
      pgVersion,
      pools: { project: projectPoolRead, default: defaultPoolRead },
      variants: variants.map((vr) => ({ ...vr, label: vr.label.replace("Vault's default", `${env!.vault.product}'s default`) })),
    };
  } finally {
    progress("credentials: stopping servers, removing temp folders");
    await env?.stop();
  }
}

/** Measures section 2 on OpenBao, then on Vault; {@link NotRun} without the toolchain. */
export async function measureCredentials(
  toolchain: Toolchain | undefined,
  missing: string | undefined,
  options: CredentialsOptions,
): Promise<CredentialsResult | NotRun> {
  if (!toolchain) return { missing: `${missing}` };
  const servers: ServerRuns[] = [];
  for (const binary of [toolchain.bao, toolchain.vault]) servers.push(await credentialsOn(toolchain, binary, options));
  return { creds: options.creds, concurrency: CONCURRENCY, repeats: options.repeats, baseRole: options.names.projectRole.baseRole, servers };
}
