import { describe, expect, it } from "vitest";
import type { FixOutcome, FixPlan } from "../../leases/fix";
import type { AuditedApplication, Inventory, IssuedUser, Lease } from "../../leases/model";
import { type AuditRun, EXIT, type RunIo, type RunOptions, runAudit } from "../../leases/run";
import type { Target } from "../../leases/target";
import { VaultClient } from "../../leases/vault-client";

const APPS: AuditedApplication[] = [{ name: "chatwoot", vaultRole: "chatwoot-db", allowedRoles: ["chatwoot"] }];
/** Never reached: every test hands runAudit its own readings. */
const TARGET: Target = {
  environment: "local",
  vault: new VaultClient("http://127.0.0.1:9", "t"),
  mountPath: "database",
  functionsSchema: "creds_fn",
  postgres: { host: "127.0.0.1", port: 5432, database: "keybuzz", sslmode: "disable" },
  applications: APPS,
};
const NOW = 1_800_000_000;
const OPTIONS: RunOptions = { expiringWindowSeconds: 900, graceSeconds: 10 };

/** A user no lease holds (a name Vault did not generate): an orphan, certain, of chatwoot by its login role. */
function orphan(name: string, memberOf: string[] = ["chatwoot"]): IssuedUser {
  return { name, canLogin: true, validUntil: null, memberOf, sessions: 0 };
}
function inventory(users: IssuedUser[], extra: Partial<Inventory> = {}): Inventory {
  return { now: NOW, leases: [], irrevocable: [], probe: { ok: true, ms: 20 }, postgres: { users, orphanSessions: [] }, ...extra };
}

/** Readings handed out in turn (an Error is thrown), and what runAudit did, in order. */
function fake(readings: (Inventory | Error)[], outcome: (plan: FixPlan) => FixOutcome[] = (p) => p.actions.map((action) => ({ action, ok: true }))) {
  const calls: string[] = [];
  const known: (ReadonlyMap<string, Lease> | undefined)[] = [];
  const plans: FixPlan[] = [];
  const progress: string[] = [];
  let time = 5_000;
  const io: RunIo = {
    readInventory: async (_t, k) => {
      calls.push("read");
      known.push(k);
      const next = readings.shift();
      if (!next) throw new Error("read once too often");
      if (next instanceof Error) throw next;
      return next;
    },
    applyFixes: async (_t, plan) => {
      calls.push("apply");
      plans.push(plan);
      return outcome(plan);
    },
    pause: async () => {
      calls.push("pause");
    },
    clock: () => (time += 1_250),
    progress: (m) => progress.push(m),
  };
  return { io, calls, known, plans, progress };
}

/** The run's report, failing the test when it could not look. */
function looked(run: AuditRun) {
  if (!run.looked) throw new Error(`could not look: ${run.error}`);
  return run;
}
const subjects = (run: AuditRun) => looked(run).report.findings.map((f) => `${f.kind} ${f.subject}`);

