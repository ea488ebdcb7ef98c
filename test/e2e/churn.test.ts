/**
 * Lease churn: thousands of issue-then-revoke cycles against the deployed `local` stack (PostgreSQL 17 and
 * OpenBao, deployed by OpenTofu with both providers), at a fixed concurrency, with some users holding an open
 * session and owning objects at the moment they are revoked. Afterwards nothing may be left behind: no
 * `v-` role, no lease Vault still holds or gave up on, no object owned by anything but a base role.
 *
 * The figures (cycles, concurrency, time, rate, what was left) are printed as one block at the end and,
 * once the assertions pass, recorded for docs/reliability.md (fixture/figures.ts, `npm run figures`).
 * KEYBUZZ_CHURN_CYCLES changes the number of cycles for a quicker local run; CI runs the default.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Client } from "pg";
import { LocalDeployment, type Creds } from "../../harness/deployment";
import { pool } from "../../harness/processes";
import { recordFigures } from "./fixture/figures";
import { e2eToolchain } from "./fixture/toolchain";

const toolchain = await e2eToolchain(import.meta.url);

const CYCLES = Number(process.env.KEYBUZZ_CHURN_CYCLES ?? 5000);
const CONCURRENCY = 16;
/** Every SESSION_EVERY-th cycle logs in, creates two tables (one as the base role, one as itself) and stays connected. */
const SESSION_EVERY = 10;
const ROLES = [
  { vaultRole: "keybuzz-api-db", baseRole: "keybuzz_api", schema: "keybuzz_api" },
  { vaultRole: "chatwoot-db", baseRole: "chatwoot", schema: "chatwoot" },
  { vaultRole: "n8n-db", baseRole: "n8n", schema: "n8n" },
  { vaultRole: "workers-db", baseRole: "keybuzz_workers", schema: "keybuzz_workers" },
];

