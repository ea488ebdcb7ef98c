/**
 * Restarts and outages, against the deployed `local` stack (PostgreSQL 17, OpenBao) with a persistent
 * server (file storage, initialized and unsealed like a production server, so a restart keeps its leases):
 *
 * 1. Vault restarted in the middle of issue-then-revoke churn, with other leases outstanding: once it
 *    is back and unsealed, every cycle completes and the outstanding leases are revoked when they expire. A
 *    user Vault created as it stopped, but never registered a lease for, is reported by `npm run leases`
 *    and dropped by its fix.
 * 2. PostgreSQL stopped while leases expire: Vault's revocations fail, the leases stay pending (not
 *    irrevocable), and once PostgreSQL returns Vault's own retries drop every user.
 * 3. A change deployed while Vault is down, then while PostgreSQL is down: tofu fails with an error that
 *    names the server that is down; what did not get applied is reported by the next plan; once the
 *    server is back, apply completes and the plan is clean.
 *
 * Nothing here shortens Vault's retry schedule: the first retry of a failed revocation comes 10 to 30 s
 * later (vault/expiration.go, revokeExponentialBackoff), which is what bounds this suite's waits.
 *
 * Each part's figures, once its assertions pass, go to test-results/figures/outages.json for
 * docs/reliability.md (fixture/figures.ts, `npm run figures`).
 */
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LocalDeployment, type Creds } from "../../harness/deployment";
import { waitFor } from "../../harness/processes";
import { figureParts } from "./fixture/figures";
import { auditTokens, findingLines, runLeases } from "./fixture/leases";
import { LOCAL_VAULT_ROLES } from "./fixture/servers";
import { e2eToolchain } from "./fixture/toolchain";

const toolchain = await e2eToolchain(import.meta.url);
/** What each part measured, written after each part. */
const record = figureParts("outages");

