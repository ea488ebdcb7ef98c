import { Construct } from "constructs";
import { Lazy, Token, type TerraformResource } from "cdktf";
import { FunctionResource as PgFunction } from "@cdktf/provider-postgresql/lib/function-resource";
import { Grant } from "@cdktf/provider-postgresql/lib/grant";
import { Schema } from "@cdktf/provider-postgresql/lib/schema";
import type { BaseRole, BaseRoles } from "./base-roles";
import { ISSUED_USER_PREFIX, pgIdentifierProblem } from "./vocabulary";

/** The schema of the functions unless {@link CredentialFunctionsProps.schemaName} says otherwise. */
export const DEFAULT_FUNCTIONS_SCHEMA = "vault_credentials";

/** Seconds an expiration may lie beyond now() + max TTL: the clocks of Vault and PostgreSQL may differ. */
const CLOCK_SKEW_SECONDS = 300;

/** How long a revocation waits for a lock before it gives up the drop (the part that matters is done first). */
const LOCK_TIMEOUT = "5s";

/** Props of {@link CredentialFunctions}. */
export interface CredentialFunctionsProps {
  /** The application database and its base roles: the functions live in that database. */
  readonly baseRoles: BaseRoles;
  /** The schema that holds the functions, created here. @default "vault_credentials" */
  readonly schemaName?: string;
}

/** What an issued user of one application gets: added by {@link DynamicRole}. */
export interface IssuedUserSpec {
  /** The Vault role that issues these users: the functions' key for everything below. */
  readonly vaultRole: string;
  /** The base roles granted to each user; the first is its login role and the owner of what it leaves. */
  readonly baseRoles: readonly BaseRole[];
  /** Sessions one issued user may hold at once (`CONNECTION LIMIT`). */
  readonly connectionLimit: number;
  /** Longest life of a credential in seconds: no user is created or renewed past now() + this. */
  readonly maxTtlSeconds: number;
}

/** The three functions Vault's statements call, by role. */
export interface CredentialStatements {
  readonly creation: string[];
  readonly renew: string[];
  readonly revocation: string[];
}

const sqlString = (s: string) => `'${s.replace(/'/g, "''")}'`;

/** One row of the functions' table, as read back from their SQL by {@link issuedUserTable}. */
export interface IssuedUserRow {
  /** The base roles each user gets, the login role first. */
  readonly roles: readonly string[];
  readonly connectionLimit: number;
  readonly maxTtlSeconds: number;
}

/** The text of one row of the table: what {@link CredentialFunctions} writes and {@link issuedUserTable} reads. */
function tableRow(spec: { vaultRole: string; roles: readonly string[]; connectionLimit: number; maxTtlSeconds: number }): string {
  const roles = spec.roles.map(sqlString);
  return `      (${sqlString(spec.vaultRole)}, ${roles[0]}, ARRAY[${roles.join(", ")}]::pg_catalog.text[], ${spec.connectionLimit}, ${spec.maxTtlSeconds})`;
}

