/**
 * `--fix`: what the audit would do about its findings, and (`--apply`) doing it. Only certain findings
 * are acted on, and only three kinds:
 *
 * - an orphan user, or one a revocation left NOLOGIN: dropped with the revocation function itself
 *   (`<functions schema>.drop_user(name, vault role)`, the SQL Vault runs at a lease's end), as a user of the
 *   audit's `leases-fix` role, which may run that function and nothing else;
 * - a lease whose user is gone: revoked in Vault (its revocation finds no user and succeeds);
 * - a session whose role no longer exists, in the application database: ended by the same function, which
 *   ends such sessions there at every call (the audit's own credential already does, so this is rare). One
 *   in another database is beyond the function's reach, and is left to a superuser.
 *
 * Everything else (irrevocable leases, foreign memberships, expired users with sessions, a failed probe)
 * is for a person to look at: the report says why each one is left.
 */
import { LEASE_AUDIT_NAMES } from "../stacks/keybuzz-names";
import { ISSUED_USER_PREFIX } from "../constructs/vocabulary";
import { revoke, withPostgres } from "./collect";
import type { Target } from "./target";
import type { Finding } from "./model";

/** One thing `--fix --apply` would do. */
export interface FixAction {
  readonly kind: "drop_user" | "revoke_lease" | "end_sessions";
  readonly subject: string;
  /** The SQL or Vault call, as it would run. */
  readonly does: string;
  readonly vaultRole?: string;
}

/** What `--fix` would do, and the findings it leaves alone, with why. */
export interface FixPlan {
  readonly actions: readonly FixAction[];
  readonly skipped: readonly { finding: Finding; why: string }[];
}

/**
 * The name handed to the revocation function to only end sessions: a `v-` name no role has, so it drops
 * nothing and runs its sweep of sessions whose role is gone.
 */
const NO_SUCH_USER = `${ISSUED_USER_PREFIX}keybuzz-leases-sweep`;

/**
 * Where the fixes run: the application database (sessions elsewhere are beyond the revocation function) and
 * the schema of its credential functions. A {@link Target} is one.
 */
export interface FixTarget {
  readonly functionsSchema: string;
  readonly postgres: { readonly database: string };
}

/** What `--fix` would do about these findings (confirmed ones) in the target's database, and what it leaves, with why. */
export function planFixes(findings: readonly Finding[], target: FixTarget): FixPlan {
  const { functionsSchema } = target;
  const actions: FixAction[] = [];
  const skipped: { finding: Finding; why: string }[] = [];
  let sweep = false;
  for (const f of findings) {
    if (!f.certain) {
      skipped.push({ finding: f, why: "not certain: something issued in the same seconds may be its match" });
      continue;
    }
    switch (f.kind) {
      case "orphan_user":
      case "revoked_not_dropped":
        if (!f.vaultRole) {
          skipped.push({ finding: f, why: "belongs to no application of this environment: look at it by hand" });
          break;
        }
        actions.push({
          kind: "drop_user",
          subject: f.subject,
          vaultRole: f.vaultRole,
          does: `SELECT ${functionsSchema}.drop_user('${f.subject}', '${f.vaultRole}')`,
        });
        break;
      case "dangling_lease":
        actions.push({ kind: "revoke_lease", subject: f.subject, does: `PUT sys/leases/revoke/${f.subject}` });
        break;
      case "orphan_session":
        if (f.database === target.postgres.database) sweep = true;
        else
          skipped.push({
            finding: f,
            why: `in database "${f.database}", beyond the revocation function's reach: a superuser ends it (SELECT pg_terminate_backend(${f.subject.replace("pid ", "")}))`,
          });
        break;
      default:
        skipped.push({ finding: f, why: whyLeft[f.kind] ?? "for a person to decide" });
    }
  }
  if (sweep) {
    actions.push({
      kind: "end_sessions",
      subject: "sessions of roles that no longer exist",
      vaultRole: LEASE_AUDIT_NAMES.fixRole,
      does: `SELECT ${functionsSchema}.drop_user('${NO_SUCH_USER}', '${LEASE_AUDIT_NAMES.fixRole}')`,
    });
  }
  return { actions, skipped };
}

const whyLeft: Partial<Record<Finding["kind"], string>> = {
  probe_failed: "Vault cannot reach PostgreSQL: see the error, fix the connection",
  irrevocable_lease: "Vault gave up: once the cause is fixed, revoke it again; forcing it (-force) leaves its user, which the next audit reports",
  foreign_membership: "a role was granted by hand: revoke it, or revoke the user's lease",
  expired_user_with_sessions: "its lease should end it: look at why Vault did not revoke it",
  over_budget: "find and stop what takes credentials without ending them; revoking the leases would cut the processes that still use them",
};

/** What became of one action of `--fix --apply`. */
export interface FixOutcome {
  readonly action: FixAction;
  readonly ok: boolean;
  /** Vault's or PostgreSQL's answer when it failed. */
  readonly error?: string;
}

/** The one thing {@link applyFixes} asks of a PostgreSQL session: a statement with parameters. */
export interface SqlSession {
  query(sql: string, params: unknown[]): Promise<unknown>;
}

/** Vault and PostgreSQL as {@link applyFixes} reaches them: leases/collect.ts's, unless a test gives its own. */
export interface FixIo {
  /** Revokes one lease (see {@link revoke}). */
  readonly revoke: (t: Target, leaseId: string) => Promise<void>;
  /** Runs `work` in a session of a fresh credential of `vaultRole`, revoked after (see {@link withPostgres}). */
  readonly withPostgres: (t: Target, vaultRole: string, work: (session: SqlSession) => Promise<void>) => Promise<void>;
}

/**
 * Runs the actions: the lease revocations first, then the statements, in one session of the fix's own
 * role; returns each one's outcome (an error does not stop the others).
 */
export async function applyFixes(t: Target, plan: FixPlan, io: FixIo = { revoke, withPostgres }): Promise<FixOutcome[]> {
  const results: FixOutcome[] = [];
  for (const action of plan.actions.filter((a) => a.kind === "revoke_lease")) {
    try {
      await io.revoke(t, action.subject);
      results.push({ action, ok: true });
    } catch (err) {
      results.push({ action, ok: false, error: (err as Error).message });
    }
  }
  const sql = plan.actions.filter((a) => a.kind !== "revoke_lease");
  if (sql.length === 0) return results;
  try {
    await io.withPostgres(t, LEASE_AUDIT_NAMES.fixRole, async (client) => {
      for (const action of sql) {
        const name = action.kind === "end_sessions" ? NO_SUCH_USER : action.subject;
        try {
          await client.query(`SELECT ${t.functionsSchema}.drop_user($1, $2)`, [name, action.vaultRole]);
          results.push({ action, ok: true });
        } catch (err) {
          results.push({ action, ok: false, error: (err as Error).message });
        }
      }
    });
  } catch (err) {
    // no fix credential (a token without the fix policy), or PostgreSQL unreachable: none of them ran.
    const error = `could not log in as ${LEASE_AUDIT_NAMES.fixRole}: ${(err as Error).message}`;
    for (const action of sql) if (!results.some((r) => r.action === action)) results.push({ action, ok: false, error });
  }
  return results;
}
