import { Construct } from "constructs";
import { dependable, type TerraformResource } from "cdktf";
import { Database } from "@cdktf/provider-postgresql/lib/database";
import { DefaultPrivileges } from "@cdktf/provider-postgresql/lib/default-privileges";
import { Grant } from "@cdktf/provider-postgresql/lib/grant";
import { Role } from "@cdktf/provider-postgresql/lib/role";
import { Schema } from "@cdktf/provider-postgresql/lib/schema";
import { closedDatabaseProblem, pgIdentifierProblem, type SequencePrivilege, type TablePrivilege } from "./vocabulary";

/** What a base role may do in one schema. */
export interface SchemaAccess {
  /**
   * Create the schema, owned by the base role, which then holds every right on it and on what is created in it.
   * @default false
   */
  readonly owned?: boolean;
  /** GRANT USAGE on the schema (not used when owned). @default true */
  readonly usage?: boolean;
  /** GRANT CREATE on the schema (not used when owned). @default false */
  readonly create?: boolean;
  /** Privileges on the tables that exist in the schema at apply time (not used when owned). @default [] */
  readonly tables?: readonly TablePrivilege[];
  /** Privileges on the sequences that exist in the schema at apply time (not used when owned). @default [] */
  readonly sequences?: readonly SequencePrivilege[];
}

/** Rights on objects that another base role creates later in a schema (ALTER DEFAULT PRIVILEGES). */
export interface DefaultPrivilegeGrant {
  /** The base role whose future objects are covered. */
  readonly owner: string;
  /** The schema they are created in. */
  readonly schema: string;
  /** @default [] */
  readonly tables?: readonly TablePrivilege[];
  /** @default [] */
  readonly sequences?: readonly SequencePrivilege[];
}

/** One application's group role. */
export interface BaseRoleOptions {
  /** The role name; a lower-case PostgreSQL identifier. */
  readonly name: string;
  /**
   * Privileges per schema, keyed by schema name.
   * @default - one schema named after the role, owned by it
   */
  readonly schemas?: Readonly<Record<string, SchemaAccess>>;
  /** @default [] */
  readonly defaultPrivileges?: readonly DefaultPrivilegeGrant[];
}

/** Props of {@link BaseRoles}. */
export interface BaseRolesProps {
  /** The group roles, one per application; at least one. */
  readonly roles: readonly BaseRoleOptions[];
  /** The application database, created by this construct. */
  readonly databaseName: string;
  /**
   * Keep Terraform from ever dropping the application's data: the database and every owned schema get
   * `prevent_destroy`, so a plan that would destroy or replace one fails, naming it, before anything is
   * touched (and a schema is dropped RESTRICT). Set false only where the data may go (a throwaway
   * environment, or an environment being torn down on purpose): then the schemas are dropped CASCADE,
   * with whatever the applications created in them.
   * @default true
   */
  readonly protectData?: boolean;
  /**
   * The cluster's other databases that PUBLIC loses CONNECT (and TEMPORARY) on, so that an issued user,
   * who may log in to any database PUBLIC may, stays in the application database: elsewhere it could
   * own an object that its revocation cannot drop. Roles that need one of them get CONNECT there
   * explicitly (superusers are not affected). A destroy does not give PUBLIC its CONNECT back.
   * @default ["postgres", "template1"]
   */
  readonly closeDatabases?: readonly string[];
}

/** What {@link BaseRoles} does when its props say nothing; the config's defaults are these. */
export const BASE_ROLES_DEFAULTS = {
  protectData: true,
  /** USAGE on a schema the role does not own. */
  schemaUsage: true,
  /** The databases every cluster has besides the application's (template0 accepts no connection). */
  closeDatabases: ["postgres", "template1"] as readonly string[],
} as const;

/** A base role created by {@link BaseRoles}: what dynamic roles and the Vault admin need of it. */
export interface BaseRole {
  /** The role name, as PostgreSQL knows it. */
  readonly name: string;
  /** The postgresql_role resource, for dependencies. */
  readonly resource: Role;
  /** Every resource that gives the role its rights; a credential is only usable once they exist. */
  readonly grants: readonly TerraformResource[];
}

function schemasOf(options: BaseRoleOptions): Readonly<Record<string, SchemaAccess>> {
  return options.schemas ?? { [options.name]: { owned: true } };
}

