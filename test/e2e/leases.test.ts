/**
 * `npm run leases` against the deployed `local` stack (PostgreSQL 17; OpenBao, then HashiCorp Vault), run as an
 * operator runs it:
 * the script as a child process, with a token that carries only the audit's policy (the fix's for
 * `--fix --apply`), never root's.
 *
 * 1. Healthy, under load: three audits during a churn of issued credentials report nothing (exit 0).
 * 2. Every fault it promises to see, each made for real: an orphan left by a revocation PostgreSQL was down
 *    for, a user made by hand with Vault's prefix, a lease whose user was dropped by hand, a session that
 *    outlived its user (in the application database the audit's own credential ends it; in another one it is
 *    reported), a user a revocation could not drop: the audit reports exactly those (exit 2); `--fix`
 *    changes nothing; the audit's token cannot apply; `--fix --apply` with the fix's token fixes them and
 *    the next audit is clean.
 * 3. What it reports and leaves to a person: an issued user granted another application's role, a user
 *    past VALID UNTIL with a session, and Vault's connection broken (the probe fails, PostgreSQL cannot be
 *    read): reported, `--fix --apply` says why it leaves each, nothing changes.
 * 4. The audit's own access, attacked: its token and its PostgreSQL users can do nothing else.
 *
 * A lease Vault gives up revoking (irrevocable) takes ten minutes of PostgreSQL outage to make:
 * irrevocable.test.ts.
 *
 * The figures of 1 and 2, once their assertions pass, go to test-results/figures/leases.json for
 * docs/reliability.md (fixture/figures.ts, `npm run figures`), one part per server.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Client } from "pg";
import { LEASE_AUDIT_NAMES } from "../../stacks/keybuzz-names";
import { LocalDeployment, type Catalog, type Creds } from "../../harness/deployment";
import { figureParts } from "./fixture/figures";
import { auditTokens, findingLines, runLeases } from "./fixture/leases";
import { LOCAL_VAULT_ROLES, VAULT_SERVERS } from "./fixture/servers";
import { e2eToolchain } from "./fixture/toolchain";

const toolchain = await e2eToolchain(import.meta.url);
/** What each part measured, written after each part. */
const record = figureParts("leases");

