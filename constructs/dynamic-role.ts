import { Construct } from "constructs";
import { Token } from "cdktf";
import { DatabaseSecretBackendRole } from "@cdktf/provider-vault/lib/database-secret-backend-role";
import type { BaseRole } from "./base-roles";
import type { Connection } from "./connection";
import { VAULT_NAME } from "./names";

/** Props of {@link DynamicRole}. */
export interface DynamicRoleProps {
  /** The connection whose `allowed_roles` this role joins. */
  readonly connection: Connection;
  /** The Vault role name; credentials are read at `<mount>/creds/<name>`. */
  readonly name: string;
  /**
   * The base roles granted to every issued user. The first one is the user's login role and the owner
   * of everything it creates, or leaves behind when it is revoked.
   */
  readonly baseRoles: readonly BaseRole[];
  /** Lease of an issued credential, in seconds. @default 3600 */
  readonly defaultTtlSeconds?: number;
  /** Longest life of a credential, renewals included, in seconds. @default 86400 */
  readonly maxTtlSeconds?: number;
}

/**
 * The SQL Vault runs for one dynamic role. Exported for tests and for the benchmark, which compares it
 * with the runbook's bare statements.
 *
 * - creation: the runbook's CREATE ROLE and GRANT, then `SET role` at login so that what the user
 *   creates is owned by its base role, not by the short-lived user;
 * - renewal: moves VALID UNTIL with the lease;
 * - revocation: refuses new logins, takes the user's rights to act on it (a CREATEROLE admin is not a
 *   superuser), ends its sessions, hands whatever it still owns to the base role, drops its remaining
 *   privileges and the role itself. Every statement works for a non-superuser admin: proven on PostgreSQL 15
 *   and 17 by the wiring suite. `GRANT "{{name}}" TO CURRENT_USER` is what makes the rest work on both:
 *   on 15 a CREATEROLE admin is no member of the users it creates; on 16 and later it is, but only with
 *   ADMIN OPTION (createrole_self_grant is empty by default), which gives none of the user's privileges, so
 *   without that GRANT (INHERIT and SET by default) REASSIGN OWNED and DROP OWNED are refused.
 */
export function dynamicRoleStatements(baseRoles: readonly string[]): {
  creation: string[];
  renew: string[];
  revocation: string[];
} {
  if (baseRoles.length === 0) throw new Error("baseRoles must name at least one base role, got none");
  // base role names are validated lower-case identifiers, so they need no quoting (as in the runbook).
  const owner = baseRoles[0];
  return {
    creation: [
      `CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';`,
      ...baseRoles.map((r) => `GRANT ${r} TO "{{name}}";`),
      `ALTER ROLE "{{name}}" SET role = ${owner};`,
    ],
    renew: [`ALTER ROLE "{{name}}" VALID UNTIL '{{expiration}}';`],
    revocation: [
      `ALTER ROLE "{{name}}" NOLOGIN;`,
      `GRANT "{{name}}" TO CURRENT_USER;`,
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{{name}}' AND pid <> pg_backend_pid();`,
      `REASSIGN OWNED BY "{{name}}" TO ${owner};`,
      `DROP OWNED BY "{{name}}";`,
      `DROP ROLE IF EXISTS "{{name}}";`,
    ],
  };
}

/**
 * A Vault dynamic role (`<mount>/roles/<name>`): each read of `<mount>/creds/<name>` creates a
 * PostgreSQL user in the given base roles, with a lease that Vault renews or revokes.
 *
 * @see https://developer.hashicorp.com/vault/api-docs/secret/databases#create-role
 * @see https://registry.terraform.io/providers/hashicorp/vault/5.6.0/docs/resources/database_secret_backend_role
 */
export class DynamicRole extends Construct {
  /** The Vault role name. */
  public readonly roleName: string;
  /** Where credentials are read, e.g. `database/creds/keybuzz-api-db`. */
  public readonly credentialsPath: string;
  /** The login base role of the issued users. */
  public readonly baseRole: string;
  /** Lease of a credential, in seconds: the default life of a token that reads it. */
  public readonly defaultTtlSeconds: number;
  /** Longest life of a credential, in seconds: what tokens that read it should not outlive. */
  public readonly maxTtlSeconds: number;
  /** The vault_database_secret_backend_role resource. */
  public readonly resource: DatabaseSecretBackendRole;

  constructor(scope: Construct, id: string, props: DynamicRoleProps) {
    super(scope, id);
    const defaultTtl = props.defaultTtlSeconds ?? 3600;
    const maxTtl = props.maxTtlSeconds ?? 86400;
    if (!VAULT_NAME.test(props.name)) {
      throw new Error(`name must be a Vault path segment (a-z, 0-9, -), got "${props.name}"`);
    }
    // values only known at apply time (tokens) are left to Vault to check.
    const known = (n: number) => !Token.isUnresolved(n);
    for (const [what, ttl] of [["defaultTtlSeconds", defaultTtl], ["maxTtlSeconds", maxTtl]] as const) {
      if (known(ttl) && (!Number.isInteger(ttl) || ttl <= 0)) throw new Error(`${what} must be positive whole seconds, got ${ttl}`);
    }
    if (known(defaultTtl) && known(maxTtl) && defaultTtl > maxTtl) {
      throw new Error(`default_ttl must not exceed max_ttl, got ${defaultTtl} > ${maxTtl}`);
    }

    this.roleName = props.name;
    this.defaultTtlSeconds = defaultTtl;
    this.maxTtlSeconds = maxTtl;
    this.baseRole = props.baseRoles[0]?.name;
    const sql = dynamicRoleStatements(props.baseRoles.map((r) => r.name));
    this.resource = new DatabaseSecretBackendRole(this, "Resource", {
      backend: props.connection.mountPath,
      name: props.name,
      dbName: props.connection.connectionName,
      creationStatements: sql.creation,
      renewStatements: sql.renew,
      revocationStatements: sql.revocation,
      defaultTtl,
      maxTtl,
      // a credential is only usable once its base roles hold their rights.
      dependsOn: props.baseRoles.flatMap((r) => [r.resource, ...r.grants]),
    });
    props.connection.addRole(props.name);
    this.credentialsPath = `${props.connection.mount.path}/creds/${props.name}`;
  }
}
