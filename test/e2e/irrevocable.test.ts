/**
 * A lease Vault gives up revoking, made for real, and what `npm run leases` says of it: PostgreSQL down longer
 * than the server's six attempts to revoke an expired lease (retries 20, 40, 80, 160 and 320 s apart, each
 * ±50 %: 5 to 15.5 minutes), on OpenBao and on HashiCorp Vault at once, each with its own PostgreSQL 15.
 *
 * 1. The `local` stack deployed; a Chatwoot credential whose lease is shortened to a few seconds; PostgreSQL
 *    stopped before it expires.
 * 2. While PostgreSQL is down the audit says so: the probe fails, PostgreSQL is not read, the lease counts as
 *    pending (exit 2).
 * 3. The server's retries run out: it lists the lease as irrevocable.
 * 4. PostgreSQL back: the audit reports exactly that lease, with the server's last error, in every format; its
 *    user is still there and paired with it (no orphan); `--fix --apply` leaves it to a person and changes
 *    nothing.
 * 5. What the report tells the operator to do, revoking the lease again, drops the user: the next audit is clean.
 *
 * The longest suite, about 12 minutes, nearly all of it the server's own clock: both servers wait at once, and
 * nothing can shorten Vault's retry schedule from outside. The figures, once the assertions pass, go to
 * test-results/figures/irrevocable.json.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, describe, expect, it } from "vitest";
import { LocalDeployment } from "../../harness/deployment";
import { figureParts } from "./fixture/figures";
import { auditTokens, findingLines, runLeases } from "./fixture/leases";
import { VAULT_SERVERS } from "./fixture/servers";
import { e2eToolchain } from "./fixture/toolchain";

const toolchain = await e2eToolchain(import.meta.url);
const record = figureParts("irrevocable");
/** Six failed attempts take at most 1.5 × (20 + 40 + 80 + 160 + 320) s after the expiry; a minute more for slack. */
const GIVE_UP_WITHIN_MS = (1.5 * 620 + 60) * 1000;
const LEASE_TTL_SECONDS = 5;

