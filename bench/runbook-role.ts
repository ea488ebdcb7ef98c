/**
 * The runbook's bare role beside the project's, on a deployed `local` stack: the runbook's two creation statements
 * only (`CREATE ROLE … ; GRANT <base role> TO …`), the same connection and TTLs as the project's first role, so
 * that a section can separate the project's own cost (its statements, its pool) from the server's and PostgreSQL's.
 */
import type { LocalDeployment } from "../harness/deployment";
import type { PostgresCluster } from "../harness/postgres";
import type { TfJson } from "../harness/stack";
import type { VaultEndpoint, VaultResponse } from "../harness/vault";
import type { LocalStackNames } from "./local-stack";

/** The bare role's name in Vault. */
export const RUNBOOK_ROLE = "bare-db";

/** A Vault call that must succeed (status below 300); throws with the server's answer otherwise. */
export async function must(
  env: LocalDeployment<PostgresCluster, VaultEndpoint>,
  method: string,
  path: string,
  body?: unknown,
): Promise<VaultResponse> {
  const res = await env.v(method, path, body);
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(res.body)}`);
  return res;
}

/** The connection's pool as synthesized and applied, and a way to write the connection again with another pool. */
export interface RunbookSetup {
  readonly projectPool: TfJson;
  /** Writes the connection as applied (the bare role allowed too), with these pool settings. */
  writeConnection(poolSettings: TfJson): Promise<VaultResponse>;
}

/**
 * Adds {@link RUNBOOK_ROLE} to the deployed stack. The runbook's statements need the runbook's SUPERUSER
 * `vault_admin` (the project's holds no attribute), so it is given that too; the project's statements run
 * through the credential functions, as their owner, either way.
 */
export async function addRunbookRole(env: LocalDeployment<PostgresCluster, VaultEndpoint>, names: LocalStackNames): Promise<RunbookSetup> {
  const { mountPath, projectRole } = names;
  const path = `${mountPath}/config/${names.connectionName}`;
  const conn = (await must(env, "GET", path)).body.data as TfJson;
  const details = conn.connection_details as TfJson;
  const apiRole = (await must(env, "GET", `${mountPath}/roles/${projectRole.vaultRole}`)).body.data as TfJson;
  const projectPool = {
    max_open_connections: details.max_open_connections,
    max_idle_connections: details.max_idle_connections,
    max_connection_lifetime: details.max_connection_lifetime,
  };
  const writeConnection = (poolSettings: TfJson) =>
    must(env, "POST", path, {
      plugin_name: conn.plugin_name,
      plugin_version: conn.plugin_version || undefined,
      verify_connection: conn.verify_connection ?? true,
      allowed_roles: [...(conn.allowed_roles as string[]), RUNBOOK_ROLE],
      root_rotation_statements: conn.root_credentials_rotate_statements,
      password_policy: conn.password_policy || undefined,
      connection_url: details.connection_url,
      username: details.username,
      password: env.adminPassword,
      password_authentication: details.password_authentication,
      username_template: details.username_template || undefined,
      ...poolSettings,
    });
  await env.pg.query("ALTER ROLE vault_admin SUPERUSER");
  await writeConnection(projectPool);
  await must(env, "POST", `${mountPath}/roles/${RUNBOOK_ROLE}`, {
    db_name: apiRole.db_name,
    default_ttl: apiRole.default_ttl,
    max_ttl: apiRole.max_ttl,
    creation_statements: [
      `CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';`,
      `GRANT ${projectRole.baseRole} TO "{{name}}";`,
    ],
  });
  return { projectPool, writeConnection };
}
