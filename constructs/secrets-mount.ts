import { Construct } from "constructs";
import { Token, dependable, type ITerraformDependable } from "cdktf";
import { DatabaseSecretsMount, type DatabaseSecretsMountPostgresql } from "@cdktf/provider-vault/lib/database-secrets-mount";
import { exceedsProblem, VAULT_PATH } from "./vocabulary";

/** What a {@link SecretsMount} gives when its props say nothing; the config's defaults are these. */
export const SECRETS_MOUNT_DEFAULTS = {
  path: "database",
  /** An hour. */
  defaultLeaseTtlSeconds: 3600,
  /** A day. */
  maxLeaseTtlSeconds: 86400,
  description: "Dynamic PostgreSQL credentials",
} as const;

/** Props of {@link SecretsMount}. */
export interface SecretsMountProps {
  /** Where the engine is mounted; credentials are read at `<path>/creds/<role>`. @default "database" */
  readonly path?: string;
  /** Lease given when a role sets none, in seconds. @default 3600 */
  readonly defaultLeaseTtlSeconds?: number;
  /** Longest lease any role on this mount may give, in seconds. @default 86400 */
  readonly maxLeaseTtlSeconds?: number;
  /** What Vault shows for the mount. @default "Dynamic PostgreSQL credentials" */
  readonly description?: string;
}

/**
 * Vault's database secrets engine, mounted once per environment, together with its connections
 * (`vault_database_secrets_mount`; a {@link Connection} adds its block with {@link addPostgresqlConnection}).
 *
 * One resource for both on purpose: unmounting revokes every lease of the mount, and Vault can only
 * revoke a lease through its connection. With the mount and the connection as two resources, Terraform
 * destroys the connection first (it lives in the mount), so a destroy with credentials still out failed
 * halfway (`failed to find entry for connection`). Here the connection goes with the mount, after Vault
 * has revoked every lease through it; and since the mount depends on everything Vault needs in
 * PostgreSQL, those are destroyed only after that.
 *
 * @see https://developer.hashicorp.com/vault/docs/secrets/databases
 * @see https://registry.terraform.io/providers/hashicorp/vault/5.6.0/docs/resources/database_secrets_mount
 */
export class SecretsMount extends Construct {
  /** The mount path, as a Terraform reference: using it orders resources after the mount (and its connections). */
  public readonly mountPath: string;
  /** The mount path as written in config, for names and outputs. */
  public readonly path: string;
  /** Longest lease any role on this mount may give, in seconds: a {@link DynamicRole} is held to it. */
  public readonly maxLeaseTtlSeconds: number;
  /** The vault_database_secrets_mount resource. */
  public readonly resource: DatabaseSecretsMount;
  private readonly connections: DatabaseSecretsMountPostgresql[] = [];
  /** What the mount already waits for, by fqn: each resource once. */
  private readonly waitsFor = new Set<string>();

  constructor(scope: Construct, id: string, props: SecretsMountProps = {}) {
    super(scope, id);
    this.path = props.path ?? SECRETS_MOUNT_DEFAULTS.path;
    const defaultTtl = props.defaultLeaseTtlSeconds ?? SECRETS_MOUNT_DEFAULTS.defaultLeaseTtlSeconds;
    const maxTtl = props.maxLeaseTtlSeconds ?? SECRETS_MOUNT_DEFAULTS.maxLeaseTtlSeconds;
    if (!VAULT_PATH.test(this.path)) {
      throw new Error(`path must be a Vault path without leading or trailing slash, got "${this.path}"`);
    }
    // values only known at apply time (tokens) are left to Vault to check.
    const known = (n: number) => !Token.isUnresolved(n);
    if ((known(defaultTtl) && !(defaultTtl > 0)) || (known(maxTtl) && !(maxTtl > 0))) {
      throw new Error(`lease TTLs must be positive, got default ${defaultTtl}s, max ${maxTtl}s`);
    }
    const tooLong = known(defaultTtl) && known(maxTtl) && exceedsProblem(defaultTtl, maxTtl, "maxLeaseTtlSeconds");
    if (tooLong) throw new Error(`defaultLeaseTtlSeconds ${tooLong}`);
    this.maxLeaseTtlSeconds = maxTtl;
    this.resource = new DatabaseSecretsMount(this, "Resource", {
      path: this.path,
      description: props.description ?? SECRETS_MOUNT_DEFAULTS.description,
      defaultLeaseTtlSeconds: defaultTtl,
      maxLeaseTtlSeconds: maxTtl,
    });
    this.mountPath = this.resource.path;
    this.node.addValidation({
      validate: () => (this.connections.length === 0 ? [`mount "${this.path}" has no connection: nothing could issue credentials`] : []),
    });
  }

  /**
   * Adds a PostgreSQL connection block to the mount, and makes the mount wait for `dependsOn` (what
   * Vault needs in PostgreSQL to connect and to revoke). Called by {@link Connection}.
   */
  public addPostgresqlConnection(connection: DatabaseSecretsMountPostgresql, dependsOn: readonly ITerraformDependable[] = []): void {
    if (this.connections.some((c) => c.name === connection.name)) {
      throw new Error(`connection "${connection.name}" is already in mount "${this.path}"`);
    }
    this.connections.push(connection);
    this.resource.putPostgresql([...this.connections]);
    this.waitFor(dependsOn);
  }

  /**
   * Makes the mount wait for these, each once: created before it, destroyed after it, so that the
   * revocations Vault runs when the mount goes (every lease) still find what they need in PostgreSQL.
   */
  public waitFor(dependsOn: readonly ITerraformDependable[]): void {
    const wanted: ITerraformDependable[] = [];
    for (const d of dependsOn) {
      if (this.waitsFor.has(d.fqn)) continue;
      this.waitsFor.add(d.fqn);
      wanted.push(d);
    }
    // dependable(): the plain `type.name` address depends_on takes, not a `${…}` reference.
    if (wanted.length) this.resource.dependsOn = [...(this.resource.dependsOn ?? []), ...wanted.map((d) => dependable(d))];
  }

  /** The names of the connections in this mount (a copy). */
  public get connectionNames(): string[] {
    return this.connections.map((c) => c.name);
  }
}