describe.skipIf(!toolchain).each(VAULT_SERVERS)("npm run leases on $label: Vault's leases held against PostgreSQL's users", ({ key }) => {
  let env: LocalDeployment;
  let auditToken: string;
  let fixToken: string;
  const sessions: Client[] = [];

  beforeAll(async () => {
    env = await LocalDeployment.start({
      server: toolchain!.postgres.at(-1)!,
      vaultBinary: toolchain![key],
      tools: { engine: toolchain!.tofu, cliConfig: toolchain!.cliConfig },
      log: `[e2e leases ${key}]`,
    });
    await env.deploy();
    ({ audit: auditToken, fix: fixToken } = await auditTokens(env));
  });

  afterAll(async () => {
    await Promise.all(sessions.map((s) => s.end().catch(() => undefined)));
    await env?.stop();
  });

  const leases = (args: string[] = [], token = auditToken) => runLeases(env, args, token);
  const findings = findingLines;

  /** A session of an issued user, kept open until the suite ends (or the server ends it). */
  async function session(creds: Creds): Promise<Client> {
    const c = env.pg.client(env.databaseName, creds.username, creds.password);
    c.on("error", () => undefined); // ended by the server on purpose.
    await c.connect();
    sessions.push(c);
    return c;
  }

  async function allLeases(): Promise<string[]> {
    return (await Promise.all(LOCAL_VAULT_ROLES.map((r) => env.outstandingLeases(r).then((ids) => ids.map((id) => `${r}/${id}`))))).flat().sort();
  }

  /** The catalog (roles, memberships, databases, default ACLs), the leases and the session count: what --fix must not change. */
  async function state(): Promise<{ catalog: Catalog; leases: string[]; sessions: number }> {
    const [{ n }] = await env.pg.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE backend_type = 'client backend'");
    return { catalog: await env.catalog(), leases: await allLeases(), sessions: n };
  }

  it("1. healthy under a churn of issued credentials: three audits, nothing reported, exit 0", async () => {
    let stop = false;
    let cycles = 0;
    const churn = Promise.all(
      Array.from({ length: 8 }, async (_, w) => {
        while (!stop) {
          const creds = await env.issue(LOCAL_VAULT_ROLES[w % LOCAL_VAULT_ROLES.length]);
          if (cycles % 5 === 0) await (await session(creds)).query("SELECT 1");
          await env.revoke(creds.leaseId);
          cycles++;
        }
      }),
    );
    // some leases that stay, so that there is something to pair.
    const kept = await Promise.all(LOCAL_VAULT_ROLES.flatMap((r) => [env.issue(r), env.issue(r)]));
    await sleep(12_000); // older than the audit's grace (10 s)
    const audits: { findings: number; seconds: number }[] = [];
    try {
      for (let i = 0; i < 3; i++) {
        const r = await leases();
        audits.push({ findings: r.json.findings.length, seconds: r.json.durationSeconds });
        env.log(
          `1. audit ${i + 1} during churn (${cycles} cycles so far): exit ${r.code}, ${r.json.findings.length} finding(s), ${r.json.durationSeconds.toFixed(2)} s`,
        );
        expect(r.code, r.stdout + r.stderr).toBe(0);
        expect(findings(r)).toEqual([]);
        expect(r.json.probe.ok).toBe(true);
        expect(r.json.postgresChecked).toBe(true);
        const api = r.json.applications.find((a: { vaultRole: string }) => a.vaultRole === "keybuzz-api-db");
        expect(api.active).toBeGreaterThanOrEqual(2);
        // the audit's own credentials (the probe's, its login's) are revoked before it reads the leases.
        const own = r.json.applications.filter((a: { application: string }) => a.application === "leases-audit");
        expect(own.map((a: { vaultRole: string; active: number }) => `${a.vaultRole} ${a.active}`)).toEqual([
          "leases-probe 0",
          "leases-audit 0",
          "leases-fix 0",
        ]);
      }
    } finally {
      stop = true;
      await churn;
    }
    const table = await leases(["--format", "table"]);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/health: ok, Vault issued and revoked a probe credential in \d+ ms/);
    expect(table.stdout).toMatch(/^keybuzz-api\s+keybuzz-api-db\s+2\s/m);
    expect(table.stdout).toContain("findings: none");
    const prom = await leases(["--format", "prometheus"]);
    expect(prom.code).toBe(0);
    expect(prom.stdout).toMatch(/^keybuzz_leases_active\{environment="local",application="chatwoot",vault_role="chatwoot-db"\} 2$/m);
    expect(prom.stdout).toMatch(/^keybuzz_leases_probe_success\{environment="local"\} 1$/m);
    expect(prom.stdout).toMatch(/^keybuzz_leases_findings\{environment="local",application="n8n",kind="orphan_user"\} 0$/m);
    for (const c of kept) await env.revoke(c.leaseId);
    record(`healthy-${key}`, {
      server: env.vault.label,
      postgres: env.pg.serverVersion.split(" ").slice(0, 2).join(" "),
      churnCycles: cycles,
      audits,
    });
  });

  it("2. every fault made for real is reported, exactly; --fix changes nothing; --fix --apply leaves the next audit clean", async () => {
    const made: string[] = [];
    // a. an orphan left by a revocation PostgreSQL was down for: the operator forced the lease away.
    const forced = await env.issue("chatwoot-db");
    await env.pg.pause();
    const force = await env.v("PUT", `sys/leases/revoke-force/database/creds/chatwoot-db/${forced.leaseId.split("/").pop()}`);
    await env.pg.resume();
    expect(force.status, JSON.stringify(force.body)).toBe(204);
    made.push(`orphan_user ${forced.username}`);
    // b. a user made by hand with Vault's prefix.
    await env.pg.query(`CREATE ROLE "v-made-by-hand" LOGIN IN ROLE keybuzz_api`);
    made.push("orphan_user v-made-by-hand");
    // c. a lease whose user was dropped by hand.
    const dropped = await env.issue("n8n-db");
    await env.pg.query(`DROP OWNED BY "${dropped.username}"; DROP ROLE "${dropped.username}"`, [], env.databaseName);
    made.push(`dangling_lease ${dropped.leaseId}`);
    // d. an issued user dropped by hand while logged in: a lease with no user, and a session that outlived its
    // user in the application database, which the next credential call ends (the audit's own does).
    const outlived = await env.issue("workers-db");
    const kept = await session(outlived);
    await env.pg.query(`DROP OWNED BY "${outlived.username}"; DROP ROLE "${outlived.username}"`, [], env.databaseName);
    const [{ pid: swept }] = (await kept.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows;
    made.push(`dangling_lease ${outlived.leaseId}`);
    // e. a session that outlived its user in another database, out of the revocation function's reach.
    const tool = `reporting_${process.pid}`;
    await env.pg.query(`CREATE ROLE ${tool} LOGIN PASSWORD 'x-${process.pid}'; GRANT CONNECT ON DATABASE postgres TO ${tool}`);
    const elsewhere = env.pg.client("postgres", tool, `x-${process.pid}`);
    elsewhere.on("error", () => undefined);
    await elsewhere.connect();
    sessions.push(elsewhere);
    await env.pg.query(`REVOKE CONNECT ON DATABASE postgres FROM ${tool}; DROP ROLE ${tool}`);
    const [{ pid }] = (await elsewhere.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows;
    made.push(`orphan_session pid ${pid}`);
    // f. a user a revocation could not drop: it owns a table in another database.
    const stuck = await env.issue("keybuzz-api-db");
    await env.pg.query(`CREATE TABLE stuck_${process.pid} (); ALTER TABLE stuck_${process.pid} OWNER TO "${stuck.username}"`);
    await env.revoke(stuck.leaseId);
    made.push(`revoked_not_dropped ${stuck.username}`);
    await sleep(11_000); // older than the audit's grace

    const before = await state();
    const found = await leases();
    env.log(`2. audit: exit ${found.code}; ${findings(found).join(" | ")}`);
    expect(found.code, found.stderr).toBe(2);
    expect(findings(found)).toEqual(made.sort());
    expect(found.json.findings.every((f: { certain: boolean }) => f.certain)).toBe(true);
    const [{ n: gone }] = await env.pg.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = $1", [swept]);
    expect(gone, "the session of the user dropped in the application database, ended by the audit's own credential").toBe(0);

    const dry = await leases(["--fix"]);
    expect(dry.code).toBe(2);
    expect(dry.json.fix.actions.map((a: { does: string }) => a.does).sort()).toEqual(
      [
        `PUT sys/leases/revoke/${dropped.leaseId}`,
        `PUT sys/leases/revoke/${outlived.leaseId}`,
        `SELECT keybuzz_vault.drop_user('${forced.username}', 'chatwoot-db')`,
        `SELECT keybuzz_vault.drop_user('${stuck.username}', 'keybuzz-api-db')`,
        "SELECT keybuzz_vault.drop_user('v-made-by-hand', 'keybuzz-api-db')",
      ].sort(),
    );
    expect(dry.json.fix.skipped.map((x: { why: string }) => x.why)).toEqual([
      `in database "postgres", beyond the revocation function's reach: a superuser ends it (SELECT pg_terminate_backend(${pid}))`,
    ]);
    expect(dry.json.fix.applied).toBeUndefined();
    expect(await state()).toEqual(before);

    // the audit's token may not fix: Vault refuses the revocations, nothing is dropped without the fix role.
    const refused = await leases(["--fix", "--apply"]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/FAILED: PUT sys\/leases\/revoke\/.*403 .*permission denied/);
    expect(refused.stderr).toMatch(/FAILED: SELECT keybuzz_vault\.drop_user\('v-made-by-hand'.*could not log in as leases-fix: .*403/);
    expect(await state()).toEqual(before);

    // what the report leaves to a person: the table that kept the revocation from dropping the user, the session.
    await env.pg.query(`DROP TABLE stuck_${process.pid}`);
    await env.pg.query("SELECT pg_terminate_backend($1)", [pid]);
    const fixed = await leases(["--fix", "--apply"], fixToken);
    env.log(`2. --fix --apply: exit ${fixed.code}; ${fixed.stderr.split("\n").filter((l) => /done|FAILED/.test(l)).length} action(s)`);
    expect(fixed.code, fixed.stderr).toBe(0);
    expect(fixed.json.fix.applied.every((a: { ok: boolean }) => a.ok)).toBe(true);

    const after = await leases();
    expect(after.code, after.stdout).toBe(0);
    expect(findings(after)).toEqual([]);
    expect(await env.dynamicRoles()).toEqual([]);
    expect(await allLeases()).toEqual([]);
    const [{ n }] = await env.pg.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = $1", [pid]);
    expect(n).toBe(0);
    record(`faults-${key}`, {
      server: env.vault.label,
      made: made.length,
      reported: findings(found).length,
      fixActions: dry.json.fix.actions.length,
      leftToAPerson: dry.json.fix.skipped.length,
      applied: fixed.json.fix.applied.length,
      findingsAfterwards: findings(after).length,
    });
  });

  it("3. what it leaves to a person: another application's role, an expired user still in session, a broken connection", async () => {
    const foreign = await env.issue("workers-db");
    await env.pg.query(`GRANT chatwoot TO "${foreign.username}"`);
    const expired = await env.issue("keybuzz-api-db");
    await session(expired);
    await env.pg.query(`ALTER ROLE "${expired.username}" VALID UNTIL '2001-01-01'`);
    await sleep(11_000);

    const found = await leases(["--fix"]);
    expect(found.code).toBe(2);
    expect(findings(found)).toEqual([`expired_user_with_sessions ${expired.username}`, `foreign_membership ${foreign.username}`].sort());
    expect(found.json.fix.actions).toEqual([]);
    expect(found.json.fix.skipped.map((s: { why: string }) => s.why).sort()).toEqual([
      "a role was granted by hand: revoke it, or revoke the user's lease",
      "its lease should end it: look at why Vault did not revoke it",
    ]);
    const before = await state();
    const applied = await leases(["--fix", "--apply"], fixToken);
    expect(applied.code).toBe(2);
    expect(await state()).toEqual(before);

    // Vault's connection broken: vault_admin may no longer log in, its pooled sessions are gone.
    await env.pg.query("ALTER ROLE vault_admin NOLOGIN");
    await env.pg.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'vault_admin'");
    try {
      const broken = await leases();
      env.log(`3. connection broken: exit ${broken.code}; probe: ${broken.json.probe.error}`);
      expect(broken.code).toBe(2);
      expect(broken.json.probe.ok).toBe(false);
      expect(broken.json.probe.error).toMatch(/database\/creds\/leases-probe: 500 [\s\S]*"vault_admin" is not permitted to log in/);
      expect(broken.json.postgresChecked).toBe(false);
      expect(findings(broken)).toEqual(["probe_failed probe"]);
      const table = await leases(["--format", "table"]);
      expect(table.stdout).toMatch(/health: FAILED, Vault could not issue a probe credential: [\s\S]*not permitted to log in/);
      expect(table.stdout).toMatch(/PostgreSQL: not checked \([\s\S]*leases-audit: 500/);
      const prom = await leases(["--format", "prometheus"]);
      expect(prom.stdout).toMatch(/^keybuzz_leases_probe_success\{environment="local"\} 0$/m);
      expect(prom.stdout).toMatch(/^keybuzz_leases_postgres_checked\{environment="local"\} 0$/m);
      expect(prom.stdout).toMatch(/^keybuzz_leases_findings\{environment="local",application="",kind="probe_failed"\} 1$/m);
    } finally {
      await env.pg.query("ALTER ROLE vault_admin LOGIN");
    }
    await env.revoke(foreign.leaseId);
    await env.revoke(expired.leaseId);
    const clean = await leases();
    expect(clean.code, clean.stdout).toBe(0);
  });

  it("4. the audit's access, attacked: its token reads lease metadata of this mount only; its users can do nothing else", async () => {
    const app = await env.issue("chatwoot-db");
    const as = (token: string) => (method: string, path: string, body?: unknown) => env.v(method, path, body, token).then((r) => r.status);
    const audit = as(auditToken);
    const fix = as(fixToken);
    // credentials of an application, another mount's lease, another application's lease: refused.
    expect(await audit("GET", "database/creds/chatwoot-db")).toBe(403);
    expect(await fix("GET", "database/creds/chatwoot-db")).toBe(403);
    expect(await audit("PUT", "sys/leases/lookup", { lease_id: app.leaseId })).toBe(200);
    expect(await audit("PUT", "sys/leases/lookup", { lease_id: "auth/token/create/abc" })).toBe(403);
    expect(await audit("PUT", `sys/leases/revoke/${app.leaseId}`)).toBe(403);
    expect(await audit("PUT", "sys/leases/revoke", { lease_id: app.leaseId })).toBe(403);
    expect(await fix("PUT", "sys/leases/revoke", { lease_id: app.leaseId })).toBe(403);
    expect(await audit("GET", "sys/leases/lookup/auth/?list=true")).toBe(403);
    expect(await audit("PUT", "sys/leases/revoke-force/database/creds/chatwoot-db")).toBe(403);
    expect(await fix("PUT", "sys/leases/revoke-prefix/database/creds/chatwoot-db")).toBe(403);
    expect(await audit("GET", "database/roles/chatwoot-db")).toBe(403);
    expect((await env.outstandingLeases("chatwoot-db")).length).toBe(1);

    // in PostgreSQL: the catalog says what each of the audit's users holds.
    const issued = {
      probe: await env.issue(LEASE_AUDIT_NAMES.probeRole),
      audit: await env.issue(LEASE_AUDIT_NAMES.auditRole),
      fix: await env.issue(LEASE_AUDIT_NAMES.fixRole),
    };
    const can = async (user: string) =>
      (
        await env.pg.query<{ r: string }>(
          `SELECT format('connect=%s drop_user=%s create_user=%s renew_user=%s schema=%s api_schema=%s stats=%s orphans=%s superuser=%s createrole=%s',
             has_database_privilege($1, $2, 'CONNECT'), has_function_privilege($1, 'keybuzz_vault.drop_user(text,text)', 'EXECUTE'),
             has_function_privilege($1, 'keybuzz_vault.create_user(text,text,text,text)', 'EXECUTE'),
             has_function_privilege($1, 'keybuzz_vault.renew_user(text,text)', 'EXECUTE'),
             has_schema_privilege($1, 'keybuzz_vault', 'USAGE'), has_schema_privilege($1, 'keybuzz_api', 'USAGE'),
             pg_has_role($1, 'pg_read_all_stats', 'MEMBER'),
             has_schema_privilege($1, 'keybuzz_leases', 'USAGE') AND has_function_privilege($1, 'keybuzz_leases.orphan_sessions()', 'EXECUTE'),
             r.rolsuper, r.rolcreaterole) AS r FROM pg_roles r WHERE r.rolname = $1`,
          [user, env.databaseName],
          env.databaseName,
        )
      )[0].r;
    expect(await can(issued.probe.username)).toBe(
      "connect=f drop_user=f create_user=f renew_user=f schema=f api_schema=f stats=f orphans=f superuser=f createrole=f",
    );
    expect(await can(issued.audit.username)).toBe(
      "connect=t drop_user=f create_user=f renew_user=f schema=f api_schema=f stats=f orphans=t superuser=f createrole=f",
    );
    expect(await can(issued.fix.username)).toBe(
      "connect=t drop_user=t create_user=f renew_user=f schema=t api_schema=f stats=f orphans=t superuser=f createrole=f",
    );
    // and an application's user may not ask which sessions are orphaned.
    expect(await can(app.username)).toMatch(/ stats=f orphans=f /);

    // the audit's user sees which role holds a session, never what it runs: the statement an application is running,
    // its data, stays hidden (no pg_read_all_stats), and the function tells of orphaned sessions only.
    const running = await session(app);
    const reader = await session(issued.audit);
    const statement = running.query("SELECT pg_sleep(3) AS secret_marker_of_chatwoot");
    await sleep(500); // the statement is running now
    const seen = (
      await reader.query<{ usename: string; query: string; backend_start: Date | null }>(
        "SELECT usename, query, backend_start FROM pg_stat_activity WHERE usename = $1",
        [app.username],
      )
    ).rows;
    expect(seen).toEqual([{ usename: app.username, query: "<insufficient privilege>", backend_start: null }]);
    // the control: the same view read by the superuser shows the statement, so the one above was running.
    const [{ query: runningNow }] = await env.pg.query<{ query: string }>("SELECT query FROM pg_stat_activity WHERE usename = $1", [app.username]);
    expect(runningNow).toContain("secret_marker_of_chatwoot");
    const orphans = (await reader.query<{ s: unknown[] }>("SELECT keybuzz_leases.orphan_sessions() AS s")).rows[0].s;
    expect(JSON.stringify(orphans)).not.toContain("secret_marker");
    expect(orphans).toEqual([]);
    await reader.end();
    await statement;
    await running.end();
    expect(await env.pg.tryLogin(env.databaseName, issued.probe.username, issued.probe.password)).toMatchObject({ ok: false });

    // the fix's user runs the revocation function, which drops only issued users of the role it names.
    const c = await session(issued.fix);
    await expect(c.query("SELECT keybuzz_vault.drop_user('vault_admin', 'chatwoot-db')")).rejects.toThrow(/is not a name Vault issues/);
    await expect(c.query(`SELECT keybuzz_vault.drop_user($1, 'keybuzz-api-db')`, [app.username])).rejects.toThrow(
      /is not a user of Vault role keybuzz-api-db/,
    );
    await expect(c.query("CREATE ROLE x")).rejects.toThrow(/permission denied/);
    await expect(c.query("CREATE TABLE keybuzz_api.x ()")).rejects.toThrow(/permission denied for schema keybuzz_api/);
    expect(await env.pg.tryLogin(env.databaseName, app.username, app.password)).toEqual({ ok: true });
    await c.end();
    for (const cr of [app, ...Object.values(issued)]) await env.revoke(cr.leaseId);
    expect(await env.dynamicRoles()).toEqual([]);
  });
});