describe("runAudit, reading", () => {
  it("reads once and exits 0 when the first reading finds nothing", async () => {
    const { io, calls } = fake([inventory([])]);
    const run = looked(await runAudit(TARGET, OPTIONS, io));
    expect(calls).toEqual(["read"]);
    expect(run.report.findings).toEqual([]);
    expect(run.exitCode).toBe(EXIT.healthy);
    expect(run.plan).toBeUndefined();
    expect(run.applied).toBeUndefined();
  });

  it("reads again after a pause, reusing the first reading's lease lookups, when it finds something", async () => {
    const lease: Lease = {
      id: "database/creds/chatwoot-db/a",
      vaultRole: "chatwoot-db",
      issueTime: NOW - 60,
      expireTime: NOW + 3000,
      renewable: true,
    };
    const { io, calls, known } = fake([inventory([orphan("v-hand-made")], { leases: [lease] }), inventory([orphan("v-hand-made")])]);
    await runAudit(TARGET, OPTIONS, io);
    expect(calls).toEqual(["read", "pause", "read"]);
    expect(known[0]).toBeUndefined();
    expect([...(known[1]?.entries() ?? [])]).toEqual([[lease.id, lease]]);
  });

  it("does not report what the first reading found and the second no longer shows, nor what only the second shows", async () => {
    const { io } = fake([inventory([orphan("v-gone"), orphan("v-stays")]), inventory([orphan("v-stays"), orphan("v-new")])]);
    const run = await runAudit(TARGET, OPTIONS, io);
    expect(subjects(run)).toEqual(["orphan_user v-stays"]);
    expect(run.exitCode).toBe(EXIT.found);
  });

  it("exits 0 when no finding of the first reading is confirmed", async () => {
    const { io } = fake([inventory([orphan("v-gone")]), inventory([])]);
    const run = await runAudit(TARGET, OPTIONS, io);
    expect(subjects(run)).toEqual([]);
    expect(run.exitCode).toBe(EXIT.healthy);
  });

  it("reports the confirmed findings with the second reading's time and counts, and exits 2", async () => {
    const lease: Lease = {
      id: "database/creds/chatwoot-db/a",
      vaultRole: "chatwoot-db",
      issueTime: NOW - 60,
      expireTime: NOW + 600,
      renewable: false,
    };
    const { io } = fake([
      inventory([orphan("v-a", ["chatwoot", "pg_read_all_data"])]),
      inventory([orphan("v-a", ["chatwoot", "pg_read_all_data"])], { now: NOW + 1, leases: [lease] }),
    ]);
    const run = looked(await runAudit(TARGET, OPTIONS, io));
    expect(subjects(run)).toEqual(["orphan_user v-a", "foreign_membership v-a"]);
    expect(run.report).toMatchObject({
      environment: "local",
      checkedAt: new Date((NOW + 1) * 1000).toISOString(),
      expiringWindowSeconds: 900,
      probe: { ok: true, ms: 20 },
      postgresChecked: true,
    });
    expect(run.report.applications).toEqual([
      expect.objectContaining({ application: "chatwoot", active: 1, expiring: 1, nonRenewable: 1, users: 1 }),
    ]);
    expect(run.exitCode).toBe(EXIT.found);
  });

  it("times the run from before the first reading to after the last", async () => {
    const { io } = fake([inventory([])]);
    // the fake clock moves 1.25 s at each look.
    expect(looked(await runAudit(TARGET, OPTIONS, io)).report.durationSeconds).toBe(1.25);
  });

  it("reports PostgreSQL as not checked, with why, when the reading could not log in there", async () => {
    const { io } = fake([inventory([], { postgres: null, postgresError: "database/creds/leases-audit: 500 x" })]);
    const run = looked(await runAudit(TARGET, OPTIONS, io));
    expect(run.report.postgresChecked).toBe(false);
    expect(run.report.postgresError).toBe("database/creds/leases-audit: 500 x");
  });

  it("exits 1, not 0, when it found nothing but could not read PostgreSQL: half the picture is no all-clear", async () => {
    const notRead = { postgres: null, postgresError: "connect ECONNREFUSED 127.0.0.1:5432" };
    expect((await runAudit(TARGET, OPTIONS, fake([inventory([], notRead)]).io)).exitCode).toBe(EXIT.failed);
    expect((await runAudit(TARGET, { ...OPTIONS, fix: "apply" }, fake([inventory([], notRead)]).io)).exitCode).toBe(EXIT.failed);
    // what it did find still says so.
    const probeDown = inventory([], { ...notRead, probe: { ok: false, ms: 5, error: "500" } });
    expect((await runAudit(TARGET, OPTIONS, fake([probeDown, probeDown]).io)).exitCode).toBe(EXIT.found);
  });

  it("exits 1 with the error and no report when the first reading fails", async () => {
    const { io, calls } = fake([new Error("cannot reach Vault at http://127.0.0.1:9: connect ECONNREFUSED")]);
    const run = await runAudit(TARGET, { ...OPTIONS, fix: "apply" }, io);
    expect(run).toEqual({ looked: false, error: "cannot reach Vault at http://127.0.0.1:9: connect ECONNREFUSED", exitCode: EXIT.failed });
    expect(calls).toEqual(["read"]);
  });

  it("exits 1 with the error, and fixes nothing, when the confirming reading fails", async () => {
    const { io, calls } = fake([inventory([orphan("v-a")]), new Error("listing the leases of database/creds/chatwoot-db/: 403 permission denied")]);
    const run = await runAudit(TARGET, { ...OPTIONS, fix: "apply" }, io);
    expect(run).toEqual({ looked: false, error: "listing the leases of database/creds/chatwoot-db/: 403 permission denied", exitCode: EXIT.failed });
    expect(calls).toEqual(["read", "pause", "read"]);
  });

  it("says what it reads, that it reads again, and what it found", async () => {
    const { io, progress } = fake([inventory([orphan("v-a")]), inventory([orphan("v-a")])]);
    await runAudit(TARGET, OPTIONS, io);
    expect(progress).toEqual([
      "reading local: Vault http://127.0.0.1:9 (database), PostgreSQL 127.0.0.1:5432/keybuzz",
      "1 finding(s); reading again to confirm them",
      "0 lease(s), 1 issued user(s), 1 finding(s) in 1.3 s",
    ]);
  });
});

