/**
 * The "wiring" suite: the `local` stack deployed the way its users deploy it — `cdktf deploy`, `cdktf diff`,
 * `cdktf destroy`, with OpenTofu and both real providers at the versions the JSON pins — onto a real
 * PostgreSQL cluster and a real Vault-API server, everything on 127.0.0.1. It runs once per server pair:
 * OpenBao 2.6.2 and HashiCorp Vault 1.21.0, each with the machine's PostgreSQL 15 and with PostgreSQL 17
 * (from the Debian trixie root of `tools/build.sh postgres-17`, run with chroot).
 *
 * After the deploy, credentials are issued, used, renewed, revoked and rotated through the server's HTTP
 * API and the result is checked in PostgreSQL's catalog; the destroy runs with credentials still out and
 * with tables the issued users created, and must leave the catalog as it was before the deploy, but for
 * PUBLIC's CONNECT on postgres and template1, which stays revoked.
 *
 * The steps depend on one another and run in order; afterAll stops every server and removes every temp
 * folder, also when a step fails. Each pair's figures (resources deployed and destroyed, seconds from
 * starting the servers to the end of the destroy), once its last step passes, go to
 * test-results/figures/wiring.json for docs/reliability.md (fixture/figures.ts, `npm run figures`).
 */
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Client } from "pg";
import { LEASE_AUDIT_NAMES } from "../../stacks/keybuzz-names";
import { LocalDeployment, type Catalog, type Creds } from "../../harness/deployment";
import type { PostgresServer } from "../../harness/toolchain";
import { apartFromClosedDatabases, closedDatabaseAcls } from "./fixture/catalog";
import type { WiringPairFigures } from "../../figures/contract";
import { recordFigures } from "./fixture/figures";
import { expectNoChanges } from "./fixture/no-changes";
import { e2eToolchain } from "./fixture/toolchain";

const toolchain = await e2eToolchain(import.meta.url);

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

/** Each pair's figures, by label; written after each pair's last step, with the pairs done so far. */
const figures: Record<string, WiringPairFigures> = {};

/** How many resource instances OpenTofu's state at `path` holds (managed ones: what `Resources: N added` counts). */
function stateInstances(path: string): number {
  const state = JSON.parse(readFileSync(path, "utf8")) as { resources: { mode: string; instances: unknown[] }[] };
  return state.resources.filter((r) => r.mode === "managed").reduce((n, r) => n + r.instances.length, 0);
}

/** How many resources the synthesized stack in `stackDir` declares. */
function synthesizedResources(stackDir: string): number {
  const stack = JSON.parse(readFileSync(`${stackDir}/cdk.tf.json`, "utf8")) as { resource: Record<string, Record<string, unknown>> };
  return Object.values(stack.resource).reduce((n, byName) => n + Object.keys(byName).length, 0);
}

// cdktf runs OpenTofu in a pseudo-terminal and may return before it has relayed OpenTofu's last lines (node-pty
// reports the exit before the last output on a busy machine: "Apply complete! …" went missing once, with the
// outputs printed after it). So what a command did is read from the state and from OpenTofu itself
// (`plan -detailed-exitcode`), never from the tail of cdktf's output.

interface Pair {
  readonly label: string;
  readonly product: "OpenBao" | "Vault";
  readonly binary: string;
  readonly pg: PostgresServer;
}
// every server pair; a placeholder keeps the (skipped) suite listed when there is no toolchain.
const pairs: Pair[] = toolchain
  ? (["OpenBao", "Vault"] as const).flatMap((product) =>
      toolchain.postgres.map((pg) => ({
        label: `${product.toLowerCase()} pg${pg.major}`,
        product,
        binary: product === "OpenBao" ? toolchain.bao : toolchain.vault,
        pg,
      })),
    )
  : [{ label: "skipped", product: "OpenBao", binary: "", pg: { major: 15, binDir: "" } }];

