/**
 * The audit's reasoning, on data already read: which issued user belongs to which lease, and what is wrong.
 *
 * Vault does not say which user a lease created (a lease's metadata holds its ID, times and whether it
 * renews, not the username), so users and leases are paired the way Vault names them: its default username
 * template is `v-<display name, 8>-<role name, 8>-<20 random characters>-<unix time>`, and the lease of a
 * credential is registered within a second or two of that time. Within one Vault role, a user and a lease
 * pair when the lease was issued up to {@link PAIRING_WINDOW_SECONDS} s after the second in the user's name
 * (or in the second before it, for clocks that round). A
 * user no lease pairs with is an orphan; a lease no user pairs with has lost its user. Either is
 * `certain` only when nothing issued in the same seconds could have been its match: uncertain findings are
 * reported and never fixed automatically.
 */
import { ISSUED_USER_PREFIX } from "../constructs/vocabulary";
import { FINDING_KINDS, type ApplicationSummary, type AuditedApplication, type Finding, type Inventory, type IssuedUser, type Lease } from "./model";

/** Seconds between the time in a user's name and its lease's issue time that still pair them. */
export const PAIRING_WINDOW_SECONDS = 3;

/**
 * Vault's default username: `v-<display>-<role>-<random 20>-<unix time>` (display and role truncated to 8); its
 * prefix is the one the credential functions require of every user they create (constructs/vocabulary.ts).
 */
const VAULT_USERNAME = new RegExp(`^${ISSUED_USER_PREFIX.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}(.*)-([A-Za-z0-9]{20})-(\\d{9,})$`);

/**
 * The issue time a username carries and the Vault roles whose first 8 characters it holds (none, one, or
 * several when two roles share them: then the user's memberships decide, see {@link applicationOf});
 * undefined for a name Vault did not generate.
 */
export function parseUsername(name: string, vaultRoles: readonly string[]): { issued: number; candidates: string[] } | undefined {
  const m = VAULT_USERNAME.exec(name);
  if (!m) return undefined;
  const middle = `-${m[1]}`; // "-<display>-<role>", either may hold dashes.
  const candidates = vaultRoles.filter((r) => middle.endsWith(`-${r.slice(0, 8)}`));
  return { issued: Number(m[3]), candidates };
}

/** The application a user belongs to: by the role in its name, else (or when ambiguous) by its login base role. */
export function applicationOf(user: IssuedUser, apps: readonly AuditedApplication[]): AuditedApplication | undefined {
  const parsed = parseUsername(
    user.name,
    apps.map((a) => a.vaultRole),
  );
  const byName = apps.filter((a) => parsed?.candidates.includes(a.vaultRole));
  if (byName.length === 1) return byName[0];
  const pool = byName.length > 1 ? byName : apps;
  const byRole = pool.filter((a) => user.memberOf.includes(a.allowedRoles[0]));
  return byRole.length === 1 ? byRole[0] : undefined;
}

interface Pairing {
  /** Users (that can log in) no lease pairs with, and whether that is certain. */
  readonly orphans: { user: IssuedUser; app?: AuditedApplication; certain: boolean }[];
  /** Active leases no user pairs with, and whether that is certain. */
  readonly dangling: { lease: Lease; certain: boolean }[];
}

/**
 * Pairs users and leases per Vault role (see the module comment). Every user that can log in and every lease
 * Vault holds take part, whatever their age, so that no user loses its lease to a cut-off; only what is left
 * over is filtered: a user younger than `graceSeconds` (a credential being issued has its user before its
 * lease) and a lease younger than that or past its expiry (Vault is revoking it, and its user may already be
 * gone) are not reported.
 */
