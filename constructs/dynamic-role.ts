import { Construct } from "constructs";
import { Token } from "cdktf";
import { DatabaseSecretBackendRole } from "@cdktf/provider-vault/lib/database-secret-backend-role";
import type { BaseRole } from "./base-roles";
import type { Connection } from "./connection";
import type { CredentialFunctions } from "./credential-functions";
import { exceedsProblem, VAULT_NAME } from "./vocabulary";

/** What a {@link DynamicRole} gives when its props say nothing; the config's defaults are these. */
export const DYNAMIC_ROLE_DEFAULTS = {
  /** An hour: the lease of an issued credential. */
  defaultTtlSeconds: 3600,
  /** A day: the longest a credential lives, renewals included. */
  maxTtlSeconds: 86400,
  /** Sessions one issued user may hold at once. */
  connectionLimit: 20,
} as const;

/** Props of {@link DynamicRole}. */
export interface DynamicRoleProps {
  /** The connection whose `allowed_roles` this role joins. */
  readonly connection: Connection;
  /** The functions Vault's statements call to create, renew and drop the issued users. */
  readonly functions: CredentialFunctions;
  /** The Vault role name; credentials are read at `<mount>/creds/<name>`. */
  readonly name: string;
  /**
   * The base roles granted to every issued user. The first one is the user's login role and the owner
   * of everything it creates, or leaves behind when it is revoked.
   */
  readonly baseRoles: readonly BaseRole[];
  /** Lease of an issued credential, in seconds. @default 3600 */
  readonly defaultTtlSeconds?: number;
  /**
   * Longest life of a credential, renewals included, in seconds; at most the mount's
   * {@link SecretsMount.maxLeaseTtlSeconds}, which Vault would silently apply instead.
   * @default 86400
   */
  readonly maxTtlSeconds?: number;
  /**
   * Sessions one issued user may hold at once (its `CONNECTION LIMIT`): one leaked credential cannot take
   * every connection slot of the cluster.
   * @default 20
   */
  readonly connectionLimit?: number;
}

/**
 * A Vault dynamic role (`<mount>/roles/<name>`): each read of `<mount>/creds/<name>` creates a
 * PostgreSQL user in the given base roles, with a lease that Vault renews or revokes.
 *
 * Its statements only call the {@link CredentialFunctions} (`SELECT keybuzz_vault.create_user(…)`), with
 * the Vault role's name as a string literal: Vault's SQL holds no identifier to quote, and what a user gets (its
 * roles, connection limit, longest VALID UNTIL) is fixed in PostgreSQL, not in what Vault sends.
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
    const defaultTtl = props.defaultTtlSeconds ?? DYNAMIC_ROLE_DEFAULTS.defaultTtlSeconds;
    const maxTtl = props.maxTtlSeconds ?? DYNAMIC_ROLE_DEFAULTS.maxTtlSeconds;
    if (!VAULT_NAME.test(props.name)) {
      throw new Error(`name must be a Vault path segment (a-z, 0-9, -), got "${props.name}"`);
    }
    // values only known at apply time (tokens) are left to Vault to check.
    const known = (n: number) => !Token.isUnresolved(n);
    for (const [what, ttl] of [
      ["defaultTtlSeconds", defaultTtl],
      ["maxTtlSeconds", maxTtl],
    ] as const) {
      if (known(ttl) && (!Number.isInteger(ttl) || ttl <= 0)) throw new Error(`${what} must be positive whole seconds, got ${ttl}`);
    }
    const tooLong = known(defaultTtl) && known(maxTtl) && exceedsProblem(defaultTtl, maxTtl, "maxTtlSeconds");
    if (tooLong) throw new Error(`defaultTtlSeconds ${tooLong}`);
    const mountMax = props.connection.mount.maxLeaseTtlSeconds;
    const beyondMount = known(maxTtl) && known(mountMax) && exceedsProblem(maxTtl, mountMax, `the mount's maxLeaseTtlSeconds`);
    if (beyondMount) throw new Error(`maxTtlSeconds ${beyondMount}`);

    this.roleName = props.name;
    this.defaultTtlSeconds = defaultTtl;
    this.maxTtlSeconds = maxTtl;
    this.baseRole = props.baseRoles[0]?.name;
    // first, so that a second role of the same name is refused naming the connection.
    props.connection.addRole(props.name);
    const sql = props.functions.addApplication({
      vaultRole: props.name,
      baseRoles: props.baseRoles,
      connectionLimit: props.connectionLimit ?? DYNAMIC_ROLE_DEFAULTS.connectionLimit,
      maxTtlSeconds: maxTtl,
    });
    this.resource = new DatabaseSecretBackendRole(this, "Resource", {
      backend: props.connection.mountPath,
      name: props.name,
      dbName: props.connection.connectionName,
      creationStatements: sql.creation,
      renewStatements: sql.renew,
      revocationStatements: sql.revocation,
      defaultTtl,
      maxTtl,
      // a credential is only usable once its base roles hold their rights and the functions exist.
      dependsOn: [...props.baseRoles.flatMap((r) => [r.resource, ...r.grants]), ...props.functions.resources],
    });
    this.credentialsPath = `${props.connection.mount.path}/creds/${props.name}`;
  }
}
