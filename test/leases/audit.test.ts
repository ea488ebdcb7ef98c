import { describe, expect, it } from "vitest";
import { applicationOf, audit, confirmed, pair, parseUsername, PAIRING_WINDOW_SECONDS } from "../../leases/audit";
import type { AuditedApplication, Finding, Inventory, IssuedUser, Lease } from "../../leases/model";

const APPS: AuditedApplication[] = [
  { name: "keybuzz-api", vaultRole: "keybuzz-api-db", allowedRoles: ["keybuzz_api"], leaseBudget: 4 },
  { name: "chatwoot", vaultRole: "chatwoot-db", allowedRoles: ["chatwoot"], leaseBudget: 2 },
  { name: "workers", vaultRole: "workers-db", allowedRoles: ["keybuzz_workers", "keybuzz_api"] },
];
const NOW = 1_800_000_000;
const OPTS = { expiringWindowSeconds: 900, graceSeconds: 10 };
const RANDOM = "AbCdEfGhIjKlMnOpQrSt";

/** A user as Vault names it: `v-root-<role, 8>-<random>-<issued>`. */
function user(role: string, issued: number, extra: Partial<IssuedUser> = {}): IssuedUser {
  const app = APPS.find((a) => a.vaultRole === role)!;
  return {
    name: `v-root-${role.slice(0, 8)}-${RANDOM}-${issued}`,
    canLogin: true,
    validUntil: NOW + 3600,
    memberOf: [app.allowedRoles[0]],
    sessions: 0,
    ...extra,
  };
}
let leaseNo = 0;
function lease(role: string, issueTime: number, extra: Partial<Lease> = {}): Lease {
  return { id: `database/creds/${role}/lease${leaseNo++}`, vaultRole: role, issueTime, expireTime: NOW + 3000, renewable: true, ...extra };
}
function inventory(leases: Lease[], users: IssuedUser[], extra: Partial<Inventory> = {}): Inventory {
  return { now: NOW, leases, irrevocable: [], probe: { ok: true, ms: 20 }, postgres: { users, orphanSessions: [] }, ...extra };
}
const kinds = (findings: Finding[]) => findings.map((f) => `${f.kind} ${f.subject}${f.certain ? "" : " (uncertain)"}`);

describe("parseUsername", () => {
  it("reads the issue time and the Vault roles whose first 8 characters the name holds", () => {
    expect(parseUsername(`v-root-keybuzz--${RANDOM}-1800000000`, ["keybuzz-api-db", "chatwoot-db"])).toEqual({
      issued: 1800000000,
      candidates: ["keybuzz-api-db"],
    });
  });

  it("copes with dashes in the display name and in the role name", () => {
    expect(parseUsername(`v-token-fo-workers--${RANDOM}-1800000000`, ["workers-db", "keybuzz-api-db"])?.candidates).toEqual(["workers-db"]);
    expect(parseUsername(`v--n8n-db-${RANDOM}-1800000000`, ["n8n-db"])?.candidates).toEqual(["n8n-db"]);
  });

  it("returns undefined for a name Vault did not generate", () => {
    expect(parseUsername("v-hand-made", ["keybuzz-api-db"])).toBeUndefined();
  });
});

describe("applicationOf", () => {
  it("prefers the name, and falls back to the login base role when two roles share their first 8 characters", () => {
    const apps = [...APPS, { name: "web", vaultRole: "keybuzz-web-db", allowedRoles: ["keybuzz_web"] }];
    const u = { ...user("keybuzz-api-db", NOW), memberOf: ["keybuzz_web"] };
    expect(applicationOf(u, apps)?.name).toBe("web");
    expect(applicationOf(user("chatwoot-db", NOW), apps)?.name).toBe("chatwoot");
    expect(applicationOf({ ...user("chatwoot-db", NOW), name: "v-hand-made", memberOf: ["keybuzz_api"] }, apps)?.name).toBe("keybuzz-api");
  });
});