export function pair(inv: Inventory, users: readonly IssuedUser[], apps: readonly AuditedApplication[], graceSeconds: number): Pairing {
  const W = PAIRING_WINDOW_SECONDS;
  const settled = inv.now - graceSeconds;
  const orphans: Pairing["orphans"] = [];
  const dangling: Pairing["dangling"] = [];
  const byRole = new Map<string, { user: IssuedUser; issued: number }[]>();
  const vaultRoles = apps.map((a) => a.vaultRole);
  for (const user of users) {
    if (!user.canLogin) continue; // revoked, not dropped: reported on its own.
    const app = applicationOf(user, apps);
    const parsed = parseUsername(user.name, vaultRoles);
    if (!app || !parsed) {
      // not a name Vault generated for one of these roles (made by hand?): no lease can hold it.
      orphans.push({ user, app, certain: true });
      continue;
    }
    const list = byRole.get(app.vaultRole) ?? [];
    list.push({ user, issued: parsed.issued });
    byRole.set(app.vaultRole, list);
  }
  for (const app of apps) {
    const us = (byRole.get(app.vaultRole) ?? []).sort((a, b) => a.issued - b.issued);
    const ls = inv.leases.filter((l) => l.vaultRole === app.vaultRole).sort((a, b) => a.issueTime - b.issueTime);
    const fits = (l: Lease, issued: number) => Math.floor(l.issueTime) - issued >= -1 && Math.floor(l.issueTime) - issued <= W;
    // windows have the same shape for everyone: pairing each lease with the earliest free user that fits is optimal.
    const taken = new Set<number>();
    let start = 0;
    for (const lease of ls) {
      while (start < us.length && Math.floor(lease.issueTime) - us[start].issued > W) start++;
      let hit = -1;
      for (let i = start; i < us.length && us[i].issued <= Math.floor(lease.issueTime) + 1; i++) {
        if (!taken.has(i) && fits(lease, us[i].issued)) {
          hit = i;
          break;
        }
      }
      if (hit >= 0) taken.add(hit);
      else if (lease.issueTime <= settled && lease.expireTime > inv.now) dangling.push({ lease, certain: !us.some((u) => fits(lease, u.issued)) });
    }
    us.forEach((u, i) => {
      if (!taken.has(i) && u.issued <= settled) orphans.push({ user: u.user, app, certain: !ls.some((l) => fits(l, u.issued)) });
    });
  }
  return { orphans, dangling };
}

/** Options of {@link audit}. */
export interface AuditOptions {
  /** Leases expiring within this many seconds are counted as expiring. */
  readonly expiringWindowSeconds: number;
  /** Users and leases younger than this are not paired (see {@link pair}). */
  readonly graceSeconds: number;
}

