import { describe, expect, it } from "vitest";
import { applyFixes, type FixIo, planFixes } from "../../leases/fix";
import type { Finding } from "../../leases/model";
import type { Target } from "../../leases/target";
import { VaultClient } from "../../leases/vault-client";

/** A target whose Vault and PostgreSQL are never reached: the tests hand applyFixes their own I/O. */
const TARGET: Target = {
  environment: "local",
  vault: new VaultClient("http://127.0.0.1:9", "t"),
  mountPath: "database",
  functionsSchema: "keybuzz_vault",
  postgres: { host: "127.0.0.1", port: 5432, database: "keybuzz", sslmode: "disable" },
  applications: [],
};

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
      TARGET,
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
        f("over_budget", "n8n"),
      ],
      TARGET,
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
      "n8n: find and stop what takes credentials without ending them; revoking the leases would cut the processes that still use them",
    ]);
  });
});

describe("planFixes and applyFixes with the credential functions in another schema", () => {
  it("plan and run drop_user in the target's schema, never the default one", async () => {
    // GIVEN the functions in schema "creds_fn", as a CredentialFunctions with schemaName: "creds_fn" makes them
    const target: Target = { ...TARGET, functionsSchema: "creds_fn" };
    const ran: { role: string; sql: string; params: unknown[] }[] = [];
    const io: FixIo = {
      revoke: async () => {},
      withPostgres: async (_t, role, work) => work({ query: async (sql, params) => ran.push({ role, sql, params }) }),
    };

    // WHEN
    const plan = planFixes([f("orphan_user", "v-a"), f("orphan_session", "pid 1", { vaultRole: undefined, database: "keybuzz" })], target);
    const outcomes = await applyFixes(target, plan, io);

    // THEN
    expect(plan.actions.map((a) => a.does)).toEqual([
      "SELECT creds_fn.drop_user('v-a', 'chatwoot-db')",
      "SELECT creds_fn.drop_user('v-keybuzz-leases-sweep', 'leases-fix')",
    ]);
    expect(ran).toEqual([
      { role: "leases-fix", sql: "SELECT creds_fn.drop_user($1, $2)", params: ["v-a", "chatwoot-db"] },
      { role: "leases-fix", sql: "SELECT creds_fn.drop_user($1, $2)", params: ["v-keybuzz-leases-sweep", "leases-fix"] },
    ]);
    expect(outcomes.map((o) => o.ok)).toEqual([true, true]);
  });
});

describe("applyFixes", () => {
  const PLAN = planFixes(
    [
      f("orphan_user", "v-a"),
      f("dangling_lease", "database/creds/chatwoot-db/x"),
      f("revoked_not_dropped", "v-b"),
      f("dangling_lease", "database/creds/chatwoot-db/y"),
    ],
    TARGET,
  );

  it("revokes the leases first, then runs every statement in one session of the fix's role", async () => {
    const calls: string[] = [];
    const io: FixIo = {
      revoke: async (_t, id) => {
        calls.push(`revoke ${id}`);
      },
      withPostgres: async (_t, role, work) => {
        calls.push(`login ${role}`);
        await work({ query: async (_sql, params) => calls.push(`drop ${params[0]}`) });
        calls.push("logout");
      },
    };
    const outcomes = await applyFixes(TARGET, PLAN, io);
    expect(calls).toEqual([
      "revoke database/creds/chatwoot-db/x",
      "revoke database/creds/chatwoot-db/y",
      "login leases-fix",
      "drop v-a",
      "drop v-b",
      "logout",
    ]);
    expect(outcomes.map((o) => `${o.action.subject} ${o.ok}`)).toEqual([
      "database/creds/chatwoot-db/x true",
      "database/creds/chatwoot-db/y true",
      "v-a true",
      "v-b true",
    ]);
  });

  it("goes on after an action fails, with that action's error", async () => {
    const io: FixIo = {
      revoke: async (_t, id) => {
        if (id.endsWith("/x")) throw new Error("permission denied");
      },
      withPostgres: async (_t, _role, work) =>
        work({
          query: async (_sql, params) => {
            if (params[0] === "v-a") throw new Error('role "v-a" is in use');
          },
        }),
    };
    const outcomes = await applyFixes(TARGET, PLAN, io);
    expect(outcomes.map((o) => `${o.action.subject} ${o.ok} ${o.error ?? ""}`.trim())).toEqual([
      "database/creds/chatwoot-db/x false permission denied",
      "database/creds/chatwoot-db/y true",
      'v-a false role "v-a" is in use',
      "v-b true",
    ]);
  });

  it("fails every statement, saying why, when the fix's role cannot log in", async () => {
    const io: FixIo = {
      revoke: async () => {},
      withPostgres: async () => {
        throw new Error("1 error occurred: permission denied");
      },
    };
    const outcomes = await applyFixes(TARGET, PLAN, io);
    expect(outcomes.filter((o) => o.action.kind === "drop_user").map((o) => [o.action.subject, o.ok, o.error])).toEqual([
      ["v-a", false, "could not log in as leases-fix: 1 error occurred: permission denied"],
      ["v-b", false, "could not log in as leases-fix: 1 error occurred: permission denied"],
    ]);
    expect(outcomes.filter((o) => o.action.kind === "revoke_lease").every((o) => o.ok)).toBe(true);
  });

  it("opens no PostgreSQL session when the plan holds no statement", async () => {
    let logins = 0;
    const io: FixIo = {
      revoke: async () => {},
      withPostgres: async () => {
        logins++;
      },
    };
    const outcomes = await applyFixes(TARGET, planFixes([f("dangling_lease", "database/creds/chatwoot-db/x")], TARGET), io);
    expect(logins).toBe(0);
    expect(outcomes).toHaveLength(1);
  });
});
