/**
 * The "attacks" suite: every security promise of docs/security.md, attacked on the `local` stack deployed
 * by the real providers onto a real PostgreSQL (15 and 17) and OpenBao — as `vault_admin`, as an issued
 * user, and as another application — with the outcome checked in PostgreSQL's catalog, not only in the
 * error text.
 *
 * The cluster is small on purpose (max_connections 30; on 17, reserved_connections 4), chatwoot's users get
 * 5 sessions each, and a fifth application's base role is the SQL keyword `order`. On 17 vault_admin is
 * a member of pg_use_reserved_connections; on 15 there is no such role, and the suite shows what that
 * costs.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Client } from "pg";
import { LocalDeployment, type Creds } from "../../harness/deployment";
import { waitFor } from "../../harness/processes";
import type { PostgresServer } from "../../harness/toolchain";
import type { TfJson } from "../../harness/stack";
import { e2eToolchain } from "./fixture/toolchain";

const toolchain = await e2eToolchain(import.meta.url);

const CHATWOOT = { vaultRole: "chatwoot-db", baseRole: "chatwoot", limit: 5 };
const API = { vaultRole: "keybuzz-api-db", baseRole: "keybuzz_api" };
const ORDER = { name: "orders", vaultRole: "order-db", baseRole: "order" };
const MAX_CONNECTIONS = 30;
const RESERVED = 4;

const servers: PostgresServer[] = toolchain ? [...toolchain.postgres] : [{ major: 15, binDir: "" }];

describe.skipIf(!toolchain).each(servers)("attacks on the local stack, PostgreSQL $major and OpenBao", (server) => {
  const reserved = server.major >= 16;
  const step = (msg: string) => process.stderr.write(`[e2e attacks pg${server.major}] ${msg}\n`);
  let env: LocalDeployment;
  const clients: Client[] = [];

  /** A connected client to `database` (keybuzz by default); closed in afterAll. `role` goes in its options. */
  async function connect(user: string, password: string, opts: { database?: string; role?: string } = {}): Promise<Client> {
    const c = env.pg.client(opts.database ?? env.databaseName, user, password, opts.role);
    c.on("error", () => undefined); // a terminated session must not crash the run
    clients.push(c);
    await c.connect();
    return c;
  }
  const sql = <T extends Record<string, unknown>>(q: string, params: unknown[] = [], database = env.databaseName) =>
    env.pg.query<T>(q, params, database);
  const issue = (role: string): Promise<Creds> => env.issue(role);
  const roleExists = async (name: string) => (await env.pg.query("SELECT 1 FROM pg_roles WHERE rolname = $1", [name])).length === 1;
  /** The memberships of `name`, as `role` names. */
  const memberOf = async (name: string) =>
    (
      await env.pg.query<{ r: string }>(
        "SELECT r.rolname AS r FROM pg_auth_members a JOIN pg_roles r ON r.oid = a.roleid JOIN pg_roles m ON m.oid = a.member WHERE m.rolname = $1 ORDER BY 1",
        [name],
      )
    ).map((x) => x.r);
  /** Runs each statement; returns those that went through, and checks that the others failed as expected. */
  async function attempt(client: Client, statements: readonly [string, RegExp][]): Promise<string[]> {
    const through: string[] = [];
    for (const [statement, error] of statements) {
      try {
        await client.query(statement);
        through.push(statement);
      } catch (err) {
        expect((err as Error).message, statement).toMatch(error);
      }
    }
    return through;
  }
  const sessionsOf = async (name: string) =>
    Number((await env.pg.query<{ n: string }>("SELECT count(*) AS n FROM pg_stat_activity WHERE usename = $1", [name]))[0].n);

  beforeAll(async () => {
    env = await LocalDeployment.start({
      server,
      vaultBinary: toolchain!.bao,
      tools: { engine: toolchain!.tofu, cliConfig: toolchain!.cliConfig },
      postgres: { settings: { max_connections: MAX_CONNECTIONS, ...(reserved ? { reserved_connections: RESERVED } : {}) } },
      patchConfig: (config: TfJson) => {
        config.vaultAdmin = { ...config.vaultAdmin, reservedConnections: reserved };
        const chatwoot = config.applications.find((a: { baseRole: string }) => a.baseRole === CHATWOOT.baseRole);
        chatwoot.connectionLimit = CHATWOOT.limit;
        config.applications.push({ name: ORDER.name, baseRole: ORDER.baseRole, vaultRole: ORDER.vaultRole });
      },
      log: `[e2e attacks pg${server.major}]`,
    });
    step("deploying keybuzz-local (OpenTofu, both providers)");
    await env.deploy();
    // the application's data, as its migrations would leave it.
    await sql(`CREATE TABLE chatwoot.conversations (id int); INSERT INTO chatwoot.conversations VALUES (1);
               ALTER TABLE chatwoot.conversations OWNER TO chatwoot;
               CREATE TABLE keybuzz_api.accounts (id int); ALTER TABLE keybuzz_api.accounts OWNER TO keybuzz_api;`);
  });

  afterAll(async () => {
    step("cleaning up: closing sessions, stopping servers, removing temp folders");
    await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
    await env?.stop();
  });

  it("vault_admin holds no role attribute and no membership but pg_use_reserved_connections (16+), only EXECUTE on three functions", async () => {
    const [admin] = await env.pg.query(
      "SELECT rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls FROM pg_roles WHERE rolname = 'vault_admin'",
    );
    expect(admin).toEqual({ rolsuper: false, rolcreaterole: false, rolcreatedb: false, rolreplication: false, rolbypassrls: false });
    expect(await memberOf("vault_admin")).toEqual(reserved ? ["pg_use_reserved_connections"] : []);
    const executable = await sql<{ f: string }>(
      `SELECT p.oid::regprocedure::text AS f FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
       WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND has_function_privilege('vault_admin', p.oid, 'EXECUTE')
         AND has_schema_privilege('vault_admin', n.oid, 'USAGE') ORDER BY 1`,
    );
    expect(executable.map((r) => r.f)).toEqual([
      "keybuzz_vault.create_user(text,text,text,text)",
      "keybuzz_vault.drop_user(text,text)",
      "keybuzz_vault.renew_user(text,text)",
    ]);
    const publicExecute = await sql(
      "SELECT 1 FROM pg_proc p WHERE p.pronamespace = 'keybuzz_vault'::regnamespace AND has_function_privilege('public', p.oid, 'EXECUTE')",
    );
    expect(publicExecute).toEqual([]);
  });

  it("as vault_admin: no predefined role, no new role, no base role turned login, no program, no application data", async () => {
    const admin = await connect("vault_admin", env.adminPassword);
    const refused: [string, RegExp][] = [
      ["GRANT pg_execute_server_program TO vault_admin", /permission denied|must have admin option/],
      ["GRANT pg_read_all_data TO vault_admin", /permission denied|must have admin option/],
      ["GRANT chatwoot TO vault_admin", /permission denied|must have admin option/],
      ["CREATE ROLE attacker LOGIN CREATEDB PASSWORD 'x'", /permission denied/],
      ["ALTER ROLE chatwoot LOGIN PASSWORD 'x'", /permission denied/],
      ["ALTER ROLE postgres PASSWORD 'x'", /permission denied|must be superuser/],
      ["COPY (SELECT 1) TO PROGRAM 'id'", /must be superuser|permission denied to COPY/],
      ["SELECT * FROM chatwoot.conversations", /permission denied/],
      ["SET ROLE chatwoot", /permission denied/],
      ["CREATE TABLE keybuzz_vault.t (id int)", /permission denied/],
      [
        "CREATE OR REPLACE FUNCTION keybuzz_vault.create_user(text, text, text, text) RETURNS void LANGUAGE sql AS ''",
        /must be owner|permission denied/,
      ],
    ];
    expect(await attempt(admin, refused), "what vault_admin could do").toEqual([]);

    expect(await memberOf("vault_admin")).toEqual(reserved ? ["pg_use_reserved_connections"] : []);
    expect(await roleExists("attacker")).toBe(false);
    const [chatwoot] = await env.pg.query("SELECT rolcanlogin, rolpassword IS NULL AS nopassword FROM pg_authid WHERE rolname = 'chatwoot'");
    expect(chatwoot).toEqual({ rolcanlogin: false, nopassword: true });
    const [admins] = await env.pg.query("SELECT rolsuper FROM pg_roles WHERE rolname = 'vault_admin'");
    expect(admins).toEqual({ rolsuper: false });
  });

  it("as vault_admin: the functions refuse what Vault never asks, and quote what they are given", async () => {
    const admin = await connect("vault_admin", env.adminPassword);
    const soon = "now() + interval '1 hour'";
    const refused: [string, RegExp][] = [
      [`SELECT keybuzz_vault.create_user('attacker', 'pw', (${soon})::text, 'chatwoot-db')`, /not a name Vault issues/],
      [`SELECT keybuzz_vault.create_user('v-forever', 'pw', 'infinity', 'chatwoot-db')`, /beyond the max TTL/],
      [`SELECT keybuzz_vault.create_user('v-long', 'pw', (now() + interval '30 days')::text, 'chatwoot-db')`, /beyond the max TTL/],
      [`SELECT keybuzz_vault.create_user('v-reader', 'pw', (${soon})::text, 'pg_read_all_data')`, /not a Vault role of this stack/],
      [`SELECT keybuzz_vault.drop_user('chatwoot', 'chatwoot-db')`, /not a name Vault issues/],
      [`SELECT keybuzz_vault.drop_user('postgres', 'chatwoot-db')`, /not a name Vault issues/],
      [`SELECT keybuzz_vault.renew_user('vault_admin', 'infinity')`, /not a name Vault issues/],
    ];
    expect(await attempt(admin, refused), "what the functions let through").toEqual([]);
    expect(await env.pg.query("SELECT rolname FROM pg_roles WHERE rolname IN ('attacker', 'v-forever', 'v-long', 'v-reader')")).toEqual([]);

    step("a user name made to break out of its quotes is created under that exact name, and nothing else happens");
    const evil = `v-x"; ALTER ROLE vault_admin SUPERUSER; --`;
    await admin.query(`SELECT keybuzz_vault.create_user($1, 'pw', (${soon})::text, 'chatwoot-db')`, [evil]);
    expect(await roleExists(evil)).toBe(true);
    expect(await memberOf(evil)).toEqual(["chatwoot"]);
    const [after] = await env.pg.query("SELECT rolsuper FROM pg_roles WHERE rolname = 'vault_admin'");
    expect(after).toEqual({ rolsuper: false });
    await expect(admin.query("SELECT keybuzz_vault.renew_user($1, (now() + interval '30 days')::text)", [evil])).rejects.toThrow(
      /beyond the max TTL/,
    );
    step("a user of one Vault role cannot be dropped in the name of another");
    await expect(admin.query("SELECT keybuzz_vault.drop_user($1, 'keybuzz-api-db')", [evil])).rejects.toThrow(/is not a user of Vault role/);
    expect(await memberOf(evil)).toEqual(["chatwoot"]);
    await admin.query("SELECT keybuzz_vault.drop_user($1, 'chatwoot-db')", [evil]);
    expect(await roleExists(evil)).toBe(false);
  });

  it("as an issued user: no other database", async () => {
    const creds = await issue(CHATWOOT.vaultRole);
    for (const database of ["postgres", "template1"]) {
      const login = await env.pg.tryLogin(database, creds.username, creds.password);
      expect(login.ok, database).toBe(false);
      expect(login.ok ? "" : login.message).toMatch(/permission denied for database|does not have CONNECT privilege/);
      const [acl] = await env.pg.query<{ open: boolean }>(
        "SELECT has_database_privilege('public', datname, 'CONNECT') AS open FROM pg_database WHERE datname = $1",
        [database],
      );
      expect(acl, database).toEqual({ open: false });
    }
    await env.revoke(creds.leaseId);
  });

  it("as an issued user: what it owns cannot make its revocation fail; what cannot be dropped is left NOLOGIN, with no membership", async () => {
    const creds = await issue(CHATWOOT.vaultRole);
    const c = await connect(creds.username, creds.password);
    step("the user makes objects of its own: a table, a large object, a function");
    await c.query("SET ROLE NONE");
    await c.query("CREATE TABLE chatwoot.mine (id int)");
    const { rows } = await c.query<{ lo: number }>("SELECT lo_create(0) AS lo");
    await c.query("CREATE FUNCTION chatwoot.mine_f() RETURNS int LANGUAGE sql AS 'SELECT 1'");
    step("and owns one in another database (as it could before postgres was closed): made by the superuser here");
    await sql(`CREATE TABLE blocker (id int); ALTER TABLE blocker OWNER TO "${creds.username}"`, [], "postgres");

    await env.revoke(creds.leaseId);
    const lookup = await env.v("PUT", "sys/leases/lookup", { lease_id: creds.leaseId });
    expect(lookup.status, "the lease is gone").toBe(400);
    expect(await env.irrevocableLeases()).toBe(0);

    step("the user is left, harmless: NOLOGIN, no membership, no session, cannot log in");
    const [left] = await env.pg.query("SELECT rolcanlogin FROM pg_roles WHERE rolname = $1", [creds.username]);
    expect(left).toEqual({ rolcanlogin: false });
    expect(await memberOf(creds.username)).toEqual([]);
    expect(await sessionsOf(creds.username)).toBe(0);
    await expect(c.query("SELECT 1")).rejects.toThrow();
    const login = await env.pg.tryLogin(env.databaseName, creds.username, creds.password);
    expect(login.ok).toBe(false);
    step("what it owned in keybuzz went to its base role anyway (the drop's sub-transaction rolled back only the drop)");
    const owners = await sql<{ o: string }>(
      `SELECT tableowner AS o FROM pg_tables WHERE tablename = 'mine'
       UNION ALL SELECT pg_get_userbyid(lomowner) FROM pg_largeobject_metadata WHERE oid = $1
       UNION ALL SELECT pg_get_userbyid(proowner) FROM pg_proc WHERE proname = 'mine_f'`,
      [rows[0].lo],
    );
    // the failed drop rolled back REASSIGN too: the objects stay the user's until the drop succeeds.
    expect(owners.map((o) => o.o)).toEqual([creds.username, creds.username, creds.username]);

    step("once the blocker is gone, the next revocation of that name drops it");
    await sql("DROP TABLE blocker", [], "postgres");
    const admin = await connect("vault_admin", env.adminPassword);
    await admin.query("SELECT keybuzz_vault.drop_user($1, 'chatwoot-db')", [creds.username]);
    expect(await roleExists(creds.username)).toBe(false);
    const reassigned = await sql<{ o: string }>(
      `SELECT tableowner AS o FROM pg_tables WHERE tablename = 'mine'
       UNION ALL SELECT pg_get_userbyid(lomowner) FROM pg_largeobject_metadata WHERE oid = $1
       UNION ALL SELECT pg_get_userbyid(proowner) FROM pg_proc WHERE proname = 'mine_f'`,
      [rows[0].lo],
    );
    expect(reassigned.map((o) => o.o)).toEqual(["chatwoot", "chatwoot", "chatwoot"]);
    expect(await env.strayObjects()).toEqual([]);
  });

  it("a session that logs in while its user is being revoked does not survive the revocation", async () => {
    const creds = await issue(CHATWOOT.vaultRole);
    const c = await connect(creds.username, creds.password);
    await c.query("SET ROLE NONE");
    await c.query("CREATE TABLE chatwoot.held (id int)");
    step("holding a lock on the user's table: the revocation stops at its drop, after NOLOGIN and the first kill");
    const holder = env.pg.client(env.databaseName);
    clients.push(holder);
    await holder.connect();
    await holder.query("BEGIN");
    await holder.query("LOCK TABLE chatwoot.held IN ACCESS SHARE MODE");
    const revoking = env.revoke(creds.leaseId);
    let waiting = false;
    for (let i = 0; i < 100 && !waiting; i++) {
      const rows = await env.pg.query("SELECT 1 FROM pg_stat_activity WHERE usename = 'vault_admin' AND wait_event_type = 'Lock'");
      waiting = rows.length > 0;
      if (!waiting) await new Promise((r) => setTimeout(r, 30));
    }
    expect(waiting, "the revocation waits for the lock").toBe(true);
    step("logging in now: NOLOGIN has not committed yet");
    const late = await connect(creds.username, creds.password);
    expect((await late.query("SELECT count(*)::int AS n FROM chatwoot.conversations")).rows).toEqual([{ n: 1 }]);
    await holder.query("COMMIT");
    await revoking;

    expect(await roleExists(creds.username)).toBe(false);
    await expect(late.query("SELECT count(*) FROM chatwoot.conversations")).rejects.toThrow();
    // a terminated backend leaves pg_stat_activity when it has exited: give it a moment.
    const orphans = () =>
      env.pg.query(
        `SELECT pid, usesysid, backend_start, state, query FROM pg_stat_activity
         WHERE backend_type = 'client backend' AND usesysid IS NOT NULL AND usesysid NOT IN (SELECT oid FROM pg_roles)`,
      );
    for (let i = 0; i < 20 && (await orphans()).length > 0; i++) await new Promise((r) => setTimeout(r, 100));
    expect(await orphans()).toEqual([]);
  });

  it(`as an issued user: at most ${CHATWOOT.limit} sessions, and Vault still revokes it`, async () => {
    const creds = await issue(CHATWOOT.vaultRole);
    const [limit] = await env.pg.query("SELECT rolconnlimit FROM pg_roles WHERE rolname = $1", [creds.username]);
    expect(limit).toEqual({ rolconnlimit: CHATWOOT.limit });
    for (let i = 0; i < CHATWOOT.limit; i++) await connect(creds.username, creds.password);
    await expect(connect(creds.username, creds.password)).rejects.toThrow(/too many connections for role/);
    expect(await sessionsOf(creds.username)).toBe(CHATWOOT.limit);
    expect(await env.pg.tryLogin(env.databaseName, "vault_admin", env.adminPassword)).toEqual({ ok: true });
    await env.revoke(creds.leaseId);
    expect(await roleExists(creds.username)).toBe(false);
    expect(await sessionsOf(creds.username)).toBe(0);
  });

  it(
    reserved
      ? "issued users filling every slot: vault_admin still logs in, Vault still issues and revokes (reserved connections)"
      : "issued users filling every slot: vault_admin cannot log in (PostgreSQL 15 has no reserved connections for it)",
    async () => {
      const users: Creds[] = [];
      let full = false;
      while (!full && users.length < 10) {
        const creds = await issue(CHATWOOT.vaultRole);
        users.push(creds);
        for (let i = 0; i < CHATWOOT.limit && !full; i++) {
          await connect(creds.username, creds.password).catch((err: Error) => {
            expect(err.message).toMatch(/remaining connection slots are reserved|too many clients/);
            full = true;
          });
        }
      }
      expect(full, "the issued users took every normal slot").toBe(true);
      step(`${users.length} chatwoot users hold every normal slot`);
      const login = await env.pg.tryLogin(env.databaseName, "vault_admin", env.adminPassword);
      if (reserved) {
        expect(login).toEqual({ ok: true });
        // a new pool: Vault must open a connection now, not reuse one opened before the slots ran out.
        expect((await env.v("POST", "database/reset/keybuzz-postgres", {})).status).toBe(204);
        const more = await issue(API.vaultRole);
        expect(await roleExists(more.username)).toBe(true);
        users.push(more);
      } else {
        expect(login.ok).toBe(false);
        expect(login.ok ? "" : login.message).toMatch(/remaining connection slots are reserved/);
      }
      step("revoking them all ends every session");
      await Promise.all(users.map((u) => env.revoke(u.leaseId)));
      for (const u of users) expect(await roleExists(u.username), u.username).toBe(false);
      expect(await env.dynamicRoles()).toEqual([]);
    },
  );

  it("as another application: no other base role, no other application's data, no credential function", async () => {
    const creds = await issue(API.vaultRole);
    const c = await connect(creds.username, creds.password, { role: API.baseRole });
    await expect(c.query("SELECT * FROM chatwoot.conversations")).rejects.toThrow(/permission denied/);
    await expect(c.query("SET ROLE chatwoot")).rejects.toThrow(/permission denied/);
    await expect(c.query("GRANT chatwoot TO CURRENT_USER")).rejects.toThrow(/permission denied|must have admin option/);
    await expect(c.query("SELECT keybuzz_vault.drop_user('v-x', 'chatwoot-db')")).rejects.toThrow(/permission denied/);
    expect(await memberOf(creds.username)).toEqual([API.baseRole]);
    await env.revoke(creds.leaseId);
  });

  it("functions an application creates are not executable by PUBLIC", async () => {
    const creds = await issue(CHATWOOT.vaultRole);
    const c = await connect(creds.username, creds.password, { role: CHATWOOT.baseRole });
    await c.query("CREATE FUNCTION chatwoot.secret() RETURNS int LANGUAGE sql AS 'SELECT 42'");
    await c.query("SET ROLE NONE");
    await c.query("CREATE FUNCTION chatwoot.own_secret() RETURNS int LANGUAGE sql AS 'SELECT 42'");
    const acl = await sql<{ f: string; pub: boolean; base: boolean }>(
      `SELECT proname AS f, has_function_privilege('public', oid, 'EXECUTE') AS pub, has_function_privilege('chatwoot', oid, 'EXECUTE') AS base
       FROM pg_proc WHERE proname IN ('secret', 'own_secret') ORDER BY 1`,
    );
    expect(acl).toEqual([
      { f: "own_secret", pub: false, base: true },
      { f: "secret", pub: false, base: true },
    ]);
    await env.revoke(creds.leaseId);
  });

  it("a token renews and looks up itself, renews its own leases, revokes itself and what it read, and carries its application's policy only", async () => {
    const roleId = await env.v("GET", "auth/approle/role/chatwoot/role-id");
    const secretId = await env.v("POST", "auth/approle/role/chatwoot/secret-id", {});
    const login = await env.v("POST", "auth/approle/login", { role_id: roleId.body.data.role_id, secret_id: secretId.body.data.secret_id });
    expect(login.status, JSON.stringify(login.body)).toBe(200);
    const token = login.body.auth.client_token as string;
    const renew = await env.v("PUT", "auth/token/renew-self", {}, token);
    expect(renew.status, JSON.stringify(renew.body)).toBe(200);
    const self = await env.v("GET", "auth/token/lookup-self", undefined, token);
    expect(self.status, JSON.stringify(self.body)).toBe(200);
    expect(self.body.data.policies).toEqual(["chatwoot-db"]);
    expect((await env.v("GET", "sys/policies/acl", undefined, token)).status).toBe(403);
    expect((await env.v("GET", `database/creds/${API.vaultRole}`, undefined, token)).status).toBe(403);
    // its own lease renews in the body form too, as Vault Agent renews; another's lease cannot be revoked in it.
    const own = await env.issue("chatwoot-db", { token });
    const renewBody = await env.v("PUT", "sys/leases/renew", { lease_id: own.leaseId }, token);
    expect(renewBody.status, JSON.stringify(renewBody.body)).toBe(200);
    const other = await env.issue(API.vaultRole);
    expect((await env.v("PUT", "sys/leases/revoke", { lease_id: other.leaseId }, token)).status).toBe(403);
    expect(await roleExists(other.username)).toBe(true);
    // revoke-self ends the token and every credential it read: the agent's service does this at stop.
    const revokeSelf = await env.v("PUT", "auth/token/revoke-self", {}, token);
    expect(revokeSelf.status, JSON.stringify(revokeSelf.body)).toBe(204);
    expect((await env.v("GET", "auth/token/lookup-self", undefined, token)).status).toBe(403);
    await waitFor(`${own.username} dropped with the token`, async () => !(await roleExists(own.username)), 15_000);
    await env.revoke(other.leaseId);
  });

  it("a base role named after an SQL keyword (order) issues, logs in and revokes", async () => {
    const creds = await issue(ORDER.vaultRole);
    expect(await memberOf(creds.username)).toEqual([ORDER.baseRole]);
    const c = await connect(creds.username, creds.password, { role: ORDER.baseRole });
    expect((await c.query("SELECT current_user AS u")).rows).toEqual([{ u: "order" }]);
    await c.query('CREATE TABLE "order".items (id int)');
    await env.revoke(creds.leaseId);
    expect(await roleExists(creds.username)).toBe(false);
    const [owner] = await sql("SELECT tableowner FROM pg_tables WHERE schemaname = 'order' AND tablename = 'items'");
    expect(owner).toEqual({ tableowner: "order" });
  });
});