describe("pair", () => {
  it("pairs every user with the lease issued in the seconds after its name's time, under load", () => {
    const users: IssuedUser[] = [];
    const leases: Lease[] = [];
    for (let i = 0; i < 200; i++) {
      const t = NOW - 100 + Math.floor(i / 10); // ten per second
      users.push({ ...user("chatwoot-db", t), name: `v-root-chatwoot-${String(i).padStart(20, "x")}-${t}` });
      leases.push(lease("chatwoot-db", t + (i % 3) * 0.7));
    }
    expect(pair(inventory(leases, users), users, APPS, 10)).toEqual({ orphans: [], dangling: [] });
  });

  it("finds the user with no lease and the lease with no user, certain when nothing else was issued then", () => {
    const users = [user("keybuzz-api-db", NOW - 500), user("chatwoot-db", NOW - 100)];
    const leases = [lease("keybuzz-api-db", NOW - 500.2 + 0.5), lease("workers-db", NOW - 300)];
    const { orphans, dangling } = pair(inventory(leases, users), users, APPS, 10);
    expect(orphans.map((o) => [o.user.name, o.certain])).toEqual([[users[1].name, true]]);
    expect(dangling.map((d) => [d.lease.id, d.certain])).toEqual([[leases[1].id, true]]);
  });

  it("says uncertain when a user and a lease of the same seconds could each be the other's match", () => {
    const users = [user("chatwoot-db", NOW - 100), { ...user("chatwoot-db", NOW - 100), name: `v-root-chatwoot-${"z".repeat(20)}-${NOW - 100}` }];
    const leases = [lease("chatwoot-db", NOW - 100 + PAIRING_WINDOW_SECONDS)];
    const { orphans } = pair(inventory(leases, users), users, APPS, 10);
    expect(orphans).toHaveLength(1);
    expect(orphans[0].certain).toBe(false);
  });

  it("leaves out users younger than the grace, expired leases, and NOLOGIN users", () => {
    const users = [user("chatwoot-db", NOW - 2), { ...user("chatwoot-db", NOW - 200), canLogin: false }];
    const leases = [lease("chatwoot-db", NOW - 400, { expireTime: NOW - 1 })];
    expect(pair(inventory(leases, users), users, APPS, 10)).toEqual({ orphans: [], dangling: [] });
  });

  it("pairs a user just past the grace with its lease just inside it: the cut-off applies to what is left over, not to the pairing", () => {
    const users = [user("chatwoot-db", NOW - 11)];
    const leases = [lease("chatwoot-db", NOW - 9.2)];
    expect(pair(inventory(leases, users), users, APPS, 10)).toEqual({ orphans: [], dangling: [] });
  });

  it("pairs a user with its expired lease that Vault still holds: pending revocation, not an orphan", () => {
    const users = [user("chatwoot-db", NOW - 4000)];
    const leases = [lease("chatwoot-db", NOW - 3999.5, { expireTime: NOW - 400 })];
    expect(pair(inventory(leases, users), users, APPS, 10)).toEqual({ orphans: [], dangling: [] });
  });

  it("a name Vault did not generate is an orphan, certain", () => {
    const u = { ...user("chatwoot-db", NOW), name: "v-made-by-hand", memberOf: ["chatwoot"] };
    const { orphans } = pair(inventory([], [u]), [u], APPS, 10);
    expect(orphans.map((o) => [o.user.name, o.app?.name, o.certain])).toEqual([["v-made-by-hand", "chatwoot", true]]);
  });
});