/** The per-application summary and the findings of one reading. */
export function audit(
  inv: Inventory,
  apps: readonly AuditedApplication[],
  opts: AuditOptions,
): { applications: ApplicationSummary[]; findings: Finding[] } {
  const findings: Finding[] = [];
  const appOfRole = new Map(apps.map((a) => [a.vaultRole, a]));
  const roleOfLease = (id: string) => apps.find((a) => id.includes(`/creds/${a.vaultRole}/`))?.vaultRole;
  if (!inv.probe.ok) {
    findings.push({
      kind: "probe_failed",
      subject: "probe",
      detail: `Vault could not issue and revoke a probe credential: ${inv.probe.error}`,
      certain: true,
    });
  }
  for (const l of inv.irrevocable) {
    const role = roleOfLease(l.id);
    findings.push({
      kind: "irrevocable_lease",
      application: role ? appOfRole.get(role)?.name : undefined,
      vaultRole: role,
      subject: l.id,
      detail: `Vault gave up revoking it: ${l.error}`,
      certain: true,
    });
  }
  const users = inv.postgres?.users ?? [];
  // each user's application, once: the findings and the per-application counts both need it.
  const owner = new Map(users.map((u) => [u, applicationOf(u, apps)]));
  if (inv.postgres) {
    const { orphans, dangling } = pair(inv, users, apps, opts.graceSeconds);
    for (const o of orphans) {
      findings.push({
        kind: "orphan_user",
        application: o.app?.name,
        vaultRole: o.app?.vaultRole,
        subject: o.user.name,
        detail: `no lease holds this user (in ${o.user.memberOf.join(", ") || "no role"}; ${o.user.sessions} session(s))${o.certain ? "" : "; a lease issued in the same seconds may be its own"}`,
        certain: o.certain,
      });
    }
    for (const d of dangling) {
      findings.push({
        kind: "dangling_lease",
        application: appOfRole.get(d.lease.vaultRole)?.name,
        vaultRole: d.lease.vaultRole,
        subject: d.lease.id,
        detail: `its user no longer exists (issued ${new Date(d.lease.issueTime * 1000).toISOString()})${d.certain ? "" : "; a user issued in the same seconds may be its own"}`,
        certain: d.certain,
      });
    }
    for (const u of users) {
      const app = owner.get(u);
      if (u.validUntil !== null && u.validUntil < inv.now && u.sessions > 0) {
        findings.push({
          kind: "expired_user_with_sessions",
          application: app?.name,
          vaultRole: app?.vaultRole,
          subject: u.name,
          detail: `VALID UNTIL passed ${new Date(u.validUntil * 1000).toISOString()}, still ${u.sessions} session(s)`,
          certain: true,
        });
      }
      const foreign = u.memberOf.filter((r) => !app?.allowedRoles.includes(r));
      if (foreign.length > 0) {
        findings.push({
          kind: "foreign_membership",
          application: app?.name,
          vaultRole: app?.vaultRole,
          subject: u.name,
          detail: app
            ? `holds ${foreign.join(", ")}, outside its application's roles (${app.allowedRoles.join(", ")})`
            : `holds ${foreign.join(", ")}, and belongs to no application`,
          certain: true,
        });
      }
      if (!u.canLogin) {
        findings.push({
          kind: "revoked_not_dropped",
          application: app?.name,
          vaultRole: app?.vaultRole,
          subject: u.name,
          detail: `NOLOGIN, left by a revocation that could not drop it (in ${u.memberOf.join(", ") || "no role"})`,
          certain: true,
        });
      }
    }
    for (const s of inv.postgres.orphanSessions) {
      findings.push({
        kind: "orphan_session",
        subject: `pid ${s.pid}`,
        database: s.database,
        detail: `session in ${s.database} of a role that no longer exists (oid ${s.roleOid}), started ${new Date(s.backendStart * 1000).toISOString()}`,
        certain: true,
      });
    }
  }
  const irrevocable = new Set(inv.irrevocable.map((l) => l.id));
  const applications = apps.map((app): ApplicationSummary => {
    const leases = inv.leases.filter((l) => l.vaultRole === app.vaultRole);
    const active = leases.filter((l) => l.expireTime > inv.now);
    return {
      application: app.name,
      vaultRole: app.vaultRole,
      active: active.length,
      expiring: active.filter((l) => l.expireTime - inv.now <= opts.expiringWindowSeconds).length,
      renewable: active.filter((l) => l.renewable).length,
      nonRenewable: active.filter((l) => !l.renewable).length,
      pending: leases.filter((l) => l.expireTime <= inv.now && !irrevocable.has(l.id)).length,
      irrevocable: inv.irrevocable.filter((l) => roleOfLease(l.id) === app.vaultRole).length,
      users: inv.postgres ? users.filter((u) => u.canLogin && owner.get(u) === app).length : null,
      budget: app.leaseBudget ?? null,
    };
  });
  for (const a of applications) {
    if (a.budget === null || a.active <= a.budget) continue;
    findings.push({
      kind: "over_budget",
      application: a.application,
      vaultRole: a.vaultRole,
      subject: a.application,
      detail: `${a.active} active leases, over its budget of ${a.budget} (leaseBudget in its config): processes take credentials faster than their leases end (a crash loop, a CronJob, processes killed before they revoke)`,
      certain: true,
    });
  }

  const order = (f: Finding) => FINDING_KINDS.indexOf(f.kind);
  findings.sort((a, b) => order(a) - order(b) || (a.application ?? "").localeCompare(b.application ?? "") || a.subject.localeCompare(b.subject));
  return { applications, findings };
}

/**
 * The findings of `first` that `second`, read a moment later, confirms (same kind and subject): what one
 * reading caught in flight (a credential being issued or revoked) is not reported.
 */
export function confirmed(first: readonly Finding[], second: readonly Finding[]): Finding[] {
  const again = new Set(second.map((f) => `${f.kind}\0${f.subject}`));
  return first.filter((f) => again.has(`${f.kind}\0${f.subject}`));
}
