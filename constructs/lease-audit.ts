import { Construct } from "constructs";
import type { TerraformResource } from "cdktf";
import { FunctionResource as PgFunction } from "@cdktf/provider-postgresql/lib/function-resource";
import { Grant } from "@cdktf/provider-postgresql/lib/grant";
import { Role } from "@cdktf/provider-postgresql/lib/role";
import { Schema } from "@cdktf/provider-postgresql/lib/schema";
import { Policy } from "@cdktf/provider-vault/lib/policy";
import type { BaseRole, BaseRoles } from "./base-roles";
import type { Connection } from "./connection";
import type { CredentialFunctions } from "./credential-functions";
import { DynamicRole } from "./dynamic-role";
import type { VaultAdmin } from "./vault-admin";

/**
 * The names the lease audit uses, in Vault and in PostgreSQL, from one prefix (`<prefix>_leases_audit`,
 * `<prefix>-leases-audit`…): an application may not take one of them (the config refuses it).
 */
export function leaseAuditNames(prefix: string) {
  if (!/^[a-z][a-z0-9]*$/.test(prefix)) {
    throw new Error(`the lease audit's prefix must be lower-case letters and digits, starting with a letter, got "${prefix}"`);
  }
  return {
    /** Vault role of the end-to-end probe: issues a user in a base role with no privilege at all. */
    probeRole: "leases-probe",
    /** Vault role whose users read the catalog and the sessions of dropped roles for the audit. */
    auditRole: "leases-audit",
    /** Vault role whose users may also run the revocation function, for `--fix --apply`. */
    fixRole: "leases-fix",
    probeBaseRole: `${prefix}_leases_probe`,
    auditBaseRole: `${prefix}_leases_audit`,
    fixBaseRole: `${prefix}_leases_fix`,
    /** The schema of `orphanSessionsFunction`, in the application database. */
    sessionsSchema: `${prefix}_leases`,
    /**
     * `<sessionsSchema>.orphan_sessions()`: the client sessions whose role no longer exists, as jsonb (pid, database,
     * role_oid, backend_start) and nothing else of them; the one thing the audit reads that `pg_stat_activity` hides
     * from a role without `pg_read_all_stats`.
     */
    orphanSessionsFunction: "orphan_sessions",
    /** What `npm run leases` needs: read lease metadata of the mount, run the probe, log in to read. */
    auditPolicy: `${prefix}-leases-audit`,
    /** The audit's policy and what `--fix --apply` needs on top: revoke this mount's leases, log in to drop. */
    fixPolicy: `${prefix}-leases-fix`,
  } as const;
}

/** The names of one lease audit (see {@link leaseAuditNames}). */
export type LeaseAuditNames = ReturnType<typeof leaseAuditNames>;

/** One of the audit's Vault roles: its job, the base roles its users get (the login role first), its lease. */
export interface LeaseAuditRole {
  readonly job: "probe" | "audit" | "fix";
  readonly vaultRole: string;
  readonly baseRoles: readonly string[];
  readonly defaultTtlSeconds: number;
}

/**
 * The audit's three Vault roles and the base roles their users get: what {@link LeaseAudit} creates, and what
 * `npm run leases` expects each of their users to hold. The fix role's users read what the audit's read.
 */
export function leaseAuditRoles(n: LeaseAuditNames): readonly LeaseAuditRole[] {
  return [
    { job: "probe", vaultRole: n.probeRole, baseRoles: [n.probeBaseRole], defaultTtlSeconds: 60 },
    { job: "audit", vaultRole: n.auditRole, baseRoles: [n.auditBaseRole], defaultTtlSeconds: 600 },
    { job: "fix", vaultRole: n.fixRole, baseRoles: [n.fixBaseRole, n.auditBaseRole], defaultTtlSeconds: 600 },
  ];
}

/** The prefix of the audit's names unless {@link LeaseAuditProps.names} says otherwise. */
export const DEFAULT_LEASE_AUDIT_PREFIX = "vault";

/** Props of {@link LeaseAudit}. */
export interface LeaseAuditProps {
  /** The connection its three Vault roles issue through. */
  readonly connection: Connection;
  /** The functions that create and drop the users; the fix role may run `drop_user`. */
  readonly functions: CredentialFunctions;
  /** The application database, which the audit's users log in to. */
  readonly baseRoles: BaseRoles;
  /** Vault's admin: the fix role's grants on the functions come after its own (two at once fail). */
  readonly admin: VaultAdmin;
  /** Its names in Vault and PostgreSQL. @default - leaseAuditNames("vault") */
  readonly names?: LeaseAuditNames;
}

/**
 * The policy of `npm run leases` (without `fix`) or of `npm run leases -- --fix --apply` (with it), for a
 * mount at `mountPath`.
 *
 * Lease metadata is read through `sys/leases/lookup`, limited to this mount's credentials with
 * `allowed_parameters`; listing a prefix of leases needs `sudo` (Vault's rule for that endpoint).
 * Irrevocable leases are only listed server-wide (`GET sys/leases?type=irrevocable`, metadata and Vault's
 * last error, no secret): the one read outside the mount, filtered by the tool.
 *
 * @see https://developer.hashicorp.com/vault/api-docs/system/leases
 * @see https://developer.hashicorp.com/vault/docs/concepts/policies#parameter-constraints
 */
