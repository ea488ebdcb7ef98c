import { Construct } from "constructs";
import { Lazy, Token, type ITerraformDependable } from "cdktf";
import type { SecretsMount } from "./secrets-mount";
import type { VaultAdmin } from "./vault-admin";
import { caWithSslmodeProblem, holdsPrivateKey, idlePoolProblem, isPemCertificate, type SslMode, VAULT_NAME } from "./vocabulary";

/** What a {@link Connection} gives when its props say nothing; the config's defaults are these. */
export const CONNECTION_DEFAULTS = {
  name: "postgres",
  sslmode: "verify-full" as SslMode,
  /** Vault's own default: its PostgreSQL plugin creates users one at a time, so more buys nothing. */
  maxOpenConnections: 4,
  maxIdleConnections: 4,
  /** Five minutes. */
  maxConnectionLifetimeSeconds: 300,
} as const;

/** Props of {@link Connection}. */
export interface ConnectionProps {
  /** The database secrets engine this connection lives in. */
  readonly mount: SecretsMount;
  /**
   * The PostgreSQL role Vault logs in as; its name, password reference and password version are read from
   * it, and the mount waits for everything it depends on ({@link VaultAdmin.dependables}).
   */
  readonly admin: VaultAdmin;
  /** PostgreSQL endpoint as Vault reaches it (a proxy such as HAProxy in front of a cluster). */
  readonly host: string;
  readonly port: number;
  /** The database Vault connects to; revocation reassigns objects inside it. */
  readonly database: string;
  /** @default "verify-full" */
  readonly sslmode?: SslMode;
  /**
   * PEM of the CA that signed PostgreSQL's server certificate, written as `tls_ca`: Vault then trusts this
   * CA only, instead of its system trust store. Vault applies it on top of the sslmode in `connection_url`,
   * so it needs `verify-full` (chain and host name) or `verify-ca` (chain only); with `require` Vault would
   * skip the check and ignore it.
   * @default - Vault's system trust store
   */
  readonly caCertificate?: string;
  /** Vault connection name. @default "postgres" */
  readonly name?: string;
  /**
   * Pool size. Vault's PostgreSQL plugin creates and revokes users one at a time (one lock per plugin), so
   * a larger pool does not issue faster; it only holds more connections open on the server.
   * @default 4
   */
  readonly maxOpenConnections?: number;
  /** @default 4 */
  readonly maxIdleConnections?: number;
  /** Seconds before a pooled connection is recycled. @default 300 */
  readonly maxConnectionLifetimeSeconds?: number;
}

/**
 * The Vault connection to PostgreSQL (`<mount>/config/<name>`), a `postgresql` block of the mount's
 * `vault_database_secrets_mount` (see {@link SecretsMount} for why it is not a resource of its own).
 *
 * `allowed_roles` is derived from the {@link DynamicRole}s created against this connection, never kept
 * by hand; a connection with no role fails validation. Passwords are hashed by Vault before they reach
 * PostgreSQL (`password_authentication = scram-sha-256`). `<mount>/rotate-root/<name>` runs the
 * plugin's own statement, `ALTER ROLE "{{username}}" WITH PASSWORD …`, which a non-superuser admin may run
 * on itself, so no `root_rotation_statements` are set: provider 5.6.0 does not send them for a
 * `vault_database_secrets_mount` block (it reads the attribute without the block's prefix), and setting them
 * would only leave a change in every plan.
 *
 * @see https://developer.hashicorp.com/vault/api-docs/secret/databases/postgresql
 * @see https://registry.terraform.io/providers/hashicorp/vault/5.6.0/docs/resources/database_secrets_mount
 */
export class Connection extends Construct {
  /** The connection name, as written in config. */
  public readonly connectionName: string;
  /** The mount path, as a Terraform reference (using it orders resources after the mount). */
  public readonly mountPath: string;
  /** The secrets engine this connection lives in. */
  public readonly mount: SecretsMount;
  /** What the mount waits for: the admin role and everything Vault needs in PostgreSQL to issue and revoke. */
  public readonly dependables: readonly ITerraformDependable[];
  private readonly roles: string[] = [];

  constructor(scope: Construct, id: string, props: ConnectionProps) {
    super(scope, id);
    const d = CONNECTION_DEFAULTS;
    this.connectionName = props.name ?? d.name;
    const sslmode = props.sslmode ?? d.sslmode;
    const maxOpen = props.maxOpenConnections ?? d.maxOpenConnections;
    const maxIdle = props.maxIdleConnections ?? d.maxIdleConnections;
    if (!VAULT_NAME.test(this.connectionName)) {
      throw new Error(`name must be a Vault path segment, got "${this.connectionName}"`);
    }
    if (!props.host || /[\s/@?#]/.test(props.host)) throw new Error(`host must be a host name or address, got "${props.host}"`);
    if (!Number.isInteger(props.port) || props.port < 1 || props.port > 65535) {
      throw new Error(`port must be between 1 and 65535, got ${props.port}`);
    }
    const pool = idlePoolProblem(maxIdle, maxOpen);
    if (pool) throw new Error(`maxIdleConnections ${pool}, got ${maxIdle}`);
    const ca = props.caCertificate;
    if (ca !== undefined && !Token.isUnresolved(ca)) {
      if (!isPemCertificate(ca)) {
        throw new Error(
          `caCertificate must be a PEM certificate (-----BEGIN CERTIFICATE----- ... -----END CERTIFICATE-----), got "${ca.split("\n")[0].slice(0, 40)}"`,
        );
      }
      if (holdsPrivateKey(ca)) throw new Error("caCertificate must not hold a private key, got one beside the certificate");
    }
    const pointless = ca === undefined ? undefined : caWithSslmodeProblem(sslmode);
    if (pointless) throw new Error(`caCertificate ${pointless}`);

    this.mount = props.mount;
    this.mountPath = props.mount.mountPath;
    const host = props.host.includes(":") ? `[${props.host}]` : props.host;
    // verify_connection logs in as the admin, and revocation (also when the mount is destroyed) needs
    // the admin and the base roles: all of them must exist before the mount and outlive it.
    this.dependables = [...props.admin.dependables];
    props.mount.addPostgresqlConnection(
      {
        name: this.connectionName,
        pluginName: "postgresql-database-plugin",
        allowedRoles: Lazy.listValue({ produce: () => [...this.roles] }),
        verifyConnection: true,
        connectionUrl: `postgresql://{{username}}:{{password}}@${host}:${props.port}/${props.database}?sslmode=${sslmode}`,
        username: props.admin.username,
        passwordWo: props.admin.password,
        passwordWoVersion: props.admin.passwordVersion,
        passwordAuthentication: "scram-sha-256",
        maxOpenConnections: maxOpen,
        maxIdleConnections: maxIdle,
        maxConnectionLifetime: props.maxConnectionLifetimeSeconds ?? d.maxConnectionLifetimeSeconds,
        tlsCa: ca,
      },
      this.dependables,
    );
    this.node.addValidation({
      validate: () => (this.roles.length === 0 ? [`connection "${this.connectionName}" has no dynamic role: allowed_roles would be empty`] : []),
    });
  }

  /**
   * Adds a Vault role name to `allowed_roles`. Called by {@link DynamicRole}; call it yourself only for
   * a role this app does not create.
   */
  public addRole(roleName: string): void {
    if (this.roles.includes(roleName)) throw new Error(`role "${roleName}" is already attached to connection "${this.connectionName}"`);
    this.roles.push(roleName);
  }

  /** The Vault role names in `allowed_roles` (a copy). */
  public get allowedRoles(): string[] {
    return [...this.roles];
  }
}
