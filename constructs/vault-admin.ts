import { Construct } from "constructs";
import { Token, type TerraformResource } from "cdktf";
import { Grant } from "@cdktf/provider-postgresql/lib/grant";
import { GrantRole } from "@cdktf/provider-postgresql/lib/grant-role";
import { Role } from "@cdktf/provider-postgresql/lib/role";
import type { BaseRoles } from "./base-roles";
import type { CredentialFunctions } from "./credential-functions";
import { pgIdentifierProblem } from "./vocabulary";

/** What {@link VaultAdmin} gives when its props say nothing; the config's defaults are these. */
export const VAULT_ADMIN_DEFAULTS = {
  username: "vault_admin",
  passwordVersion: 1,
  /** Least privilege: only EXECUTE on the credential functions. */
  superuser: false,
  reservedConnections: false,
} as const;

/** Props of {@link VaultAdmin}. */
export interface VaultAdminProps {
  /** The base roles Vault will grant to the users it creates. */
  readonly baseRoles: BaseRoles;
  /** The functions through which it creates, renews and drops issued users: all it may execute. */
  readonly functions: CredentialFunctions;
  /**
   * The password, as a reference to a sensitive (ideally ephemeral) Terraform variable, never a literal.
   * It is sent through the write-only `password_wo`, so it is kept neither in the plan nor in the state.
   */
  readonly password: string;
  /**
   * Bump to send a new password; while it stays the same, Terraform leaves the password alone,
   * which is what lets Vault rotate it (`rotate-root`) without Terraform putting the old one back.
   * @default 1
   */
  readonly passwordVersion?: number;
  /** The role name. @default "vault_admin" */
  readonly username?: string;
  /**
   * Reproduce the runbook: a SUPERUSER. The default is least privilege: no role attribute and no
   * membership, only CONNECT on the database, USAGE on the functions' schema and EXECUTE on the
   * {@link CredentialFunctions}.
   * @default false
   */
  readonly superuser?: boolean;
  /**
   * Make it a member of `pg_use_reserved_connections` (PostgreSQL 16 and later, with `reserved_connections`
   * set in postgresql.conf), so that it still logs in, and revocations still run, when issued users fill
   * every other connection slot. PostgreSQL 15 has no such role: leave it off there.
   * @default false
   */
  readonly reservedConnections?: boolean;
}

/**
 * The PostgreSQL LOGIN role that Vault's database secrets engine connects as.
 *
 * By default it holds no role attribute (not even CREATEROLE, which on PostgreSQL 15 can grant itself
 * `pg_execute_server_program` and so run programs as the server's OS user) and no membership (on 16 and
 * later, ADMIN OPTION on a base role also gives its privileges by default): it creates, renews and drops
 * users only through the {@link CredentialFunctions}, and changes its own password (Vault's `rotate-root`),
 * which any role may.
 *
 * @see https://developer.hashicorp.com/vault/docs/secrets/databases/postgresql
 * @see https://www.postgresql.org/docs/16/predefined-roles.html (pg_use_reserved_connections)
 */
export class VaultAdmin extends Construct {
  /** The role name Vault logs in with. */
  public readonly username: string;
  /** The password reference (a Terraform variable, not a value), to deliver it to the Vault connection too. */
  public readonly password: string;
  /** The password version, to deliver the same password to the Vault connection. */
  public readonly passwordVersion: number;
  /** Whether this is the runbook's SUPERUSER. */
  public readonly superuser: boolean;
  /** The postgresql_role resource. */
  public readonly resource: Role;
  /** Everything that must exist before Vault can connect and manage users, and outlive its connection. */
  public readonly dependables: readonly TerraformResource[];

  constructor(scope: Construct, id: string, props: VaultAdminProps) {
    super(scope, id);
    const d = VAULT_ADMIN_DEFAULTS;
    this.username = props.username ?? d.username;
    this.password = props.password;
    this.passwordVersion = props.passwordVersion ?? d.passwordVersion;
    this.superuser = props.superuser ?? d.superuser;
    if (pgIdentifierProblem(this.username)) {
      throw new Error(`username must be a lower-case PostgreSQL identifier, got "${this.username}"`);
    }
    if (!Token.isUnresolved(props.password)) {
      throw new Error("password must be a reference to a sensitive Terraform variable, not a literal");
    }
    if (!Number.isInteger(this.passwordVersion) || this.passwordVersion < 1) {
      throw new Error(`passwordVersion must be a positive integer, got ${this.passwordVersion}`);
    }

    this.resource = new Role(this, "Resource", {
      name: this.username,
      login: true,
      superuser: this.superuser,
      passwordWo: props.password,
      passwordWoVersion: String(this.passwordVersion),
      // memberships are managed by the GrantRole resources below (and by Vault for its users);
      // without this the role's own `roles` attribute would revoke them on the next apply.
      lifecycle: { ignoreChanges: ["roles"] },
    });
    // the database, the base roles with their schemas and grants, and the functions too: Vault connects to
    // the database, and its revocation hands what a user owns to its base role. whatever depends on these
    // (the Vault mount) is created after them and destroyed, its leases revoked, before them.
    const dependables: TerraformResource[] = [
      this.resource,
      props.baseRoles.database,
      ...props.baseRoles.allRoles.flatMap((r) => [r.resource, ...r.grants]),
      ...props.baseRoles.closedDatabases,
      ...props.functions.resources,
    ];
    const database = props.baseRoles.database.name;
    const role = this.resource.name;
    if (!this.superuser) {
      const schema = props.functions.schema.name;
      dependables.push(
        new Grant(this, "Connect", { database, role, objectType: "database", privileges: ["CONNECT"] }),
        new Grant(this, "FunctionsSchema", { database, role, schema, objectType: "schema", privileges: ["USAGE"] }),
        // after PUBLIC's revoke: two grants on the same functions at once fail ("tuple concurrently updated").
        new Grant(this, "Functions", {
          database,
          role,
          schema,
          objectType: "function",
          privileges: ["EXECUTE"],
          dependsOn: [...props.functions.resources],
        }),
      );
    }
    if (props.reservedConnections) {
      dependables.push(new GrantRole(this, "ReservedConnections", { role, grantRole: "pg_use_reserved_connections" }));
    }
    this.dependables = dependables;
  }
}