export function leaseAuditPolicyDocument(mountPath: string, fix: boolean, n: LeaseAuditNames): string {
  const creds = `${mountPath}/creds`;
  const ownRoles = fix ? [n.probeRole, n.auditRole, n.fixRole] : [n.probeRole, n.auditRole];
  const lines = [
    `# list this mount's leases (listing a prefix needs sudo) and read their metadata, nothing else.`,
    `path "sys/leases/lookup/${creds}/*" {`,
    `  capabilities = ["list", "sudo"]`,
    `}`,
    ``,
    `path "sys/leases/lookup" {`,
    `  capabilities = ["update"]`,
    `  allowed_parameters = {`,
    `    "lease_id" = ["${creds}/*"]`,
    `  }`,
    `}`,
    ``,
    `# irrevocable leases with Vault's last error: only listed server-wide (metadata, no secret).`,
    `path "sys/leases" {`,
    `  capabilities = ["read", "sudo"]`,
    `}`,
    ``,
  ];
  for (const role of ownRoles) {
    lines.push(
      `# ${role}: its own credentials, revoked by the tool when it is done.`,
      `path "${creds}/${role}" {`,
      `  capabilities = ["read"]`,
      `}`,
      ``,
      `path "sys/leases/revoke/${creds}/${role}/*" {`,
      `  capabilities = ["update"]`,
      `}`,
      ``,
    );
  }
  if (fix) {
    lines.push(
      `# --fix --apply: revoke a lease of this mount whose user is gone (lease ID in the path).`,
      `path "sys/leases/revoke/${creds}/*" {`,
      `  capabilities = ["update"]`,
      `}`,
      ``,
    );
  }
  return lines.join("\n");
}

/**
 * What `npm run leases` needs, and nothing more: three Vault roles with their own NOLOGIN base roles, and
 * two policies.
 *
 * With the names of {@link leaseAuditNames} (prefix `p`):
 *
 * - `leases-probe` issues a user in `p_leases_probe`, a role with no privilege (not even CONNECT):
 *   issuing and revoking one proves that Vault reaches PostgreSQL right now, and the user can do nothing.
 * - `leases-audit` issues a user in `p_leases_audit`: CONNECT on the application database and EXECUTE on
 *   `p_leases.orphan_sessions()`, a `SECURITY DEFINER` function that returns the client sessions of roles that
 *   no longer exist (pid, database, role, start) and nothing else; the catalog it reads, and which role each session
 *   belongs to, are readable by any role. Not `pg_read_all_stats`: that would show it the statement every
 *   application's session is running, its data. The audit logs in with it: no password of its own, none of
 *   `vault_admin`'s.
 * - `leases-fix` issues a user in `p_leases_fix`: the audit's rights and EXECUTE on
 *   the credential functions' `drop_user`, the revocation function itself, so `--fix --apply` drops an orphan with
 *   exactly the SQL Vault would have run; and nothing else.
 *
 * Policies: `p-leases-audit` ({@link leaseAuditPolicyDocument}) reads this mount's lease metadata and
 * runs the probe; `p-leases-fix` adds revocation of this mount's leases.
 */
export class LeaseAudit extends Construct {
  /** Its names in Vault and PostgreSQL. */
  public readonly names: LeaseAuditNames;
  /** The three Vault roles, by job. */
  public readonly roles: Readonly<Record<"probe" | "audit" | "fix", DynamicRole>>;
  /** The audit's policy name. */
  public readonly auditPolicyName: string;
  /** The policy name for `--fix --apply`. */
  public readonly fixPolicyName: string;

