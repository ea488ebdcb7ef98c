/**
 * The "wiring" suite: the synthesized `local` stack against a real PostgreSQL cluster and a real Vault
 * dev server (HashiCorp Vault v1.21.0, standing in for OpenBao), everything on 127.0.0.1. It runs once per
 * PostgreSQL server the global setup provides: the machine's PostgreSQL 15, then PostgreSQL 17 from the
 * Debian trixie root of `tools/build.sh postgres-17` (run with chroot), each with its own servers.
 *
 * The PostgreSQL half of the stack is run as the SQL its postgresql_* resources declare (the
 * cyrilgdn/postgresql provider cannot be obtained here); the Vault half is applied for real with
 * OpenTofu and the hashicorp/vault provider 5.9.0. Then credentials are issued, used, renewed, revoked
 * and rotated through the Vault HTTP API, and the result is checked in PostgreSQL.
 *
 * The steps depend on one another and run in order; afterAll stops every server and removes every temp
 * folder, also when a step fails.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { Client } from "pg";
import { PostgresCluster } from "./fixture/postgres";
import type { PostgresServer } from "./fixture/toolchain";
import { VaultServer, type VaultResponse } from "./fixture/vault";
import { postgresSql, synthLocal, type PostgresSql, type TfJson } from "./fixture/stack";
import { runPostgresSql, runTofu as runTofuIn, tofuEnv as fixtureTofuEnv, writeVaultHalf } from "./fixture/deploy";

const toolchain = inject("toolchain");
const missing = inject("missing");

/** Progress lines, prefixed with the PostgreSQL major version the run is against: `[e2e wiring pg17] ...`. */
const stepper = (major: number) => (msg: string) => process.stderr.write(`[e2e wiring pg${major}] ${msg}\n`);
// one run per PostgreSQL server; a placeholder keeps the (skipped) suite listed when there is no toolchain.
const servers: readonly PostgresServer[] = toolchain?.postgres ?? [{ major: 15, binDir: "" }];

interface App {
  name: string;
  baseRole: string;
  vaultRole: string;
  schema: string;
}
// the local config's applications (config/local.json); checked against the synthesized output below.
const APPS: App[] = [
  { name: "keybuzz-api", baseRole: "keybuzz_api", vaultRole: "keybuzz-api-db", schema: "keybuzz_api" },
  { name: "chatwoot", baseRole: "chatwoot", vaultRole: "chatwoot-db", schema: "chatwoot" },
  { name: "n8n", baseRole: "n8n", vaultRole: "n8n-db", schema: "n8n" },
  { name: "workers", baseRole: "keybuzz_workers", vaultRole: "workers-db", schema: "keybuzz_workers" },
];
const API = APPS[0];
const CHATWOOT = APPS[1];
const WORKERS = APPS[3];

interface Creds {
  username: string;
  password: string;
  leaseId: string;
}

if (!toolchain) {
  process.stderr.write(`[e2e wiring] skipped: missing ${missing}\n`);
}