describe.skipIf(!toolchain).each(pairs)("wiring: cdktf deploy, use, destroy of the local stack on $label", (pair) => {
  const step = (msg: string) => process.stderr.write(`[e2e wiring ${pair.label}] ${msg}\n`);
  let env: LocalDeployment;
  let before: Catalog;
  const clients: Client[] = [];
  let started = 0;
  let resourcesAdded: number | undefined;

  const v = (method: string, path: string, body?: unknown, token?: string) => env.v(method, path, body, token);
  const issue = (role: string, token?: string): Promise<Creds> => env.issue(role, { token });

  /**
   * A connected client to the application database as `user`, with `role` set at login as an application
   * does (connection options), so that what it creates belongs to its base role; closed in afterAll.
   */
  async function connect(user: string, password: string, role?: string): Promise<Client> {
    const c = env.pg.client(env.databaseName, user, password, role);
    c.on("error", () => undefined); // a terminated session must not crash the run
    clients.push(c);
    await c.connect();
    return c;
  }
  const asSuperuser = <T extends Record<string, unknown>>(q: string, params: unknown[] = []) => env.pg.query<T>(q, params, env.databaseName);

  beforeAll(async () => {
    started = Date.now();
    env = await LocalDeployment.start({
      server: pair.pg,
      vaultBinary: pair.binary,
      tools: { engine: toolchain!.tofu, cliConfig: toolchain!.cliConfig },
      log: `[e2e wiring ${pair.label}]`,
    });
    before = await env.catalog();
  });

  afterAll(async () => {
    step("cleaning up: closing sessions, stopping servers, removing temp folders");
    await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
    await env?.stop();
  });

  it(`the servers are PostgreSQL ${pair.pg.major} and ${pair.product}`, async () => {
    expect(env.pg.version).toBe(pair.pg.major);
    expect(env.pg.serverVersion).toMatch(new RegExp(`^PostgreSQL ${pair.pg.major}\\.\\d+`));
    expect(env.vault.product).toBe(pair.product);
    const health = await v("GET", "sys/health");
    expect(health.body.version).toBe(env.vault.version);
    expect(env.vault.version).toBe(pair.product === "OpenBao" ? "2.6.2" : "1.21.0");
  });

  it("a. cdktf deploy keybuzz-local: both providers create everything; no secret in the state", async () => {
    step("a. cdktf deploy keybuzz-local --auto-approve (OpenTofu, providers from the mirror)");
    const deploy = await env.cdktf("deploy");
    expect(deploy.code, deploy.output).toBe(0);
    // everything the stack declares, created (no count or for_each here: one instance per resource).
    resourcesAdded = stateInstances(env.statePath);
    expect(resourcesAdded).toBe(synthesizedResources(env.stackDir));
    const lock = readFileSync(`${env.stackDir}/.terraform.lock.hcl`, "utf8");
    expect(lock).toMatch(/provider "registry\.opentofu\.org\/hashicorp\/vault" \{\s+version\s+= "5\.6\.0"/);
    expect(lock).toMatch(/provider "registry\.opentofu\.org\/cyrilgdn\/postgresql" \{\s+version\s+= "1\.26\.0"/);
    const state = readFileSync(env.statePath, "utf8");
    for (const secret of [env.adminPassword, env.vault.rootToken, env.pg.superuserPassword]) expect(state).not.toContain(secret);
    expect(state).toContain("vault_database_secrets_mount");
    expect(state).toContain("postgresql_role");
  });

  it("b. PostgreSQL: the provider made the least-privilege vault_admin, the base roles, schemas and grants", async () => {
    const [admin] = await env.pg.query<{ rolsuper: boolean; rolcreaterole: boolean; rolcanlogin: boolean }>(
      "SELECT rolsuper, rolcreaterole, rolcanlogin FROM pg_roles WHERE rolname = 'vault_admin'",
    );
    expect(admin).toEqual({ rolsuper: false, rolcreaterole: false, rolcanlogin: true });
    const memberships = await env.pg.query("SELECT 1 FROM pg_auth_members WHERE member = 'vault_admin'::regrole");
    expect(memberships, "vault_admin is a member of nothing").toEqual([]);
    const [functions] = await asSuperuser(
      "SELECT has_function_privilege('vault_admin', 'keybuzz_vault.create_user(text,text,text,text)', 'EXECUTE') AS ok",
    );
    expect(functions).toEqual({ ok: true });
    for (const app of APPS) {
      const [role] = await env.pg.query("SELECT rolcanlogin FROM pg_roles WHERE rolname = $1", [app.baseRole]);
      expect(role, app.baseRole).toEqual({ rolcanlogin: false });
      const [schema] = await asSuperuser("SELECT nspowner::regrole::text AS owner FROM pg_namespace WHERE nspname = $1", [app.schema]);
      expect(schema).toEqual({ owner: app.baseRole });
      const [connect] = await env.pg.query("SELECT has_database_privilege($1, 'keybuzz', 'CONNECT') AS ok", [app.baseRole]);
      expect(connect).toEqual({ ok: true });
    }
    const [publicAcl] = await env.pg.query<{ datacl: string }>("SELECT datacl::text FROM pg_database WHERE datname = 'keybuzz'");
    expect(publicAcl.datacl).not.toMatch(/(^|[{,])=/); // no entry for PUBLIC (an empty grantee)
    const defaults = await asSuperuser<{ acl: string }>(
      "SELECT defaclacl::text AS acl FROM pg_default_acl WHERE defaclrole = 'keybuzz_api'::regrole AND defaclnamespace = 'keybuzz_api'::regnamespace",
    );
    expect(defaults.map((d) => d.acl).join()).toContain("keybuzz_workers=r/keybuzz_api");
  });

  it("c. Vault: one mount with its connection, the four roles and the lease audit's three, policies and AppRole", async () => {
    const mounts = await v("GET", "sys/mounts");
    expect(mounts.body.data["database/"]).toMatchObject({ type: "database" });
    const config = await v("GET", "database/config/keybuzz-postgres");
    expect(config.status, JSON.stringify(config.body)).toBe(200);
    // the applications' roles and the lease audit's three (npm run leases).
    const vaultRoles = [...APPS.map((a) => a.vaultRole), LEASE_AUDIT_NAMES.probeRole, LEASE_AUDIT_NAMES.auditRole, LEASE_AUDIT_NAMES.fixRole].sort();
    expect([...config.body.data.allowed_roles].sort()).toEqual(vaultRoles);
    expect(config.body.data.connection_details.username).toBe("vault_admin");
    expect(JSON.stringify(config.body)).not.toContain(env.adminPassword);
    const roles = await v("LIST", "database/roles");
    expect([...roles.body.data.keys].sort()).toEqual(vaultRoles);
  });

  it("d. cdktf diff and a plan right after the deploy: no changes", async () => {
    step("d. cdktf diff keybuzz-local");
    await expectNoChanges(env, await env.cdktf("diff"));
  });

  const tables: Record<string, string> = {};

  it("e. each application's credentials: identity, membership, own schema, nothing of the others", async () => {
    for (const app of APPS) {
      step(`e. ${app.name}: reading database/creds/${app.vaultRole} and logging in`);
      const creds = await issue(app.vaultRole);
      expect(creds.username).toMatch(/^v-/);
      const c = await connect(creds.username, creds.password, app.baseRole);
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
        await expect(c.query(`SELECT * FROM ${tables[other.name]}`), `${app.name} reads ${other.name}`).rejects.toThrow(/permission denied/);
      }
    }
    step("e. workers: SELECT on a table keybuzz_api creates after deploy (default privileges), no INSERT");
    const api = await issue(API.vaultRole);
    const apiClient = await connect(api.username, api.password, API.baseRole);
    await apiClient.query("CREATE TABLE keybuzz_api.after_deploy (id int)");
    await apiClient.query("INSERT INTO keybuzz_api.after_deploy VALUES (1)");
    const workers = await issue(WORKERS.vaultRole);
    const wc = await connect(workers.username, workers.password);
    expect((await wc.query("SELECT id FROM keybuzz_api.after_deploy")).rows).toEqual([{ id: 1 }]);
    await expect(wc.query("INSERT INTO keybuzz_api.after_deploy VALUES (2)")).rejects.toThrow(/permission denied/);
  });

  it("f. revocation ends the session, reassigns what the user owned and drops it", async () => {
    step("f. revoking an issued keybuzz-api user with an open session and objects of its own");
    const creds = await issue(API.vaultRole);
    const c = await connect(creds.username, creds.password, API.baseRole);
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
    await env.revoke(creds.leaseId);
    expect(await env.pg.query("SELECT 1 FROM pg_roles WHERE rolname = $1", [creds.username])).toEqual([]);
    await expect(c.query("SELECT 1")).rejects.toThrow();
    expect(await owners()).toEqual({ e_as_base: "keybuzz_api", e_as_self: "keybuzz_api" });
    expect(await env.strayObjects()).toEqual([]);
    const lookup = await v("PUT", "sys/leases/lookup", { lease_id: creds.leaseId });
    expect(lookup.status, JSON.stringify(lookup.body)).toBe(400);

    step("f. the table the user made as itself missed keybuzz_api's default privileges: the next plan grants the workers' SELECT again");
    const plan = await env.terraform(["plan", "-detailed-exitcode", "-input=false"]);
    expect(plan.code, plan.output).toBe(2);
    expect(plan.output).toMatch(/postgresql_grant\.BaseRoles_keybuzz_workers_Schemas_keybuzz_api_Tables_\w+ will be updated in-place/);
    expect(plan.output).toMatch(/Plan: 0 to add, 1 to change, 0 to destroy\./);
    await asSuperuser("DROP TABLE keybuzz_api.e_as_base, keybuzz_api.e_as_self");
  });

  it("g. renewal moves VALID UNTIL; a short renewal makes the password expire", async () => {
    step("g. renewing a keybuzz-api lease by 7200 s, then by 2 s");
    const creds = await issue(API.vaultRole);
    const validUntil = async () =>
      new Date((await env.pg.query<{ v: Date }>("SELECT rolvaliduntil AS v FROM pg_roles WHERE rolname = $1", [creds.username]))[0].v).getTime();
    const first = await validUntil();
    const renew = await v("PUT", "sys/leases/renew", { lease_id: creds.leaseId, increment: 7200 });
    expect(renew.status, JSON.stringify(renew.body)).toBe(200);
    expect(await validUntil()).toBeGreaterThan(first);
    expect(await env.pg.tryLogin("keybuzz", creds.username, creds.password)).toEqual({ ok: true });
    const short = await v("PUT", "sys/leases/renew", { lease_id: creds.leaseId, increment: 2 });
    expect(short.status, JSON.stringify(short.body)).toBe(200);
    step("g. waiting 3.5 s for the 2 s renewal to expire");
    await new Promise((r) => setTimeout(r, 3500));
    const login = await env.pg.tryLogin("keybuzz", creds.username, creds.password);
    expect(login.ok).toBe(false);
    expect(login.ok ? "" : login.message).toMatch(/password authentication failed/);
  });

  it("h. a role outside allowed_roles cannot issue credentials", async () => {
    step("h. creating database/roles/outsider on the same connection and reading its creds");
    const create = await v("POST", "database/roles/outsider", {
      db_name: "keybuzz-postgres",
      creation_statements: [`CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';`],
    });
    if (create.status < 300) {
      const creds = await v("GET", "database/creds/outsider");
      step(`h. role written (${create.status}); reading its creds answers ${creds.status}: ${JSON.stringify(creds.body.errors)}`);
      expect(creds.status, JSON.stringify(creds.body)).toBeGreaterThanOrEqual(400);
      expect(JSON.stringify(creds.body)).toMatch(/"outsider\\" is not an allowed role/);
      await v("DELETE", "database/roles/outsider");
    } else {
      step(`h. role refused (${create.status}): ${JSON.stringify(create.body.errors)}`);
      expect(JSON.stringify(create.body)).toMatch(/allowed/);
    }
  });

  it("i. AppRole: an application's token reads its own credentials and nothing else", async () => {
    step("i. keybuzz-api: role-id, secret-id, login");
    const roleId = await v("GET", "auth/approle/role/keybuzz-api/role-id");
    expect(roleId.status, JSON.stringify(roleId.body)).toBe(200);
    const secretId = await v("POST", "auth/approle/role/keybuzz-api/secret-id", {});
    expect(secretId.status, JSON.stringify(secretId.body)).toBe(200);
    const login = await v("POST", "auth/approle/login", { role_id: roleId.body.data.role_id, secret_id: secretId.body.data.secret_id });
    expect(login.status, JSON.stringify(login.body)).toBe(200);
    const token = login.body.auth.client_token as string;
    expect(login.body.auth.policies).toEqual(["keybuzz-api-db"]);

    step("i. with that token: own creds work; chatwoot creds, the connection config and rotate-root do not");
    const own = await issue(API.vaultRole, token);
    expect(await env.pg.tryLogin("keybuzz", own.username, own.password)).toEqual({ ok: true });
    expect((await v("GET", `database/creds/${CHATWOOT.vaultRole}`, undefined, token)).status).toBe(403);
    expect((await v("GET", "database/config/keybuzz-postgres", undefined, token)).status).toBe(403);
    expect((await v("POST", "database/rotate-root/keybuzz-postgres", {}, token)).status).toBe(403);

    step("i. renewing (lease in the path or the body) and revoking (in the path) its own lease; not chatwoot's");
    const renew = await v("PUT", `sys/leases/renew/${own.leaseId}`, {}, token);
    expect(renew.status, JSON.stringify(renew.body)).toBe(200);
    // the body form too, as Vault Agent renews; revocation stays lease-in-path only.
    const renewBody = await v("PUT", "sys/leases/renew", { lease_id: own.leaseId }, token);
    expect(renewBody.status, JSON.stringify(renewBody.body)).toBe(200);
    const revoke = await v("PUT", `sys/leases/revoke/${own.leaseId}`, {}, token);
    expect(revoke.status, JSON.stringify(revoke.body)).toBe(204);
    expect(await env.pg.query("SELECT 1 FROM pg_roles WHERE rolname = $1", [own.username])).toEqual([]);
    const other = await issue(CHATWOOT.vaultRole);
    expect((await v("PUT", `sys/leases/revoke/${other.leaseId}`, {}, token)).status).toBe(403);
    expect((await v("PUT", "sys/leases/revoke", { lease_id: other.leaseId }, token)).status).toBe(403);
    expect(await env.pg.query("SELECT 1 FROM pg_roles WHERE rolname = $1", [other.username])).toHaveLength(1);

    step("i. a token with only the default policy cannot read credentials");
    const plain = await v("POST", "auth/token/create", { policies: ["default"], ttl: "10m" });
    expect(plain.status, JSON.stringify(plain.body)).toBe(200);
    expect((await v("GET", `database/creds/${API.vaultRole}`, undefined, plain.body.auth.client_token)).status).toBe(403);
  });

  it("j. rotate-root: the old password stops working, credentials still issue, cdktf diff stays clean", async () => {
    step("j. POST database/rotate-root/keybuzz-postgres");
    const rotate = await v("POST", "database/rotate-root/keybuzz-postgres", {});
    expect(rotate.status, JSON.stringify(rotate.body)).toBe(204);
    const old = await env.pg.tryLogin("keybuzz", "vault_admin", env.adminPassword);
    expect(old.ok).toBe(false);
    expect(old.ok ? "" : old.message).toMatch(/password authentication failed/);
    const creds = await issue(API.vaultRole);
    expect(await env.pg.tryLogin("keybuzz", creds.username, creds.password)).toEqual({ ok: true });
    step("j. cdktf diff after rotate-root");
    await expectNoChanges(env, await env.cdktf("diff"));
  });

  it("k. cdktf destroy with credentials out and tables their users made: the catalog is as before the deploy, postgres and template1 still closed", async () => {
    step("k. two users with open sessions and tables (one as the base role, one as itself), then cdktf destroy");
    for (const app of [API, CHATWOOT]) {
      const creds = await issue(app.vaultRole);
      const c = await connect(creds.username, creds.password, app.baseRole);
      await c.query(`CREATE TABLE ${app.schema}.k_base (id int)`);
      await c.query("SET ROLE NONE");
      await c.query(`CREATE TABLE ${app.schema}.k_self (id int)`);
    }
    expect((await env.dynamicRoles()).length).toBeGreaterThanOrEqual(2);
    expect((await env.outstandingLeases(API.vaultRole)).length).toBeGreaterThanOrEqual(1);
    const inState = stateInstances(env.statePath);
    const destroy = await env.cdktf("destroy");
    expect(destroy.code, destroy.output).toBe(0);
    expect(stateInstances(env.statePath)).toBe(0);
    expect(await env.dynamicRoles()).toEqual([]);
    for (const app of APPS) expect(await env.outstandingLeases(app.vaultRole), app.vaultRole).toEqual([]);
    expect(await env.irrevocableLeases()).toBe(0);
    const mounts = await v("GET", "sys/mounts");
    expect(Object.keys(mounts.body.data)).not.toContain("database/");
    expect(Object.keys((await v("GET", "sys/auth")).body.data)).not.toContain("approle/");
    // the one thing a destroy leaves: postgres and template1 stay closed to PUBLIC (BaseRolesProps.closeDatabases).
    const after = await env.catalog();
    expect(closedDatabaseAcls(after)).toEqual(["postgres acl={postgres=CTc/postgres}", "template1 acl={postgres=CTc/postgres}"]);
    expect(apartFromClosedDatabases(after)).toEqual(apartFromClosedDatabases(before));
    // step a counted what the deploy created; without that count (step a failed) this pair has no figures.
    if (resourcesAdded === undefined) return;
    figures[pair.label] = {
      postgres: env.pg.serverVersion.split(" ").slice(0, 2).join(" "),
      server: env.vault.label,
      resourcesAdded,
      resourcesDestroyed: inState,
      seconds: (Date.now() - started) / 1000,
    };
    recordFigures("wiring", { pairs: figures });
  });
});