describe.skipIf(!toolchain)("restarts and outages: leases still revoke, deploys fail loudly", () => {
  let env: LocalDeployment;

  beforeAll(async () => {
    env = await LocalDeployment.start({
      server: toolchain!.postgres.at(-1)!,
      vaultBinary: toolchain!.bao,
      tools: { engine: toolchain!.tofu, cliConfig: toolchain!.cliConfig },
      vault: { persistent: true },
      log: "[e2e outages]",
      // the suite holds up to 100 leases at once on purpose (25 per application): budgets sized for that load, so
      // that the audits below report what the outages did, not the load.
      patchConfig: (config) => {
        for (const a of config.applications) a.leaseBudget = 100;
      },
    });
    await env.deploy();
  });

  afterAll(async () => {
    await env?.stop();
  });

  /** Waits until no v- role, no outstanding lease and no irrevocable lease is left; returns the seconds it took. */
  async function settled(what: string, timeoutMs: number): Promise<number> {
    const t0 = Date.now();
    await waitFor(
      what,
      async () => {
        const roles = await env.dynamicRoles();
        const leases = (await Promise.all(LOCAL_VAULT_ROLES.map((r) => env.outstandingLeases(r)))).flat();
        return roles.length === 0 && leases.length === 0;
      },
      timeoutMs,
    );
    expect(await env.irrevocableLeases()).toBe(0);
    expect(await env.strayObjects()).toEqual([]);
    return (Date.now() - t0) / 1000;
  }

  it("1. Vault restarted mid-churn: every cycle completes, outstanding leases revoke after it returns", async () => {
    const OUTSTANDING = 100;
    // long enough for them to outlive the issuing, the churn and two audits on a busy machine (20 s did not,
    // beside other suites): the check below needs them all still there.
    const TTL = 60;
    env.log(`1. issuing ${OUTSTANDING} leases with a ${TTL} s TTL, left to expire`);
    const outstanding: Creds[] = [];
    for (let i = 0; i < OUTSTANDING; i++) outstanding.push(await env.issue(LOCAL_VAULT_ROLES[i % LOCAL_VAULT_ROLES.length], { ttl: `${TTL}s` }));
    const issuedAt = Date.now();

    env.log(`1. churn at concurrency 8; ${env.vault.product} stopped (SIGTERM) after 2 s, back after 3 s`);
    let stop = false;
    let cycles = 0;
    let retried = 0;
    const withRetry = async <T>(call: () => Promise<T>): Promise<T> => {
      for (;;) {
        try {
          return await call();
        } catch {
          retried++; // Vault is down or sealed: an application retries
          await sleep(250);
        }
      }
    };
    const churn = Promise.all(
      Array.from({ length: 8 }, async (_, w) => {
        while (!stop) {
          const creds = await withRetry(() => env.issue(LOCAL_VAULT_ROLES[w % LOCAL_VAULT_ROLES.length]));
          await withRetry(() => env.revoke(creds.leaseId));
          cycles++;
        }
      }),
    );
    await sleep(2000);
    const before = cycles;
    await env.vault.pause();
    env.log(`1. ${env.vault.product} down after ${before} cycles`);
    await sleep(3000);
    await env.vault.resume();
    env.log(`1. ${env.vault.product} back and unsealed`);
    await sleep(2000);
    stop = true;
    await churn;
    env.log(`1. churn: ${cycles} cycles (${cycles - before} during and after the restart), ${retried} calls retried`);
    expect(retried).toBeGreaterThan(0);
    expect(cycles).toBeGreaterThan(before);

    // the restart may leave two kinds of extra user, at most one per worker: one whose lease Vault registered
    // but whose answer the stop cut (the worker asked again), ended with its lease; and one Vault created but
    // never registered a lease for, which nothing would ever drop (seen in 4 of 9 runs right after the HA
    // suite, none of 9 alone). the lease audit must report exactly the second kind, and its fix drop them.
    const keptLeases = new Set(outstanding.map((c) => c.leaseId));
    const all = await Promise.all(LOCAL_VAULT_ROLES.map(async (r) => (await env.outstandingLeases(r)).map((id) => `database/creds/${r}/${id}`)));
    const lost = all.flat().filter((id) => !keptLeases.has(id));
    for (const id of lost) await env.revoke(id);
    const keptUsers = new Set(outstanding.map((c) => c.username));
    const extra = (await env.dynamicRoles()).filter((u) => !keptUsers.has(u));
    env.log(
      `1. ${lost.length} lease(s) whose answer the restart cut (revoked); ${extra.length} user(s) with no lease: ${extra.join(", ") || "none"}`,
    );
    expect(lost.length + extra.length).toBeLessThanOrEqual(8);
    const tokens = await auditTokens(env);
    // the churn has stopped: nothing is in flight, so no grace is needed.
    const audit = await runLeases(env, ["--grace", "0s", "--fix"], tokens.audit);
    expect(findingLines(audit)).toEqual(extra.map((u) => `orphan_user ${u}`).sort());
    expect(audit.code, audit.stderr).toBe(extra.length ? 2 : 0);
    if (extra.length) {
      const fixed = await runLeases(env, ["--grace", "0s", "--fix", "--apply"], tokens.fix);
      expect(fixed.code, fixed.stderr).toBe(0);
    }
    // only the users of the leases left to expire remain, nothing from the churn.
    expect(Date.now() - issuedAt, `the ${OUTSTANDING} leases of ${TTL} s must still be outstanding here`).toBeLessThan(TTL * 1000);
    expect((await env.dynamicRoles()).sort()).toEqual(outstanding.map((c) => c.username).sort());
    const waitMs = Math.max(0, issuedAt + TTL * 1000 - Date.now());
    env.log(`1. waiting for the ${OUTSTANDING} outstanding leases to expire (${(waitMs / 1000).toFixed(0)} s) and be revoked`);
    const took = await settled("the outstanding leases to be revoked after the restart", waitMs + 120_000);
    env.log(`1. all ${OUTSTANDING} outstanding leases revoked ${took.toFixed(1)} s after the wait began; 0 roles, 0 leases left`);
    record("restart", {
      server: env.vault.label,
      outstanding: OUTSTANDING,
      ttlSeconds: TTL,
      concurrency: 8,
      downSeconds: 3,
      cycles,
      cyclesDuringAndAfter: cycles - before,
      retried,
      leasesCut: lost.length,
      orphanUsers: extra.length,
      waitedForExpirySeconds: waitMs / 1000,
      outstandingRevokedSecondsAfterWait: took,
    });
  });

  it("2. PostgreSQL down while leases expire: Vault's retries finish the revocations once it returns", async () => {
    const LEASES = 50;
    // every lease must still be outstanding when PostgreSQL stops: issuing 50 took more than 3 s beside other
    // suites, and the first ones expired (and were revoked) before the stop.
    const TTL = 15;
    env.log(`2. issuing ${LEASES} leases with a ${TTL} s TTL, then stopping PostgreSQL`);
    const firstIssued = Date.now();
    for (let i = 0; i < LEASES; i++) await env.issue(LOCAL_VAULT_ROLES[i % LOCAL_VAULT_ROLES.length], { ttl: `${TTL}s` });
    const lastIssued = Date.now();
    await env.pg.pause();
    const pausedAt = Date.now();
    let downSeconds = 0;
    let pending: string[] = [];
    let irrevocable = -1;
    try {
      expect(Date.now() - firstIssued, `PostgreSQL must stop before the first of the ${TTL} s leases expires`).toBeLessThan(TTL * 1000);
      const downFor = lastIssued + (TTL + 5) * 1000 - Date.now();
      env.log(`2. PostgreSQL down; waiting ${(downFor / 1000).toFixed(0)} s for the leases to expire and their revocations to fail`);
      await sleep(downFor);
      pending = (await Promise.all(LOCAL_VAULT_ROLES.map((r) => env.outstandingLeases(r)))).flat();
      irrevocable = await env.irrevocableLeases();
      env.log(`2. while down: ${pending.length} leases pending revocation, ${irrevocable} irrevocable`);
      expect(pending.length).toBe(LEASES);
      expect(irrevocable).toBe(0);
      expect(env.vault.log).toMatch(/failed to revoke lease/);
    } finally {
      // back even when an assertion failed, so that the next parts find the server they expect.
      downSeconds = Math.round((Date.now() - pausedAt) / 100) / 10;
      await env.pg.resume();
    }
    env.log("2. PostgreSQL back; waiting for Vault's own retries (first retry 10-30 s after a failure)");
    const took = await settled("Vault to retry the revocations", 180_000);
    env.log(`2. all ${LEASES} users dropped ${took.toFixed(1)} s after PostgreSQL returned; 0 roles, 0 leases left`);
    record("postgresDown", {
      postgres: env.pg.serverVersion.split(" ").slice(0, 2).join(" "),
      leases: LEASES,
      ttlSeconds: TTL,
      downSeconds,
      pending: pending.length,
      irrevocable,
      droppedSecondsAfterReturn: took,
    });
  });

  it("3a. a deploy while Vault is down names Vault; the next plan reports what is left; then it completes", async () => {
    await env.synth((c) => {
      c.applications.find((a: { name: string }) => a.name === "n8n").maxTtl = 43200;
    });
    await env.vault.pause();
    env.log(`3a. ${env.vault.product} down; tofu apply`);
    const failed = await env.terraform(["apply", "-auto-approve", "-input=false"]);
    env.log(
      `3a. tofu exited ${failed.code}: ${failed.output
        .split("\n")
        .filter((l) => /Error/.test(l))
        .slice(0, 3)
        .join(" | ")}`,
    );
    expect(failed.code).toBe(1);
    expect(failed.output).toContain(env.vault.address.replace("http://", ""));
    expect(failed.output).toMatch(/connection refused/);
    await env.vault.resume();
    const plan = await env.terraform(["plan", "-detailed-exitcode", "-input=false"]);
    expect(plan.code, plan.output).toBe(2);
    expect(plan.output).toMatch(/vault_database_secret_backend_role\.[^ ]*n8n[^ ]* will be updated in-place/);
    await env.terraformOk(["apply", "-auto-approve", "-input=false"]);
    const clean = await env.terraform(["plan", "-detailed-exitcode", "-input=false"]);
    expect(clean.code, clean.output).toBe(0);
    expect((await env.v("GET", "database/roles/n8n-db")).body.data.max_ttl).toBe(43200);
    record("deployVaultDown", { exitCode: failed.code, planAfterwards: plan.code, planInTheEnd: clean.code });
  });

  it("3b. a deploy while PostgreSQL is down names PostgreSQL; once it is back the plan shows what is left", async () => {
    await env.synth((c) => {
      c.connection = { ...(c.connection ?? {}), maxOpenConnections: 3, maxIdleConnections: 3 };
    });
    await env.pg.pause();
    env.log("3b. PostgreSQL down; tofu apply");
    const failed = await env.terraform(["apply", "-auto-approve", "-input=false"]);
    env.log(
      `3b. tofu exited ${failed.code}: ${failed.output
        .split("\n")
        .filter((l) => /Error|dial|refused/.test(l))
        .slice(0, 3)
        .join(" | ")}`,
    );
    expect(failed.code).toBe(1);
    expect(failed.output).toContain(`127.0.0.1:${env.pg.port}`);
    expect(failed.output).toMatch(/connection refused/);
    expect(failed.output).not.toContain(env.adminPassword);
    // the postgresql provider reads its resources back before planning: no plan while PostgreSQL is down.
    const blind = await env.terraform(["plan", "-detailed-exitcode", "-input=false"]);
    expect(blind.code, blind.output).toBe(1);
    expect(blind.output).toContain(`127.0.0.1:${env.pg.port}`);
    await env.pg.resume();
    const plan = await env.terraform(["plan", "-detailed-exitcode", "-input=false"]);
    expect(plan.code, plan.output).toBe(2);
    expect(plan.output).toMatch(/vault_database_secrets_mount\.[^ ]+ will be updated in-place/);
    await env.terraformOk(["apply", "-auto-approve", "-input=false"]);
    const clean = await env.terraform(["plan", "-detailed-exitcode", "-input=false"]);
    expect(clean.code, clean.output).toBe(0);
    const conn = (await env.v("GET", "database/config/keybuzz-postgres")).body.data;
    expect(conn.connection_details.max_open_connections).toBe(3);
    const creds = await env.issue("keybuzz-api-db");
    expect(await env.pg.tryLogin(env.databaseName, creds.username, creds.password)).toEqual({ ok: true });
    await env.revoke(creds.leaseId);
    record("deployPostgresDown", { exitCode: failed.code, planWhileDown: blind.code, planAfterwards: plan.code, planInTheEnd: clean.code });
  });
});