const TABLE_ROW = /\('((?:[^']|'')+)', '(?:[^']|'')+', ARRAY\[([^\]]*)\]::pg_catalog\.text\[\], (\d+), (\d+)\)/g;
const TABLE = /\(VALUES[\s\S]*?\) AS app\(/;
const unquote = (s: string) => s.slice(1, -1).replace(/''/g, "'");

/**
 * The table of Vault roles inside a function body this construct wrote (a plan's before or after of
 * `create_user`, `renew_user` or `drop_user`), by Vault role: the parser of what {@link CredentialFunctions}
 * writes, for a reader such as the review that has only the SQL. Empty for any other text.
 */
export function issuedUserTable(body: string): Map<string, IssuedUserRow> {
  const rows = new Map<string, IssuedUserRow>();
  for (const m of body.matchAll(TABLE_ROW)) {
    const roles = m[2].split(", ").filter(Boolean).map(unquote);
    rows.set(m[1].replace(/''/g, "'"), { roles, connectionLimit: Number(m[3]), maxTtlSeconds: Number(m[4]) });
  }
  return rows;
}

/** A function body this construct wrote, without its table of Vault roles: what changed besides the rows. */
export function withoutIssuedUserTable(body: string): string {
  return body.replace(TABLE, "(VALUES) AS app(");
}

/**
 * The only way Vault's admin acts on PostgreSQL: three `SECURITY DEFINER` functions that create, renew and
 * drop issued users, and nothing else. Vault's admin holds no role attribute and no membership, only
 * EXECUTE on these (see {@link VaultAdmin}), so what it can do is what their bodies allow:
 *
 * - `create_user(name, password, valid_until, vault_role)` creates a LOGIN user whose name starts with
 *   `v-`, in exactly the base roles configured for that Vault role, with its connection limit, and a
 *   VALID UNTIL no later than now() + its max TTL (no permanent login);
 * - `renew_user(name, valid_until)` moves VALID UNTIL of such a user, within the same bound;
 * - `drop_user(name, vault_role)` revokes one of that Vault role's users (or one an earlier revocation left
 *   in no role): first what must hold whatever happens next (NOLOGIN, every
 *   membership revoked, its sessions ended), then, in a sub-transaction with a lock timeout, hands what it
 *   owns to its base role and drops it. When the drop fails (something the user owns in another
 *   database), the user stays, NOLOGIN with no membership, a WARNING says why, and the revocation
 *   succeeds: an issued user cannot make its own revocation fail. Sessions are ended once more at the
 *   end, for one that logged in while the revocation ran (before its NOLOGIN committed).
 *
 * Every call also ends the sessions, in this database, of roles that no longer exist, and of issued users
 * left NOLOGIN: the last gap (a login between the final check and the commit) is closed by the next call.
 *
 * Each body pins `search_path` to `pg_catalog, pg_temp` before anything else (the provider cannot set a
 * function's `SET` clause), names catalog objects with their schema, and builds every statement with
 * `format('%I')` and `format('%L')`: no argument reaches SQL unquoted, and a base role named `user` or
 * `order` works. The functions are owned by the role Terraform connects as (the provider cannot set a
 * function's owner), which must be a superuser; PUBLIC gets neither EXECUTE nor USAGE on the schema.
 *
 * @see https://www.postgresql.org/docs/current/sql-createfunction.html#SQL-CREATEFUNCTION-SECURITY
 * @see https://registry.terraform.io/providers/cyrilgdn/postgresql/1.26.0/docs/resources/postgresql_function
 */
export class CredentialFunctions extends Construct {
  /** The schema the functions live in. */
  public readonly schemaName: string;
  /** The postgresql_schema resource. */
  public readonly schema: Schema;
  /** The postgresql_function resources, by SQL name. */
  public readonly functions: Readonly<Record<"create_user" | "renew_user" | "drop_user", PgFunction>>;
  /** Every resource Vault's statements need: the schema, the functions and PUBLIC's revoked EXECUTE. */
  public readonly resources: readonly TerraformResource[];
  private readonly specs = new Map<string, IssuedUserSpec>();

  constructor(scope: Construct, id: string, props: CredentialFunctionsProps) {
    super(scope, id);
    this.schemaName = props.schemaName ?? DEFAULT_FUNCTIONS_SCHEMA;
    if (pgIdentifierProblem(this.schemaName)) {
      throw new Error(`schemaName must be a lower-case PostgreSQL identifier, got "${this.schemaName}"`);
    }
    const database = props.baseRoles.database.name;
    // owned by the role Terraform connects as, like the functions; PUBLIC gets no USAGE on a new schema.
    this.schema = new Schema(this, "Schema", { name: this.schemaName, database, dropCascade: true });
    const schema = this.schema.name;

    const fn = (name: "create_user" | "renew_user" | "drop_user", args: [string, string][], body: () => string) =>
      new PgFunction(new Construct(this, name), "Resource", {
        name,
        schema,
        database,
        arg: args.map(([n, type]) => ({ name: n, type })),
        returns: "void",
        language: "plpgsql",
        securityDefiner: true,
        body: Lazy.stringValue({ produce: body }),
      });
    this.functions = {
      create_user: fn(
        "create_user",
        [
          ["p_name", "text"],
          ["p_password", "text"],
          ["p_valid_until", "text"],
          ["p_vault_role", "text"],
        ],
        () => this.createBody(),
      ),
      renew_user: fn(
        "renew_user",
        [
          ["p_name", "text"],
          ["p_valid_until", "text"],
        ],
        () => this.renewBody(),
      ),
      drop_user: fn(
        "drop_user",
        [
          ["p_name", "text"],
          ["p_vault_role", "text"],
        ],
        () => this.dropBody(),
      ),
    };
    // functions are executable by PUBLIC by default; only the grants made for Vault's admin remain.
    const revoke = new Grant(this, "RevokePublicExecute", {
      database,
      role: "public",
      schema,
      objectType: "function",
      privileges: [],
      dependsOn: Object.values(this.functions),
    });
    this.resources = [this.schema, ...Object.values(this.functions), revoke];
    this.node.addValidation({
      validate: () => (this.specs.size === 0 ? ["no application uses the credential functions: add a DynamicRole"] : []),
    });
  }

  /**
   * Registers the users one application's dynamic role issues, and returns the statements Vault runs for
   * it. Called by {@link DynamicRole}.
   */
  public addApplication(spec: IssuedUserSpec): CredentialStatements {
    const [login] = spec.baseRoles;
    if (!login) throw new Error("baseRoles must name at least one base role, got none");
    if (this.specs.has(spec.vaultRole)) throw new Error(`Vault role "${spec.vaultRole}" is already registered`);
    const known = (n: number) => !Token.isUnresolved(n);
    if (known(spec.connectionLimit) && (!Number.isInteger(spec.connectionLimit) || spec.connectionLimit < 1)) {
      throw new Error(`connectionLimit must be a positive whole number, got ${spec.connectionLimit}`);
    }
    this.specs.set(spec.vaultRole, spec);
    const s = this.schemaName;
    const role = sqlString(spec.vaultRole);
    return {
      creation: [`SELECT ${s}.create_user('{{name}}', '{{password}}', '{{expiration}}', ${role});`],
      renew: [`SELECT ${s}.renew_user('{{name}}', '{{expiration}}');`],
      revocation: [`SELECT ${s}.drop_user('{{name}}', ${role});`],
    };
  }

  /**
   * `(VALUES …) AS app(vault_role, base_role, roles, connection_limit, max_ttl)`: one row per Vault role,
   * one line each, so that a review shows which application's row changed.
   */
  private applications(): string {
    const rows = [...this.specs.values()].map((a) => tableRow({ ...a, roles: a.baseRoles.map((r) => r.name) }));
    return `(VALUES\n${rows.join(",\n")}\n    ) AS app(vault_role, base_role, roles, connection_limit, max_ttl)`;
  }

  private preamble(fn: string): string {
    return [
      `  -- before anything else: the caller's search_path must not pick the functions and types used below.`,
      `  PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);`,
      `  PERFORM pg_catalog.set_config('lock_timeout', '${LOCK_TIMEOUT}', true);`,
      `  IF p_name IS NULL OR pg_catalog.left(p_name, ${ISSUED_USER_PREFIX.length}) <> '${ISSUED_USER_PREFIX}' OR pg_catalog.octet_length(p_name) > 63 THEN`,
      `    RAISE EXCEPTION '${this.schemaName}.${fn}: "%" is not a name Vault issues (${ISSUED_USER_PREFIX}..., at most 63 bytes)', p_name`,
      `      USING ERRCODE = 'insufficient_privilege';`,
      `  END IF;`,
    ].join("\n");
  }

  /** Refuses a role that holds any power an issued user never has. */
  private refusePowers(fn: string): string {
    return [
      `  IF u.rolsuper OR u.rolcreaterole OR u.rolcreatedb OR u.rolreplication OR u.rolbypassrls THEN`,
      `    RAISE EXCEPTION '${this.schemaName}.${fn}: "%" is not an issued user', p_name USING ERRCODE = 'insufficient_privilege';`,
      `  END IF;`,
    ].join("\n");
  }

  /** The valid_until argument, checked: finite and no later than now() + max_ttl (+ clock skew). */
  private expiry(fn: string): string {
    return [
      `  expires := p_valid_until::pg_catalog.timestamptz;`,
      `  IF expires IS NULL OR NOT pg_catalog.isfinite(expires)`,
      `     OR expires > pg_catalog.now() + pg_catalog.make_interval(secs => max_ttl + ${CLOCK_SKEW_SECONDS}) THEN`,
      `    RAISE EXCEPTION '${this.schemaName}.${fn}: valid until % is beyond the max TTL (% s)', p_valid_until, max_ttl`,
      `      USING ERRCODE = 'insufficient_privilege';`,
      `  END IF;`,
    ].join("\n");
  }

  /**
   * Ends sessions, in this database, of roles that no longer exist and of issued users left NOLOGIN, and,
   * given `revoked` (an oid expression), every session of that user in any database. pg_stat_activity is
   * read once per transaction unless its snapshot is cleared: without that, a session that logged in while
   * the caller's transaction ran would not be seen.
   */
  private sweep(revoked?: string): string {
    return [
      `  PERFORM pg_catalog.pg_stat_clear_snapshot();`,
      `  PERFORM pg_catalog.pg_terminate_backend(a.pid) FROM pg_catalog.pg_stat_activity a`,
      `   WHERE a.backend_type = 'client backend' AND a.pid <> pg_catalog.pg_backend_pid() AND a.usesysid IS NOT NULL`,
      `     AND (a.datname = pg_catalog.current_database() AND NOT EXISTS (SELECT FROM pg_catalog.pg_roles r WHERE r.oid = a.usesysid)`,
      `          OR EXISTS (SELECT FROM pg_catalog.pg_roles r WHERE r.oid = a.usesysid AND NOT r.rolcanlogin`,
      `                     AND pg_catalog.left(r.rolname, ${ISSUED_USER_PREFIX.length}) = '${ISSUED_USER_PREFIX}')`,
      ...(revoked ? [`          OR a.usesysid = ${revoked}`] : []),
      `         );`,
    ].join("\n");
  }

  private createBody(): string {
    const fn = "create_user";
    return `
DECLARE
  spec record;
  expires pg_catalog.timestamptz;
  max_ttl pg_catalog.int4;
  granted pg_catalog.text;
BEGIN
${this.preamble(fn)}
  SELECT * INTO spec FROM ${this.applications()}
   WHERE app.vault_role = p_vault_role;
  IF NOT FOUND THEN
    RAISE EXCEPTION '${this.schemaName}.${fn}: "%" is not a Vault role of this stack', p_vault_role
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  max_ttl := spec.max_ttl;
${this.expiry(fn)}
  EXECUTE pg_catalog.format(
    'CREATE ROLE %I WITH LOGIN INHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS CONNECTION LIMIT %s PASSWORD %L VALID UNTIL %L',
    p_name, spec.connection_limit, p_password, expires);
  FOREACH granted IN ARRAY spec.roles LOOP
    EXECUTE pg_catalog.format('GRANT %I TO %I', granted, p_name);
  END LOOP;
  -- what the user creates is usable by its base role, so by the application's other users (PostgreSQL
  -- refuses ALTER ROLE ... SET role in a SECURITY DEFINER function: an application that wants its objects
  -- owned by the base role sets role in its connection options). revocation hands them to the base role.
  EXECUTE pg_catalog.format('ALTER DEFAULT PRIVILEGES FOR ROLE %I GRANT ALL ON TABLES TO %I', p_name, spec.base_role);
  EXECUTE pg_catalog.format('ALTER DEFAULT PRIVILEGES FOR ROLE %I GRANT ALL ON SEQUENCES TO %I', p_name, spec.base_role);
  EXECUTE pg_catalog.format('ALTER DEFAULT PRIVILEGES FOR ROLE %I REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC', p_name);
  EXECUTE pg_catalog.format('ALTER DEFAULT PRIVILEGES FOR ROLE %I GRANT EXECUTE ON FUNCTIONS TO %I', p_name, spec.base_role);
${this.sweep()}
END
`;
  }

  private renewBody(): string {
    const fn = "renew_user";
    return `
DECLARE
  u record;
  expires pg_catalog.timestamptz;
  max_ttl pg_catalog.int4;
BEGIN
${this.preamble(fn)}
  SELECT r.oid, r.rolsuper, r.rolcreaterole, r.rolcreatedb, r.rolreplication, r.rolbypassrls, r.rolcanlogin INTO u
    FROM pg_catalog.pg_roles r WHERE r.rolname = p_name;
  IF NOT FOUND OR NOT u.rolcanlogin THEN
    RAISE EXCEPTION '${this.schemaName}.${fn}: "%" does not exist or was revoked', p_name USING ERRCODE = 'undefined_object';
  END IF;
${this.refusePowers(fn)}
  -- the bound of the application whose login role the user holds.
  SELECT pg_catalog.max(app.max_ttl) INTO max_ttl FROM ${this.applications()}
    JOIN pg_catalog.pg_auth_members m ON m.member = u.oid
    JOIN pg_catalog.pg_roles b ON b.oid = m.roleid AND b.rolname = app.base_role;
  IF max_ttl IS NULL THEN
    RAISE EXCEPTION '${this.schemaName}.${fn}: "%" is in no application''s base role', p_name USING ERRCODE = 'insufficient_privilege';
  END IF;
${this.expiry(fn)}
  EXECUTE pg_catalog.format('ALTER ROLE %I VALID UNTIL %L', p_name, expires);
${this.sweep()}
END
`;
  }

  private dropBody(): string {
    const fn = "drop_user";
    return `
DECLARE
  u record;
  m record;
  owner pg_catalog.text;
BEGIN
${this.preamble(fn)}
  SELECT app.base_role INTO owner FROM ${this.applications()}
   WHERE app.vault_role = p_vault_role;
  IF NOT FOUND THEN
    RAISE EXCEPTION '${this.schemaName}.${fn}: "%" is not a Vault role of this stack', p_vault_role
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  SELECT r.oid, r.rolsuper, r.rolcreaterole, r.rolcreatedb, r.rolreplication, r.rolbypassrls INTO u
    FROM pg_catalog.pg_roles r WHERE r.rolname = p_name;
  IF NOT FOUND THEN
    -- already gone (an earlier attempt, or by hand): nothing to revoke.
${this.sweep().replace(/^/gm, "  ")}
    RETURN;
  END IF;
${this.refusePowers(fn)}
  -- only a user of this Vault role, or one an earlier revocation left in no role: not another stack's.
  IF EXISTS (SELECT FROM pg_catalog.pg_auth_members am WHERE am.member = u.oid)
     AND NOT EXISTS (SELECT FROM pg_catalog.pg_auth_members am JOIN pg_catalog.pg_roles b ON b.oid = am.roleid
                      WHERE am.member = u.oid AND b.rolname = owner) THEN
    RAISE EXCEPTION '${this.schemaName}.${fn}: "%" is not a user of Vault role %', p_name, p_vault_role
      USING ERRCODE = 'insufficient_privilege';
  END IF;

  -- what must hold even if the drop below fails: no login, no membership, no session.
  EXECUTE pg_catalog.format('ALTER ROLE %I NOLOGIN', p_name);
  FOR m IN SELECT g.rolname AS role, gr.rolname AS grantor FROM pg_catalog.pg_auth_members am
             JOIN pg_catalog.pg_roles g ON g.oid = am.roleid
             LEFT JOIN pg_catalog.pg_roles gr ON gr.oid = am.grantor
            WHERE am.member = u.oid LOOP
    EXECUTE pg_catalog.format('REVOKE %I FROM %I', m.role, p_name);
    -- on PostgreSQL 16 and later a membership granted by someone else stays until revoked in their name.
    IF m.grantor IS NOT NULL AND EXISTS (SELECT FROM pg_catalog.pg_auth_members am
         JOIN pg_catalog.pg_roles g ON g.oid = am.roleid WHERE am.member = u.oid AND g.rolname = m.role) THEN
      EXECUTE pg_catalog.format('REVOKE %I FROM %I GRANTED BY %I', m.role, p_name, m.grantor);
    END IF;
  END LOOP;
  PERFORM pg_catalog.pg_terminate_backend(a.pid) FROM pg_catalog.pg_stat_activity a
   WHERE a.usesysid = u.oid AND a.pid <> pg_catalog.pg_backend_pid();

  -- the rest may fail (an object in another database, a lock held too long): then the user stays, harmless.
  BEGIN
    EXECUTE pg_catalog.format('REASSIGN OWNED BY %I TO %I', p_name, owner);
    EXECUTE pg_catalog.format('DROP OWNED BY %I', p_name);
    EXECUTE pg_catalog.format('DROP ROLE %I', p_name);
  EXCEPTION WHEN OTHERS THEN
    RAISE WARNING '${this.schemaName}.${fn}: "%" is revoked (NOLOGIN, no membership, no session) but could not be dropped: %', p_name, SQLERRM;
  END;
  -- again, for a session that logged in while this ran, before the NOLOGIN above commits.
${this.sweep("u.oid")}
END
`;
  }
}