function assertIdentifier(what: string, value: string): void {
  if (pgIdentifierProblem(value)) {
    throw new Error(`${what} must be a lower-case PostgreSQL identifier of at most 63 bytes, got "${value}"`);
  }
}

/**
 * The application database and one NOLOGIN group role per application, with CONNECT on the database
 * and the schema, table and default privileges given per role.
 *
 * PUBLIC loses its default CONNECT and TEMPORARY on the database, so only the roles named here get in.
 * The database and the schemas hold the applications' data: by default Terraform may not destroy them
 * ({@link BaseRolesProps.protectData}).
 * Dynamic users never own anything for long: they log in with their base role set (see
 * {@link DynamicRole}), and revocation reassigns whatever they own to it.
 *
 * @see https://www.postgresql.org/docs/current/ddl-priv.html
 * @see https://registry.terraform.io/providers/cyrilgdn/postgresql/1.26.0/docs/resources/postgresql_role
 */
export class BaseRoles extends Construct {
  /** The database name. */
  public readonly databaseName: string;
  /** The postgresql_database resource. */
  public readonly database: Database;
  /** Whether the database and the owned schemas are protected from destroy ({@link BaseRolesProps.protectData}). */
  public readonly protectData: boolean;
  /** PUBLIC's revoked CONNECT on each of {@link BaseRolesProps.closeDatabases}. */
  public readonly closedDatabases: readonly Grant[];
  private readonly roles = new Map<string, BaseRole>();
  /** Schemas created here, by name: grants on them by other roles must wait for them. */
  private readonly ownedSchemas = new Map<string, Schema>();

  constructor(scope: Construct, id: string, props: BaseRolesProps) {
    super(scope, id);
    this.databaseName = props.databaseName;
    assertIdentifier("databaseName", this.databaseName);
    if (props.roles.length === 0) throw new Error("roles must name at least one base role, got none");

    this.protectData = props.protectData ?? BASE_ROLES_DEFAULTS.protectData;
    const lifecycle = { preventDestroy: this.protectData };

    this.database = new Database(this, "Database", { name: this.databaseName, lifecycle });
    // an empty privilege list revokes what PUBLIC gets by default (CONNECT, TEMPORARY).
    new Grant(this, "RevokePublic", {
      database: this.database.name,
      role: "public",
      objectType: "database",
      privileges: [],
    });

    const closed = new Construct(this, "ClosedDatabases");
    this.closedDatabases = (props.closeDatabases ?? BASE_ROLES_DEFAULTS.closeDatabases).map((name, i) => {
      if (pgIdentifierProblem(name)) throw new Error(`closeDatabases must hold database names, got "${name}"`);
      const open = closedDatabaseProblem(name, this.databaseName, "databaseName");
      if (open) throw new Error(`closeDatabases[${i}] ${open}`);
      return new Grant(closed, name, { database: name, role: "public", objectType: "database", privileges: [] });
    });

    // roles first, then privileges: a privilege may name another role (default privileges) or its schema.
    const rolesScope = new Construct(this, "Roles");
    // each role's scope and the resources that give it its rights, filled in by the loops below.
    const built = new Map<string, { scope: Construct; grants: TerraformResource[] }>();
    const builtRole = (name: string) => {
      const role = built.get(name);
      if (!role) throw new Error(`base role "${name}" was not built`);
      return role;
    };
    for (const options of props.roles) {
      assertIdentifier("role name", options.name);
      if (this.roles.has(options.name)) throw new Error(`base role "${options.name}" is defined twice`);
      const scope = new Construct(rolesScope, options.name);
      const resource = new Role(scope, "Resource", { name: options.name, login: false });
      const grants: TerraformResource[] = [];
      built.set(options.name, { scope, grants });
      this.roles.set(options.name, { name: options.name, resource, grants });
    }
    for (const options of props.roles) {
      for (const [schemaName, access] of Object.entries(schemasOf(options))) {
        if (!access.owned) continue;
        if (this.ownedSchemas.has(schemaName)) throw new Error(`schema "${schemaName}" is owned by two base roles`);
        assertIdentifier("schema name", schemaName);
        const roleScope = builtRole(options.name).scope;
        const schemaScope = roleScope.node.tryFindChild("Schemas") ?? new Construct(roleScope, "Schemas");
        const schema = new Schema(new Construct(schemaScope, schemaName), "Resource", {
          name: schemaName,
          database: this.database.name,
          owner: this.role(options.name).resource.name,
          // unprotected, a destroy takes the tables the applications created with the schema; protected,
          // it never gets that far (prevent_destroy), and RESTRICT is a second guard.
          dropCascade: !this.protectData,
          lifecycle,
        });
        this.ownedSchemas.set(schemaName, schema);
      }
    }
    for (const options of props.roles) {
      const { scope, grants } = builtRole(options.name);
      this.grantPrivileges(scope, options, grants);
    }
    // the database is dropped before the roles, taking with it what only a role's own drop could not: the
    // default privileges that revoke PUBLIC's EXECUTE (a revoke from PUBLIC is not PostgreSQL's default, so
    // the provider's delete leaves it, and DROP ROLE refuses while it exists) and what users left there.
    this.database.dependsOn = [...this.roles.values()].map((r) => dependable(r.resource));
  }

