import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { METRICS, prometheusFailure, toPrometheus, toTable } from "../../leases/format";
import { planFixes } from "../../leases/fix";
import { FINDING_KINDS, type Report } from "../../leases/model";
import { alertRulesFile } from "../../stacks/alert-rules";

const REPORT: Report = {
  environment: "local",
  checkedAt: "2026-11-29T15:00:00.000Z",
  durationSeconds: 0.42,
  expiringWindowSeconds: 900,
  probe: { ok: true, ms: 31 },
  postgresChecked: true,
  applications: [
    {
      application: "keybuzz-api",
      vaultRole: "keybuzz-api-db",
      active: 3,
      expiring: 1,
      renewable: 3,
      nonRenewable: 0,
      pending: 0,
      irrevocable: 0,
      users: 3,
      budget: 8,
    },
    {
      application: "chatwoot",
      vaultRole: "chatwoot-db",
      active: 0,
      expiring: 0,
      renewable: 0,
      nonRenewable: 0,
      pending: 1,
      irrevocable: 1,
      users: 1,
      budget: null,
    },
  ],
  findings: [
    {
      kind: "irrevocable_lease",
      application: "chatwoot",
      vaultRole: "chatwoot-db",
      subject: "database/creds/chatwoot-db/x",
      detail: "Vault gave up revoking it: dial tcp",
      certain: true,
    },
    { kind: "orphan_user", application: "chatwoot", vaultRole: "chatwoot-db", subject: "v-a", detail: "no lease holds this user", certain: true },
    { kind: "orphan_session", subject: "pid 7", database: "keybuzz", detail: "session of a role that no longer exists", certain: true },
  ],
};

describe("toPrometheus", () => {
  it("writes HELP and TYPE once per metric, then one series per application, with the environment label", () => {
    const text = toPrometheus(REPORT);
    for (const m of Object.keys(METRICS)) {
      expect(text.match(new RegExp(`^# HELP ${m} `, "gm"))).toHaveLength(1);
      expect(text).toContain(`# TYPE ${m} gauge`);
    }
    expect(text).toContain('keybuzz_leases_active{environment="local",application="keybuzz-api",vault_role="keybuzz-api-db"} 3');
    expect(text).toContain(
      'keybuzz_leases_expiring{environment="local",application="keybuzz-api",vault_role="keybuzz-api-db",window_seconds="900"} 1',
    );
    expect(text).toContain('keybuzz_leases_audit_timestamp_seconds{environment="local"} 1795964400');
  });

  it("writes every finding kind for every application, 0 when none, and findings of no application once", () => {
    const text = toPrometheus(REPORT);
    const findings = text.split("\n").filter((l) => l.startsWith("keybuzz_leases_findings{"));
    expect(findings).toHaveLength(2 * FINDING_KINDS.length + 1);
    expect(findings).toContain('keybuzz_leases_findings{environment="local",application="chatwoot",kind="orphan_user"} 1');
    expect(findings).toContain('keybuzz_leases_findings{environment="local",application="keybuzz-api",kind="orphan_user"} 0');
    expect(findings).toContain('keybuzz_leases_findings{environment="local",application="",kind="orphan_session"} 1');
  });

  it("escapes label values", () => {
    expect(toPrometheus({ ...REPORT, environment: 'a"b\\c' })).toContain('environment="a\\"b\\\\c"');
  });

  it("says only that the audit failed when it could not look", () => {
    expect(prometheusFailure("prod")).toBe(
      `# HELP keybuzz_leases_audit_success ${METRICS.keybuzz_leases_audit_success[1]}\n# TYPE keybuzz_leases_audit_success gauge\nkeybuzz_leases_audit_success{environment="prod"} 0\n`,
    );
  });
});

describe("toTable", () => {
  it("shows health, one aligned row per application, the findings and the fix plan", () => {
    const text = toTable(REPORT, planFixes(REPORT.findings, { functionsSchema: "keybuzz_vault", postgres: { database: "keybuzz" } }));
    expect(text).toContain("health: ok, Vault issued and revoked a probe credential in 31 ms");
    const rows = text.split("\n");
    const header = rows.find((r) => r.startsWith("application"))!;
    expect(header).toMatch(/^application\s+vault role\s+leases\s+budget\s+expiring<15m\s+renewable\s+not renewable\s+pending\s+irrevocable\s+users$/);
    const api = rows.find((r) => r.startsWith("keybuzz-api"))!;
    expect(api.indexOf("keybuzz-api-db")).toBe(header.indexOf("vault role"));
    expect(text).toContain("findings: 3");
    expect(text).toContain("fix: 2 action(s)");
    expect(text).toContain("  SELECT keybuzz_vault.drop_user('v-a', 'chatwoot-db')");
    expect(text).toMatch(/left alone: irrevocable lease database\/creds\/chatwoot-db\/x: Vault gave up/);
  });

  it("says when PostgreSQL was not read, and why", () => {
    const text = toTable({
      ...REPORT,
      postgresChecked: false,
      postgresError: "database/creds/leases-audit: 500 x",
      probe: { ok: false, ms: 3, error: "500 x" },
    });
    expect(text).toContain("health: FAILED, Vault could not issue a probe credential: 500 x");
    expect(text).toContain("PostgreSQL: not checked (database/creds/leases-audit: 500 x)");
  });
});

describe("what the documentation says of the metrics", () => {
  const root = join(__dirname, "..", "..");
  const operations = readFileSync(join(root, "docs", "operations.md"), "utf8");
  const rules = parse(alertRulesFile()) as { groups: { rules: { alert: string; expr: string }[] }[] };

  it("docs/operations.md's table lists exactly the metrics the Prometheus form writes", () => {
    const rows = operations.split("\n").filter((l) => l.startsWith("| `keybuzz_leases_"));
    const documented = rows.flatMap((l) => [...l.split("|")[1].matchAll(/`(keybuzz_leases_\w+)`/g)].map((m) => m[1]));
    expect(documented.sort()).toEqual(Object.keys(METRICS).sort());
  });

  it("docs/operations.md names every finding kind", () => {
    for (const kind of FINDING_KINDS) expect(operations).toContain(`\`${kind}\``);
  });

  it("the shipped alert rules use only metrics, labels and finding kinds the audit writes", () => {
    const all = rules.groups.flatMap((g) => g.rules);
    expect(all.map((r) => r.alert)).toContain("KeybuzzVaultCannotReachPostgres");
    const labels = new Set(["environment", "application", "vault_role", "kind", "window_seconds", "reason", "instance"]);
    for (const { alert, expr } of all) {
      for (const [name] of expr.matchAll(/keybuzz_leases_\w+/g)) expect(Object.keys(METRICS), `${alert}: ${name}`).toContain(name);
      for (const [, by] of expr.matchAll(/by \(([^)]*)\)/g)) for (const l of by.split(/,\s*/)) expect(labels, `${alert}: label ${l}`).toContain(l);
      for (const [, kinds] of expr.matchAll(/kind!?=~?"([^"]*)"/g))
        for (const k of kinds.split("|")) expect(FINDING_KINDS, `${alert}: kind ${k}`).toContain(k);
    }
  });
});