describe("runAudit, fixing", () => {
  it("without fix, plans nothing and applies nothing", async () => {
    const { io, calls } = fake([inventory([orphan("v-a")]), inventory([orphan("v-a")])]);
    const run = looked(await runAudit(TARGET, OPTIONS, io));
    expect(run.plan).toBeUndefined();
    expect(calls).not.toContain("apply");
  });

  it("with fix: plan (--fix without --apply), plans the confirmed findings' fixes in the target's schema, applies none, and exits 2", async () => {
    const { io, calls } = fake([inventory([orphan("v-a"), orphan("v-gone")]), inventory([orphan("v-a")])]);
    const run = looked(await runAudit(TARGET, { ...OPTIONS, fix: "plan" }, io));
    expect(run.plan?.actions.map((a) => a.does)).toEqual(["SELECT creds_fn.drop_user('v-a', 'chatwoot-db')"]);
    expect(run.applied).toBeUndefined();
    expect(calls).not.toContain("apply");
    expect(run.exitCode).toBe(EXIT.found);
  });

  it("with fix: apply, applies the plan of the confirmed findings only", async () => {
    const { io, plans } = fake([inventory([orphan("v-a"), orphan("v-gone")]), inventory([orphan("v-a")])]);
    const run = looked(await runAudit(TARGET, { ...OPTIONS, fix: "apply" }, io));
    expect(plans).toHaveLength(1);
    expect(plans[0]).toBe(run.plan);
    expect(plans[0].actions.map((a) => a.subject)).toEqual(["v-a"]);
    expect(run.applied?.map((a) => `${a.action.subject} ${a.ok}`)).toEqual(["v-a true"]);
  });

  it("with fix: apply, exits 0 when every action succeeded and no finding is left", async () => {
    const { io } = fake([inventory([orphan("v-a")]), inventory([orphan("v-a")])]);
    expect((await runAudit(TARGET, { ...OPTIONS, fix: "apply" }, io)).exitCode).toBe(EXIT.healthy);
  });

  it("with fix: apply, exits 2 when every action succeeded but a finding is left for a person", async () => {
    // the foreign membership is for a person; the orphan is dropped.
    const user = orphan("v-a", ["chatwoot", "pg_read_all_data"]);
    const { io } = fake([inventory([user]), inventory([user])]);
    const run = looked(await runAudit(TARGET, { ...OPTIONS, fix: "apply" }, io));
    expect(run.plan?.skipped.map((s) => s.finding.kind)).toEqual(["foreign_membership"]);
    expect(run.applied?.every((a) => a.ok)).toBe(true);
    expect(run.exitCode).toBe(EXIT.found);
  });

  it("with fix: apply, exits 1 when an action failed, even with findings left for a person", async () => {
    const user = orphan("v-a", ["chatwoot", "pg_read_all_data"]);
    const { io } = fake([inventory([user]), inventory([user])], (plan) =>
      plan.actions.map((action) => ({ action, ok: false, error: "permission denied" })),
    );
    const run = looked(await runAudit(TARGET, { ...OPTIONS, fix: "apply" }, io));
    expect(run.applied?.map((a) => a.error)).toEqual(["permission denied"]);
    expect(run.exitCode).toBe(EXIT.failed);
  });

  it("with fix: apply and nothing found, applies an empty plan and exits 0", async () => {
    const { io, plans } = fake([inventory([])]);
    const run = looked(await runAudit(TARGET, { ...OPTIONS, fix: "apply" }, io));
    expect(plans).toEqual([{ actions: [], skipped: [] }]);
    expect(run.applied).toEqual([]);
    expect(run.exitCode).toBe(EXIT.healthy);
  });
});