describe.skipIf(!toolchain)("lease churn: issue-then-revoke cycles leave nothing behind", () => {
  let env: LocalDeployment;

  beforeAll(async () => {
    env = await LocalDeployment.start({
      server: toolchain!.postgres.at(-1)!,
      vaultBinary: toolchain!.bao,
      tools: { engine: toolchain!.tofu, cliConfig: toolchain!.cliConfig },
      log: "[e2e churn]",
    });
    await env.deploy();
  });

  afterAll(async () => {
    await env?.stop();
  });

  it(`${CYCLES} cycles at concurrency ${CONCURRENCY}: zero roles, leases or stray objects left`, async () => {
    const failures: string[] = [];
    const durations: number[] = [];
    let sessions = 0;
    let terminatedSessions = 0;
    let done = 0;
    const started = Date.now();
    env.log(`${CYCLES} issue-then-revoke cycles, ${CONCURRENCY} at a time; every ${SESSION_EVERY}th user holds a session and owns tables`);

    const cycle = async (i: number): Promise<void> => {
      const role = ROLES[i % ROLES.length];
      const t0 = performance.now();
      let creds: Creds;
      try {
        creds = await env.issue(role.vaultRole);
      } catch (err) {
        failures.push(`issue #${i}: ${(err as Error).message}`);
        return;
      }
      let client: Client | undefined;
      if (i % SESSION_EVERY === 0) {
        client = env.pg.client(env.databaseName, creds.username, creds.password);
        client.on("error", () => undefined); // revocation terminates this session on purpose
        try {
          await client.connect();
          await client.query(`CREATE TABLE ${role.schema}.churn_base_${i} (id int)`); // owned by the base role (SET role)
          await client.query("SET ROLE NONE");
          await client.query(`CREATE TABLE ${role.schema}.churn_self_${i} (id int)`); // owned by the v- user itself
          sessions++;
        } catch (err) {
          failures.push(`session #${i} (${creds.username}): ${(err as Error).message}`);
        }
      }
      try {
        await env.revoke(creds.leaseId);
      } catch (err) {
        failures.push(`revoke #${i} (${creds.username}): ${(err as Error).message}`);
      }
      if (client) {
        // the revocation must have ended the session: a query on it fails.
        const alive = await client.query("SELECT 1").then(
          () => true,
          () => false,
        );
        if (alive) failures.push(`session #${i} (${creds.username}) still usable after revocation`);
        else terminatedSessions++;
        await client.end().catch(() => undefined);
      }
      durations.push(performance.now() - t0);
      if (++done % 500 === 0) env.log(`${done}/${CYCLES} cycles, ${((Date.now() - started) / 1000).toFixed(1)} s`);
    };

    await pool(CYCLES, CONCURRENCY, cycle);
    const seconds = (Date.now() - started) / 1000;

    const rolesLeft = await env.dynamicRoles();
    const leasesLeft = (await Promise.all(ROLES.map((r) => env.outstandingLeases(r.vaultRole)))).flat();
    const irrevocable = await env.irrevocableLeases();
    const stray = await env.strayObjects();
    const churnTables = await env.pg.query<{ owner: string; n: number }>(
      "SELECT tableowner AS owner, count(*)::int AS n FROM pg_tables WHERE tablename LIKE 'churn\\_%' GROUP BY 1 ORDER BY 1",
      [],
      env.databaseName,
    );
    const ownedByBase = churnTables.filter((t) => ROLES.some((r) => r.baseRole === t.owner)).reduce((s, t) => s + t.n, 0);
    durations.sort((a, b) => a - b);
    const pct = (p: number) => durations[Math.min(durations.length - 1, Math.floor(p * durations.length))]?.toFixed(0);

    process.stderr.write(
      [
        "",
        "[e2e churn] ── figures ───────────────────────────────────────────",
        `[e2e churn] servers:                 PostgreSQL ${env.pg.version} (least-privilege vault_admin), ${env.vault.label} dev server`,
        `[e2e churn] cycles:                  ${CYCLES} issue-then-revoke, concurrency ${CONCURRENCY}`,
        `[e2e churn] time:                    ${seconds.toFixed(1)} s (${(CYCLES / seconds).toFixed(0)} cycles/s; cycle p50 ${pct(0.5)} ms, p99 ${pct(0.99)} ms)`,
        `[e2e churn] users with open sessions ${sessions} (each owning 2 tables at revocation); sessions ended by revocation: ${terminatedSessions}`,
        `[e2e churn] failed cycles:           ${failures.length}`,
        `[e2e churn] v- roles left:           ${rolesLeft.length}`,
        `[e2e churn] leases still held:       ${leasesLeft.length} (irrevocable: ${irrevocable})`,
        `[e2e churn] tables created by users: ${churnTables.reduce((s, t) => s + t.n, 0)}, owned by base roles: ${ownedByBase}`,
        `[e2e churn] objects owned by no base/system role: ${stray.length}`,
        "",
      ].join("\n"),
    );

    expect(failures.slice(0, 5), `${failures.length} failures`).toEqual([]);
    expect(rolesLeft).toEqual([]);
    expect(leasesLeft).toEqual([]);
    expect(irrevocable).toBe(0);
    expect(stray).toEqual([]);
    const expectedSessions = Math.ceil(CYCLES / SESSION_EVERY);
    expect(sessions).toBe(expectedSessions);
    expect(terminatedSessions).toBe(expectedSessions);
    expect(ownedByBase).toBe(2 * expectedSessions);
    expect(churnTables.every((t) => ROLES.some((r) => r.baseRole === t.owner))).toBe(true);
    recordFigures("churn", {
      postgres: env.pg.serverVersion.split(" ").slice(0, 2).join(" "), // "PostgreSQL 17.x"
      server: env.vault.label,
      cycles: CYCLES,
      concurrency: CONCURRENCY,
      seconds,
      cyclesPerSecond: CYCLES / seconds,
      cycleP50Ms: Number(pct(0.5)),
      cycleP99Ms: Number(pct(0.99)),
      sessions,
      sessionsEndedByRevocation: terminatedSessions,
      failedCycles: failures.length,
      rolesLeft: rolesLeft.length,
      leasesLeft: leasesLeft.length,
      irrevocable,
      tablesCreated: churnTables.reduce((s, t) => s + t.n, 0),
      tablesOwnedByBaseRoles: ownedByBase,
      strayObjects: stray.length,
    });
  }, 1_800_000);
});