  private grantPrivileges(scope: Construct, options: BaseRoleOptions, grants: TerraformResource[]): void {
    const database = this.database.name;
    const resource = this.role(options.name).resource;
    grants.push(
      new Grant(scope, "Connect", { database, role: resource.name, objectType: "database", privileges: ["CONNECT"] }),
      // a function the role creates is not executable by everyone (PostgreSQL's default), only by whom it grants.
      new DefaultPrivileges(scope, "RevokePublicExecute", {
        database,
        role: "public",
        owner: resource.name,
        objectType: "function",
        privileges: [],
      }),
    );

    for (const [schemaName, access] of Object.entries(schemasOf(options))) {
      assertIdentifier("schema name", schemaName);
      const owned = this.ownedSchemas.get(schemaName);
      if (access.owned && owned) {
        grants.push(owned);
        continue;
      }
      const schemasScope = scope.node.tryFindChild("Schemas") ?? new Construct(scope, "Schemas");
      const s = new Construct(schemasScope, schemaName);
      const schemaPrivileges = [...((access.usage ?? BASE_ROLES_DEFAULTS.schemaUsage) ? ["USAGE"] : []), ...(access.create ? ["CREATE"] : [])];
      if (schemaPrivileges.length === 0 && !access.tables?.length && !access.sequences?.length) {
        // an empty grant would revoke everything instead: refuse rather than surprise.
        throw new Error(`schema "${schemaName}" of role "${options.name}" grants nothing; remove it to give no access`);
      }
      // a schema created by another base role must exist before it can be granted.
      const on = { database, role: resource.name, schema: owned ? owned.name : schemaName };
      grants.push(new Grant(s, "Schema", { ...on, objectType: "schema", privileges: schemaPrivileges }));
      if (access.tables?.length) {
        grants.push(new Grant(s, "Tables", { ...on, objectType: "table", privileges: [...access.tables] }));
      }
      if (access.sequences?.length) {
        grants.push(new Grant(s, "Sequences", { ...on, objectType: "sequence", privileges: [...access.sequences] }));
      }
    }

    for (const dp of options.defaultPrivileges ?? []) {
      const owner = this.role(dp.owner);
      assertIdentifier("default privileges schema", dp.schema);
      const owned = this.ownedSchemas.get(dp.schema);
      // nested scopes, not concatenated IDs: owner then schema.
      const defaultsScope = scope.node.tryFindChild("DefaultPrivileges") ?? new Construct(scope, "DefaultPrivileges");
      const ownerScope = defaultsScope.node.tryFindChild(dp.owner) ?? new Construct(defaultsScope, dp.owner);
      const s = new Construct(ownerScope, dp.schema);
      const on = {
        database,
        role: resource.name,
        owner: owner.resource.name,
        schema: owned ? owned.name : dp.schema,
      };
      if (dp.tables?.length) {
        grants.push(new DefaultPrivileges(s, "Tables", { ...on, objectType: "table", privileges: [...dp.tables] }));
      }
      if (dp.sequences?.length) {
        grants.push(new DefaultPrivileges(s, "Sequences", { ...on, objectType: "sequence", privileges: [...dp.sequences] }));
      }
    }
  }

  /** The base role of that name; throws, listing the known ones, when there is none. */
  public role(name: string): BaseRole {
    const role = this.roles.get(name);
    if (!role) {
      throw new Error(`unknown base role "${name}"; known: ${[...this.roles.keys()].join(", ") || "none"}`);
    }
    return role;
  }

  /** Every base role, in the order added (a copy). */
  public get allRoles(): BaseRole[] {
    return [...this.roles.values()];
  }
}