describe("audit", () => {
  it("reports nothing on a healthy reading, and counts leases per application", () => {
    const users = [user("keybuzz-api-db", NOW - 60), user("workers-db", NOW - 60, { memberOf: ["keybuzz_workers", "keybuzz_api"] })];
    const leases = [
      lease("keybuzz-api-db", NOW - 60, { expireTime: NOW + 300 }),
      lease("workers-db", NOW - 60, { renewable: false }),
      lease("workers-db", NOW - 4000, { expireTime: NOW - 100 }),
    ];
    const { findings, applications } = audit(inventory(leases, users), APPS, OPTS);
    expect(findings).toEqual([]);
    expect(applications).toEqual([
      {
        application: "keybuzz-api",
        vaultRole: "keybuzz-api-db",
        active: 1,
        expiring: 1,
        renewable: 1,
        nonRenewable: 0,
        pending: 0,
        irrevocable: 0,
        users: 1,
        budget: 4,
      },
      {
        application: "chatwoot",
        vaultRole: "chatwoot-db",
        active: 0,
        expiring: 0,
        renewable: 0,
        nonRenewable: 0,
        pending: 0,
        irrevocable: 0,
        users: 0,
        budget: 2,
      },
      {
        application: "workers",
        vaultRole: "workers-db",
        active: 1,
        expiring: 0,
        renewable: 0,
        nonRenewable: 1,
        pending: 1,
        irrevocable: 0,
        users: 1,
        budget: null,
      },
    ]);
  });

  it("reports each kind of fault once, in a fixed order", () => {
    const expired = user("chatwoot-db", NOW - 200, { validUntil: NOW - 10, sessions: 2 });
    const foreign = user("keybuzz-api-db", NOW - 200, { memberOf: ["keybuzz_api", "chatwoot"] });
    const revoked = user("workers-db", NOW - 300, { canLogin: false, memberOf: [] });
    const leases = [
      lease("chatwoot-db", NOW - 200),
      lease("keybuzz-api-db", NOW - 200),
      lease("keybuzz-api-db", NOW - 900, { id: "database/creds/keybuzz-api-db/gone" }),
    ];
    const inv = inventory(leases, [expired, foreign, revoked], {
      probe: { ok: false, ms: 5, error: "500 failed to connect" },
      irrevocable: [{ id: "database/creds/chatwoot-db/stuck", error: "dial tcp: connection refused" }],
      postgres: { users: [expired, foreign, revoked], orphanSessions: [{ pid: 42, database: "keybuzz", roleOid: 99999, backendStart: NOW - 50 }] },
    });
    const { findings, applications } = audit(inv, APPS, OPTS);
    expect(kinds(findings)).toEqual([
      "probe_failed probe",
      "irrevocable_lease database/creds/chatwoot-db/stuck",
      "dangling_lease database/creds/keybuzz-api-db/gone",
      `expired_user_with_sessions ${expired.name}`,
      "orphan_session pid 42",
      `foreign_membership ${foreign.name}`,
      `revoked_not_dropped ${revoked.name}`,
    ]);
    expect(findings.find((f) => f.kind === "foreign_membership")?.detail).toBe("holds chatwoot, outside its application's roles (keybuzz_api)");
    expect(applications.find((a) => a.application === "chatwoot")?.irrevocable).toBe(1);
  });

  it("reports an application over its lease budget (active leases only), and none without a budget", () => {
    // chatwoot's budget is 2: three active leases and one expired; workers has none, whatever it holds.
    const leases = [
      ...[1, 2, 3].map((i) => lease("chatwoot-db", NOW - 10 * i, { id: `database/creds/chatwoot-db/${i}` })),
      lease("chatwoot-db", NOW - 4000, { id: "database/creds/chatwoot-db/old", expireTime: NOW - 100 }),
      ...[1, 2, 3, 4, 5].map((i) => lease("workers-db", NOW - 10 * i, { id: `database/creds/workers-db/${i}` })),
    ];
    const { findings } = audit(inventory(leases, [], { postgres: null, postgresError: "x" }), APPS, OPTS);
    expect(findings).toEqual([
      {
        kind: "over_budget",
        application: "chatwoot",
        vaultRole: "chatwoot-db",
        subject: "chatwoot",
        detail:
          "3 active leases, over its budget of 2 (leaseBudget in its config): processes take credentials faster than their leases end (a crash loop, a CronJob, processes killed before they revoke)",
        certain: true,
      },
    ]);
    const atBudget = audit(inventory(leases.slice(1), [], { postgres: null, postgresError: "x" }), APPS, OPTS);
    expect(atBudget.findings).toEqual([]);
  });

  it("says PostgreSQL was not read instead of reporting its users missing", () => {
    const { findings, applications } = audit(inventory([lease("chatwoot-db", NOW - 100)], [], { postgres: null, postgresError: "x" }), APPS, OPTS);
    expect(findings).toEqual([]);
    expect(applications.every((a) => a.users === null)).toBe(true);
  });
});

describe("confirmed", () => {
  it("keeps only what the second reading shows again", () => {
    const f = (kind: Finding["kind"], subject: string): Finding => ({ kind, subject, detail: "", certain: true });
    expect(confirmed([f("orphan_user", "a"), f("dangling_lease", "b")], [f("orphan_user", "a"), f("orphan_user", "b")])).toEqual([
      f("orphan_user", "a"),
    ]);
  });
});
