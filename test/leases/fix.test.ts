import { describe, expect, it } from "vitest";
import { planFixes } from "../../leases/fix";
import type { Finding } from "../../leases/model";

const f = (kind: Finding["kind"], subject: string, extra: Partial<Finding> = {}): Finding => ({
  kind,
  subject,
  detail: "",
  certain: true,
  vaultRole: "chatwoot-db",
  ...extra,
});

describe("planFixes", () => {
  it("drops orphans and NOLOGIN leftovers with the revocation function, revokes dangling leases, sweeps orphan sessions of the application database once", () => {
    const plan = planFixes(
      [
        f("orphan_user", "v-a"),
        f("revoked_not_dropped", "v-b", { vaultRole: "n8n-db" }),
        f("dangling_lease", "database/creds/chatwoot-db/x"),
        f("orphan_session", "pid 1", { vaultRole: undefined, database: "keybuzz" }),
        f("orphan_session", "pid 2", { vaultRole: undefined, database: "keybuzz" }),
      ],
      "keybuzz",
    );
    expect(plan.actions.map((a) => a.does)).toEqual([
      "SELECT keybuzz_vault.drop_user('v-a', 'chatwoot-db')",
      "SELECT keybuzz_vault.drop_user('v-b', 'n8n-db')",
      "PUT sys/leases/revoke/database/creds/chatwoot-db/x",
      "SELECT keybuzz_vault.drop_user('v-keybuzz-leases-sweep', 'leases-fix')",
    ]);
    expect(plan.skipped).toEqual([]);
  });

  it("leaves uncertain findings, users of no application, sessions in other databases and what a person must decide, saying why", () => {
    const plan = planFixes(
      [
        f("orphan_user", "v-a", { certain: false }),
        f("orphan_user", "v-b", { vaultRole: undefined }),
        f("foreign_membership", "v-c"),
        f("expired_user_with_sessions", "v-d"),
        f("irrevocable_lease", "database/creds/chatwoot-db/y"),
        f("probe_failed", "probe"),
        f("orphan_session", "pid 3", { vaultRole: undefined, database: "postgres" }),
      ],
      "keybuzz",
    );
    expect(plan.actions).toEqual([]);
    expect(plan.skipped.map((s) => `${s.finding.subject}: ${s.why}`)).toEqual([
      "v-a: not certain: something issued in the same seconds may be its match",
      "v-b: belongs to no application of this environment: look at it by hand",
      "v-c: a role was granted by hand: revoke it, or revoke the user's lease",
      "v-d: its lease should end it: look at why Vault did not revoke it",
      "database/creds/chatwoot-db/y: Vault gave up: once the cause is fixed, revoke it again; forcing it (-force) leaves its user, which the next audit reports",
      "probe: Vault cannot reach PostgreSQL: see the error, fix the connection",
      'pid 3: in database "postgres", beyond the revocation function\'s reach: a superuser ends it (SELECT pg_terminate_backend(3))',
    ]);
  });
});