describe.skipIf(!toolchain).each(servers)("wiring: the local stack against real PostgreSQL $major and Vault servers", (server) => {
  const step = stepper(server.major);
  let pg: PostgresCluster | undefined;
  let vault: VaultServer | undefined;
  let dir = "";
  let tfDir = "";
  let statePath = "";
  let synthesized: TfJson;
  let sql: PostgresSql;
  const adminPassword = randomBytes(18).toString("base64url");
  const clients: Client[] = [];

  const tofuEnv = (): NodeJS.ProcessEnv =>
    fixtureTofuEnv({ home: dir, cliConfig: toolchain!.cliConfig, vaultToken: vault!.rootToken, adminPassword });
  const runTofu = (args: string[]) => runTofuIn(toolchain!.tofu, tfDir, args, tofuEnv());

  const v = (method: string, path: string, body?: unknown, token?: string): Promise<VaultResponse> =>
    vault!.request(method, path, body, token);

  /** Reads database/creds/<role> (root token unless given) and expects success. */
  async function issue(role: string, token?: string): Promise<Creds> {
    const res = await v("GET", `database/creds/${role}`, undefined, token);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return { username: res.body.data.username, password: res.body.data.password, leaseId: res.body.lease_id };
  }

  /** A connected client to the application database as `user`; closed in afterAll. */
  async function connect(user: string, password: string): Promise<Client> {
    const c = pg!.client(sql.databaseName, user, password);
    c.on("error", () => undefined); // a terminated session must not crash the run
    clients.push(c);
    await c.connect();
    return c;
  }
  const asSuperuser = <T extends Record<string, unknown>>(q: string, params: unknown[] = []) =>
    pg!.query<T>(q, params, sql.databaseName);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "keybuzz-e2e-"));
    tfDir = join(dir, "tf");
    statePath = join(dir, "terraform.tfstate");
    step(`starting PostgreSQL ${server.major} (${server.root ? `chroot ${server.root}, ` : ""}${server.binDir}) and Vault on 127.0.0.1`);
    [pg, vault] = await Promise.all([
      PostgresCluster.start(server.binDir, { root: server.root }),
      VaultServer.start(toolchain!.vault),
    ]);
    step(`PostgreSQL on 127.0.0.1:${pg.port} (${pg.serverVersion}), Vault on ${vault.address}`);
  });

  afterAll(async () => {
    step("cleaning up: closing sessions, stopping servers, removing temp folders");
    await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
    const results = await Promise.allSettled([vault?.stop(), pg?.stop()]);
    if (dir) rmSync(dir, { recursive: true, force: true });
    for (const r of results) if (r.status === "rejected") throw r.reason;
  });

  it(`the server is PostgreSQL ${server.major}`, async () => {
    expect(pg!.version).toBe(server.major);
    expect(pg!.serverVersion).toMatch(new RegExp(`^PostgreSQL ${server.major}\\.\\d+`));
    const [{ server_version_num: num }] = await pg!.query<{ server_version_num: string }>("SHOW server_version_num");
    expect(Math.floor(Number(num) / 10_000)).toBe(server.major);
  });

  it("a. synthesizes the local stack with the project's main.ts", async () => {
    step("a. synthesizing keybuzz-local (node --import tsx main.ts)");
    synthesized = await synthLocal(join(dir, "synth"), vault!.address, pg!.port);
    expect(synthesized.provider.vault[0].address).toBe(vault!.address);
    const conn = Object.values(synthesized.resource.vault_database_secret_backend_connection)[0] as TfJson;
    expect(conn.postgresql.connection_url).toContain(`@127.0.0.1:${pg!.port}/keybuzz`);
    const apps = synthesized.output.applications.value;
    for (const app of APPS) {
      expect(apps[app.name]).toMatchObject({ vault_role: app.vaultRole, base_role: app.baseRole });
    }
  });

  it("b. PostgreSQL half: the SQL the postgresql_* resources declare (least-privilege vault_admin)", async () => {
    // This half stands in for the cyrilgdn/postgresql provider, which cannot be obtained here (the Go
    // module proxy does not serve it): the same objects, created with plain SQL by the superuser.
    step("b. creating database, base roles, schemas, grants and vault_admin in SQL");
    sql = postgresSql(synthesized, adminPassword);
    expect(sql.databaseName).toBe("keybuzz");
    expect(sql.adminUsername).toBe("vault_admin");
    expect(sql.cluster).toContain("REVOKE ALL ON DATABASE \"keybuzz\" FROM PUBLIC");
    for (const app of APPS) {
      expect(sql.cluster).toContain(`CREATE ROLE "${app.baseRole}" NOLOGIN`);
      expect(sql.cluster).toContain(`GRANT CONNECT ON DATABASE "keybuzz" TO "${app.baseRole}"`);
      expect(sql.cluster).toContain(`GRANT "${app.baseRole}" TO "vault_admin" WITH ADMIN OPTION`);
      expect(sql.database).toContain(`CREATE SCHEMA "${app.schema}" AUTHORIZATION "${app.baseRole}"`);
    }
    expect(sql.cluster).toContain(`CREATE ROLE "vault_admin" LOGIN CREATEROLE PASSWORD '${adminPassword}'`);
    expect(sql.cluster).toContain('GRANT CONNECT ON DATABASE "keybuzz" TO "vault_admin"');
    expect(sql.database).toContain('GRANT USAGE ON SCHEMA "keybuzz_api" TO "keybuzz_workers"');
    expect(sql.database).toContain('GRANT SELECT ON ALL TABLES IN SCHEMA "keybuzz_api" TO "keybuzz_workers"');
    expect(sql.database).toContain(
      'ALTER DEFAULT PRIVILEGES FOR ROLE "keybuzz_api" IN SCHEMA "keybuzz_api" GRANT SELECT ON TABLES TO "keybuzz_workers"',
    );
    await runPostgresSql(pg!, sql);
    const [admin] = await pg!.query<{ rolsuper: boolean; rolcreaterole: boolean }>(
      "SELECT rolsuper, rolcreaterole FROM pg_roles WHERE rolname = 'vault_admin'",
    );
    expect(admin).toEqual({ rolsuper: false, rolcreaterole: true });
  });

  it("c. Vault half: tofu init + apply of the synthesized vault_* resources, then a clean plan", async () => {
    step("c. writing the Vault half as main.tf.json (vault provider pinned to 5.9.0)");
    const half = writeVaultHalf(synthesized, tfDir, statePath);
    expect(JSON.stringify(half)).not.toMatch(/postgresql_(role|grant|database|schema|default)/);
    step("c. tofu init");
    const init = await runTofu(["init", "-input=false"]);
    expect(init.code, init.output).toBe(0);
    step("c. tofu apply (verify_connection logs in as the non-superuser vault_admin)");
    const apply = await runTofu(["apply", "-auto-approve", "-input=false"]);
    expect(apply.code, apply.output).toBe(0);
    const state = readFileSync(statePath, "utf8");
    expect(state).toContain("vault_database_secret_backend_connection");
    expect(state).not.toContain(adminPassword);
    expect(state).not.toContain(vault!.rootToken);
    step("c. tofu plan -detailed-exitcode right after apply");
    const plan = await runTofu(["plan", "-detailed-exitcode", "-input=false"]);
    expect(plan.code, plan.output).toBe(0);
  });

  const tables: Record<string, string> = {};

  it("d. each application's credentials: identity, membership, own schema, nothing of the others", async () => {
    for (const app of APPS) {
      step(`d. ${app.name}: reading database/creds/${app.vaultRole} and logging in`);
      const creds = await issue(app.vaultRole);
      expect(creds.username).toMatch(/^v-/);
      const c = await connect(creds.username, creds.password);
      const { rows } = await c.query("SELECT session_user AS s, current_user AS u, current_database() AS d");
      expect(rows[0]).toEqual({ s: creds.username, u: app.baseRole, d: "keybuzz" });
      for (const other of APPS) {
        const { rows: m } = await c.query("SELECT pg_has_role(session_user, $1, 'MEMBER') AS m", [other.baseRole]);
        expect(m[0].m, `${creds.username} member of ${other.baseRole}`).toBe(other === app);
      }
      const table = `${app.schema}.d_${app.baseRole}`;
      await c.query(`CREATE TABLE ${table} (id int)`);
      const { rows: owner } = await c.query("SELECT tableowner FROM pg_tables WHERE schemaname = $1 AND tablename = $2", [
        app.schema,
        `d_${app.baseRole}`,
      ]);
      expect(owner[0].tableowner).toBe(app.baseRole);
      tables[app.name] = table;
    }
    for (const app of APPS) {
      const creds = await issue(app.vaultRole);
      const c = await connect(creds.username, creds.password);
      for (const other of APPS) {
        if (other === app || (app === WORKERS && other === API)) continue;
        await expect(c.query(`SELECT * FROM ${tables[other.name]}`), `${app.name} reads ${other.name}`).rejects.toThrow(
          /permission denied/,
        );
      }
    }
    step("d. workers: SELECT on a table keybuzz_api creates after deploy (default privileges), no INSERT");
    const api = await issue(API.vaultRole);
    const apiClient = await connect(api.username, api.password);
    await apiClient.query("CREATE TABLE keybuzz_api.after_deploy (id int)");
    await apiClient.query("INSERT INTO keybuzz_api.after_deploy VALUES (1)");
    const workers = await issue(WORKERS.vaultRole);
    const wc = await connect(workers.username, workers.password);
    expect((await wc.query("SELECT id FROM keybuzz_api.after_deploy")).rows).toEqual([{ id: 1 }]);
    await expect(wc.query("INSERT INTO keybuzz_api.after_deploy VALUES (2)")).rejects.toThrow(/permission denied/);
  });

  it("e. revocation ends the session, reassigns what the user owned and drops it", async () => {
    step("e. revoking an issued keybuzz-api user with an open session and objects of its own");
    const creds = await issue(API.vaultRole);
    const c = await connect(creds.username, creds.password);
    await c.query("CREATE TABLE keybuzz_api.e_as_base (id int)");
    await c.query("SET ROLE NONE");
    await c.query("CREATE TABLE keybuzz_api.e_as_self (id int)");
    const owners = async () =>
      Object.fromEntries(
        (
          await asSuperuser<{ tablename: string; tableowner: string }>(
            "SELECT tablename, tableowner FROM pg_tables WHERE schemaname = 'keybuzz_api' AND tablename LIKE 'e\\_%'",
          )
        ).map((r) => [r.tablename, r.tableowner]),
      );
    expect(await owners()).toEqual({ e_as_base: "keybuzz_api", e_as_self: creds.username });
    const revoke = await v("PUT", "sys/leases/revoke", { lease_id: creds.leaseId });
    expect(revoke.status, JSON.stringify(revoke.body)).toBe(204);
    expect(await pg!.query("SELECT 1 FROM pg_roles WHERE rolname = $1", [creds.username])).toEqual([]);
    await expect(c.query("SELECT 1")).rejects.toThrow();
    expect(await owners()).toEqual({ e_as_base: "keybuzz_api", e_as_self: "keybuzz_api" });
    const orphans = await asSuperuser(`
      SELECT 'class' AS kind, relname::text AS name FROM pg_class WHERE relowner NOT IN (SELECT oid FROM pg_roles)
      UNION ALL SELECT 'namespace', nspname::text FROM pg_namespace WHERE nspowner NOT IN (SELECT oid FROM pg_roles)
      UNION ALL SELECT 'type', typname::text FROM pg_type WHERE typowner NOT IN (SELECT oid FROM pg_roles)
      UNION ALL SELECT 'proc', proname::text FROM pg_proc WHERE proowner NOT IN (SELECT oid FROM pg_roles)`);
    expect(orphans).toEqual([]);
    const lookup = await v("PUT", "sys/leases/lookup", { lease_id: creds.leaseId });
    expect(lookup.status, JSON.stringify(lookup.body)).toBe(400);
  });

  it("f. renewal moves VALID UNTIL; a short renewal makes the password expire", async () => {
    step("f. renewing a keybuzz-api lease by 7200 s, then by 2 s");
    const creds = await issue(API.vaultRole);
    const validUntil = async () =>
      new Date(
        (await pg!.query<{ v: Date }>("SELECT rolvaliduntil AS v FROM pg_roles WHERE rolname = $1", [creds.username]))[0].v,
      ).getTime();
    const before = await validUntil();
    const renew = await v("PUT", "sys/leases/renew", { lease_id: creds.leaseId, increment: 7200 });
    expect(renew.status, JSON.stringify(renew.body)).toBe(200);
    expect(await validUntil()).toBeGreaterThan(before);
    expect(await pg!.tryLogin("keybuzz", creds.username, creds.password)).toEqual({ ok: true });
    const short = await v("PUT", "sys/leases/renew", { lease_id: creds.leaseId, increment: 2 });
    expect(short.status, JSON.stringify(short.body)).toBe(200);
    step("f. waiting 3.5 s for the 2 s renewal to expire");
    await new Promise((r) => setTimeout(r, 3500));
    const login = await pg!.tryLogin("keybuzz", creds.username, creds.password);
    expect(login.ok).toBe(false);
    expect(login.ok ? "" : login.message).toMatch(/password authentication failed/);
  });

  it("g. a role outside allowed_roles cannot issue credentials", async () => {
    step("g. creating database/roles/outsider on the same connection and reading its creds");
    const create = await v("POST", "database/roles/outsider", {
      db_name: "keybuzz-postgres",
      creation_statements: [`CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';`],
    });
    if (create.status < 300) {
      const creds = await v("GET", "database/creds/outsider");
      step(`g. role written (${create.status}); reading its creds answers ${creds.status}: ${JSON.stringify(creds.body.errors)}`);
      expect(creds.status, JSON.stringify(creds.body)).toBeGreaterThanOrEqual(400);
      expect(JSON.stringify(creds.body)).toMatch(/"outsider\\" is not an allowed role/);
      await v("DELETE", "database/roles/outsider");
    } else {
      step(`g. role refused (${create.status}): ${JSON.stringify(create.body.errors)}`);
      expect(JSON.stringify(create.body)).toMatch(/allowed/);
    }
  });

  it("h. AppRole: an application's token reads its own credentials and nothing else", async () => {
    step("h. keybuzz-api: role-id, secret-id, login");
    const roleId = await v("GET", "auth/approle/role/keybuzz-api/role-id");
    expect(roleId.status, JSON.stringify(roleId.body)).toBe(200);
    const secretId = await v("POST", "auth/approle/role/keybuzz-api/secret-id", {});
    expect(secretId.status, JSON.stringify(secretId.body)).toBe(200);
    const login = await v("POST", "auth/approle/login", {
      role_id: roleId.body.data.role_id,
      secret_id: secretId.body.data.secret_id,
    });
    expect(login.status, JSON.stringify(login.body)).toBe(200);
    const token = login.body.auth.client_token as string;
    expect(login.body.auth.policies).toEqual(["keybuzz-api-db"]);

    step("h. with that token: own creds work; chatwoot creds, the connection config and rotate-root do not");
    const own = await issue(API.vaultRole, token);
    expect(await pg!.tryLogin("keybuzz", own.username, own.password)).toEqual({ ok: true });
    expect((await v("GET", `database/creds/${CHATWOOT.vaultRole}`, undefined, token)).status).toBe(403);
    expect((await v("GET", "database/config/keybuzz-postgres", undefined, token)).status).toBe(403);
    expect((await v("POST", "database/rotate-root/keybuzz-postgres", {}, token)).status).toBe(403);

    step("h. renewing and revoking its own lease (lease in the path); not chatwoot's");
    const renew = await v("PUT", `sys/leases/renew/${own.leaseId}`, {}, token);
    expect(renew.status, JSON.stringify(renew.body)).toBe(200);
    const revoke = await v("PUT", `sys/leases/revoke/${own.leaseId}`, {}, token);
    expect(revoke.status, JSON.stringify(revoke.body)).toBe(204);
    expect(await pg!.query("SELECT 1 FROM pg_roles WHERE rolname = $1", [own.username])).toEqual([]);
    const other = await issue(CHATWOOT.vaultRole);
    expect((await v("PUT", `sys/leases/revoke/${other.leaseId}`, {}, token)).status).toBe(403);
    expect(await pg!.query("SELECT 1 FROM pg_roles WHERE rolname = $1", [other.username])).toHaveLength(1);

    step("h. a token with only the default policy cannot read credentials");
    const plain = await v("POST", "auth/token/create", { policies: ["default"], ttl: "10m" });
    expect(plain.status, JSON.stringify(plain.body)).toBe(200);
    expect((await v("GET", `database/creds/${API.vaultRole}`, undefined, plain.body.auth.client_token)).status).toBe(403);
  });

  it("i. rotate-root: the old password stops working, credentials still issue, the plan stays clean", async () => {
    step("i. POST database/rotate-root/keybuzz-postgres");
    const rotate = await v("POST", "database/rotate-root/keybuzz-postgres", {});
    expect(rotate.status, JSON.stringify(rotate.body)).toBe(204);
    const old = await pg!.tryLogin("keybuzz", "vault_admin", adminPassword);
    expect(old.ok).toBe(false);
    expect(old.ok ? "" : old.message).toMatch(/password authentication failed/);
    const creds = await issue(API.vaultRole);
    expect(await pg!.tryLogin("keybuzz", creds.username, creds.password)).toEqual({ ok: true });
    step("i. tofu plan -detailed-exitcode after rotate-root");
    const plan = await runTofu(["plan", "-detailed-exitcode", "-input=false"]);
    expect(plan.code, plan.output).toBe(0);
  });

  it("j. destroy: leases revoked, tofu destroy, mounts gone, no v- roles left", async () => {
    step("j. revoking every lease under database/creds, then tofu destroy");
    const prefix = await v("PUT", "sys/leases/revoke-prefix/database/creds", {});
    expect(prefix.status, JSON.stringify(prefix.body)).toBe(204);
    const destroy = await runTofu(["destroy", "-auto-approve", "-input=false"]);
    expect(destroy.code, destroy.output).toBe(0);
    const mounts = await v("GET", "sys/mounts");
    expect(Object.keys(mounts.body.data ?? mounts.body)).not.toContain("database/");
    const auths = await v("GET", "sys/auth");
    expect(Object.keys(auths.body.data ?? auths.body)).not.toContain("approle/");
    expect(await pg!.query("SELECT rolname FROM pg_roles WHERE rolname LIKE 'v-%'")).toEqual([]);
  });
});