  constructor(scope: Construct, id: string, props: LeaseAuditProps) {
    super(scope, id);
    const n = props.names ?? leaseAuditNames(DEFAULT_LEASE_AUDIT_PREFIX);
    this.names = n;
    // the config refuses these names for an application; a stack composed without it is refused here.
    const reserved: string[] = [n.probeBaseRole, n.auditBaseRole, n.fixBaseRole, n.sessionsSchema];
    const taken = props.baseRoles.allRoles.find((r) => reserved.includes(r.name));
    if (taken) throw new Error(`base role "${taken.name}" is reserved for the lease audit (${reserved.join(", ")})`);
    const database = props.baseRoles.database.name;
    const after = [...props.admin.dependables];

    const baseRole = (scopeId: string, name: string, memberOf: string[], grants: (role: Role, s: Construct) => TerraformResource[]): BaseRole => {
      const s = new Construct(this, scopeId);
      const resource = new Role(s, "Resource", { name, login: false, roles: memberOf });
      return { name, resource, grants: grants(resource, s) };
    };
    const probe = baseRole("ProbeBaseRole", n.probeBaseRole, [], () => []);
    const connect = (role: Role, s: Construct) => [
      new Grant(s, "Connect", { database, role: role.name, objectType: "database", privileges: ["CONNECT"], dependsOn: after }),
    ];
    const sessions = this.orphanSessions(n, database, after);
    const audit = baseRole("AuditBaseRole", n.auditBaseRole, [], (role, s) => {
      const on = { database, role: role.name, schema: sessions.schema.name };
      const usage = new Grant(s, "SessionsSchema", { ...on, objectType: "schema", privileges: ["USAGE"], dependsOn: after });
      return [
        ...connect(role, s),
        usage,
        // after PUBLIC's revoke on the same function: two grants at once fail ("tuple concurrently updated").
        new Grant(s, "OrphanSessions", {
          ...on,
          objectType: "function",
          objects: [n.orphanSessionsFunction],
          privileges: ["EXECUTE"],
          dependsOn: [usage, ...sessions.resources],
        }),
      ];
    });
    const fix = baseRole("FixBaseRole", n.fixBaseRole, [], (role, s) => {
      const on = { database, role: role.name, schema: props.functions.schema.name };
      // after Vault admin's grants on the same schema and functions: two at once fail ("tuple concurrently updated").
      const usage = new Grant(s, "FunctionsSchema", { ...on, objectType: "schema", privileges: ["USAGE"], dependsOn: after });
      return [
        ...connect(role, s),
        usage,
        new Grant(s, "DropUser", { ...on, objectType: "function", objects: ["drop_user"], privileges: ["EXECUTE"], dependsOn: [...after, usage] }),
      ];
    });
    // the revocations Vault runs when the mount goes need these roles: they go after it.
    props.connection.mount.waitFor([...sessions.resources, ...[probe, audit, fix].flatMap((r) => [r.resource, ...r.grants])]);

    const roles = new Construct(this, "Roles");
    const byName = new Map([probe, audit, fix].map((r) => [r.name, r]));
    const built = leaseAuditRoles(n).map(
      (r) =>
        [
          r.job,
          new DynamicRole(roles, r.vaultRole, {
            connection: props.connection,
            functions: props.functions,
            name: r.vaultRole,
            baseRoles: r.baseRoles.map((name) => byName.get(name) as BaseRole),
            defaultTtlSeconds: r.defaultTtlSeconds,
            maxTtlSeconds: 3600,
            connectionLimit: 2,
          }),
        ] as const,
    );
    this.roles = Object.fromEntries(built) as LeaseAudit["roles"];

    // the path as written in config: the policy text reads the same in review as in Vault.
    const mountPath = props.connection.mount.path;
    this.auditPolicyName = n.auditPolicy;
    this.fixPolicyName = n.fixPolicy;
    const policies = new Construct(this, "Policies");
    new Policy(policies, "Audit", { name: n.auditPolicy, policy: leaseAuditPolicyDocument(mountPath, false, n) });
    new Policy(policies, "Fix", { name: n.fixPolicy, policy: leaseAuditPolicyDocument(mountPath, true, n) });
  }

  /**
   * The schema and the `SECURITY DEFINER` function that tell the audit which sessions belong to dropped roles, and
   * PUBLIC's EXECUTE on it revoked. Owned by the role Terraform connects as (a superuser, as the credential
   * functions): inside it `pg_stat_activity` shows every session; it returns four columns of the orphaned ones only.
   * Its body pins `search_path` first, as the credential functions' do.
   */
  private orphanSessions(n: LeaseAuditNames, database: string, after: TerraformResource[]): { schema: Schema; resources: TerraformResource[] } {
    const s = new Construct(this, "OrphanSessions");
    const schema = new Schema(s, "Schema", { name: n.sessionsSchema, database, dropCascade: true, dependsOn: after });
    const fn = new PgFunction(s, "Function", {
      name: n.orphanSessionsFunction,
      schema: schema.name,
      database,
      returns: "jsonb",
      language: "plpgsql",
      securityDefiner: true,
      body: [
        "",
        "BEGIN",
        "  PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);",
        "  RETURN (SELECT coalesce(jsonb_agg(jsonb_build_object('pid', a.pid, 'database', coalesce(a.datname, ''),",
        "                   'role_oid', a.usesysid::int8, 'backend_start', extract(epoch FROM a.backend_start)::float8) ORDER BY a.pid), '[]'::jsonb)",
        "            FROM pg_stat_activity a",
        "           WHERE a.backend_type = 'client backend' AND a.usesysid IS NOT NULL",
        "             AND NOT EXISTS (SELECT FROM pg_roles r WHERE r.oid = a.usesysid));",
        "END",
        "",
      ].join("\n"),
    });
    // functions are executable by PUBLIC by default; only the audit's grant remains.
    const revoke = new Grant(s, "RevokePublicExecute", {
      database,
      role: "public",
      schema: schema.name,
      objectType: "function",
      privileges: [],
      dependsOn: [fn],
    });
    return { schema, resources: [schema, fn, revoke] };
  }
}