describe.skipIf(!toolchain)("a lease the server gave up revoking, reported by npm run leases", () => {
  const envs: LocalDeployment[] = [];
  afterAll(async () => {
    await Promise.all(envs.map((e) => e.stop()));
  });

  it.concurrent.each(VAULT_SERVERS)(
    "$label: PostgreSQL down until the server gives up; reported, left to a person, then revoked by hand",
    async ({ key }) => {
      const env = await LocalDeployment.start({
        server: toolchain!.postgres[0],
        vaultBinary: toolchain![key],
        tools: { engine: toolchain!.tofu, cliConfig: toolchain!.cliConfig },
        log: `[e2e irrevocable ${key}]`,
      });
      envs.push(env);
      await env.deploy();
      const tokens = await auditTokens(env);
      const leases = (args: string[] = [], token = tokens.audit) => runLeases(env, args, token);

      // 1. a credential whose lease ends in a few seconds, and PostgreSQL down before it does.
      const creds = await env.issue("chatwoot-db", { ttl: `${LEASE_TTL_SECONDS}s` });
      await env.pg.pause();
      const downAt = Date.now();
      let restarted = false;
      try {
        await sleep((LEASE_TTL_SECONDS + 2) * 1000);

        // 2. while it is down.
        const down = await leases();
        env.log(`2. PostgreSQL down: exit ${down.code}; ${findingLines(down).join(" | ")}`);
        expect(down.code, down.stderr).toBe(2);
        expect(findingLines(down)).toEqual(["probe_failed probe"]);
        expect(down.json.postgresChecked).toBe(false);
        expect(down.json.applications.find((a: { application: string }) => a.application === "chatwoot")).toMatchObject({
          active: 0,
          pending: 1,
          irrevocable: 0,
        });

        // 3. the server's own retries, until it gives up.
        let minute = 0;
        while ((await env.irrevocableLeases()) === 0) {
          const waited = Date.now() - downAt;
          if (waited > GIVE_UP_WITHIN_MS) throw new Error(`${env.vault.label} still retries the lease after ${Math.round(waited / 1000)} s`);
          if (waited / 60_000 >= minute + 1) env.log(`3. ${++minute} min since PostgreSQL stopped: the lease is still retried`);
          await sleep(5_000);
        }
        const gaveUpAfter = (Date.now() - downAt) / 1000;
        env.log(`3. ${env.vault.label} marked the lease irrevocable ${gaveUpAfter.toFixed(0)} s after PostgreSQL stopped`);
        const listed = await env.v("GET", "sys/leases?type=irrevocable&limit=none");
        expect(listed.status).toBe(200);
        const [entry] = listed.body.data.leases as { lease_id: string; error: string }[];
        expect(entry.lease_id).toBe(creds.leaseId);
        expect(entry.error).toMatch(/connect|refused/);

        // 4. PostgreSQL back: reported, its user still there and paired with it.
        await env.pg.resume();
        restarted = true;
        expect(await env.dynamicRoles()).toEqual([creds.username]);
        const found = await leases(["--fix"]);
        env.log(`4. audit: exit ${found.code}; ${findingLines(found).join(" | ")}`);
        expect(found.code, found.stderr).toBe(2);
        expect(findingLines(found)).toEqual([`irrevocable_lease ${creds.leaseId}`]);
        expect(found.json.findings[0]).toMatchObject({ application: "chatwoot", detail: `Vault gave up revoking it: ${entry.error}`, certain: true });
        expect(found.json.applications.find((a: { application: string }) => a.application === "chatwoot")).toMatchObject({
          active: 0,
          pending: 0,
          irrevocable: 1,
          users: 1,
        });
        expect(found.json.fix.actions).toEqual([]);
        expect(found.json.fix.skipped.map((s: { why: string }) => s.why)).toEqual([
          "Vault gave up: once the cause is fixed, revoke it again; forcing it (-force) leaves its user, which the next audit reports",
        ]);
        const table = await leases(["--format", "table"]);
        // leases 0, budget 4, expiring 0, renewable 0, not renewable 0, pending 0, irrevocable 1, users 1.
        expect(table.stdout).toMatch(/^chatwoot\s+chatwoot-db\s+0\s+4\s+0\s+0\s+0\s+0\s+1\s+1$/m);
        expect(table.stdout).toMatch(new RegExp(`^  irrevocable lease +chatwoot +${creds.leaseId.replace(/[/.]/g, "\\$&")} +Vault gave up`, "m"));
        const prom = await leases(["--format", "prometheus"]);
        expect(prom.stdout).toMatch(/^keybuzz_leases_irrevocable\{environment="local",application="chatwoot",vault_role="chatwoot-db"\} 1$/m);
        expect(prom.stdout).toMatch(/^keybuzz_leases_findings\{environment="local",application="chatwoot",kind="irrevocable_lease"\} 1$/m);
        const applied = await leases(["--fix", "--apply"], tokens.fix);
        expect(applied.code).toBe(2);
        expect(await env.dynamicRoles()).toEqual([creds.username]);
        expect(await env.irrevocableLeases()).toBe(1);

        // 5. the operator revokes it again, now that PostgreSQL answers.
        await env.revoke(creds.leaseId);
        expect(await env.dynamicRoles()).toEqual([]);
        expect(await env.irrevocableLeases()).toBe(0);
        const clean = await leases();
        expect(clean.code, clean.stdout).toBe(0);
        expect(findingLines(clean)).toEqual([]);
        record(key, {
          server: env.vault.label,
          postgres: env.pg.serverVersion.split(" ").slice(0, 2).join(" "),
          gaveUpAfterSeconds: gaveUpAfter,
          lastError: entry.error,
        });
      } finally {
        if (!restarted) await env.pg.resume().catch(() => undefined);
      }
    },
    GIVE_UP_WITHIN_MS + 300_000, // the wait, plus deploying, auditing and cleaning up
  );
});
