import { describe, expect, it } from "vitest";
import { LOGIN_FAILURE_REASONS, POSTGRES_LOG_METRICS_DEFAULTS, postgresLogProgram } from "../../constructs/postgres-log-metrics";

const APPS = [
  { name: "keybuzz-api", vaultRole: "keybuzz-api-db" },
  { name: "chatwoot", vaultRole: "chatwoot-db" },
];

describe("postgresLogProgram", () => {
  const program = postgresLogProgram({ applications: APPS, adminUsername: "vault_admin", metricPrefix: "kb" });

  it("declares the three metrics with the prefix", () => {
    expect(program).toContain("counter kb_postgres_login_failures_total by application, reason");
    expect(program).toContain("gauge kb_postgres_login_failure_last_timestamp_seconds by application, reason");
    expect(program).toContain("counter kb_postgres_logins_total by application");
  });

  it("maps an issued user to its application by the first 8 characters of its Vault role, as Vault names users", () => {
    expect(program).toContain("$user =~ /^v-.*-keybuzz--[A-Za-z0-9]{20}-[0-9]+$/ {");
    expect(program).toContain("$user =~ /^v-.*-chatwoot-[A-Za-z0-9]{20}-[0-9]+$/ {");
    expect(program).toContain('$user == "vault_admin" {');
  });

  it("gives two applications whose Vault roles share 8 characters one label, naming both", () => {
    const shared = postgresLogProgram({
      applications: [
        { name: "billing", vaultRole: "keybuzz-billing" },
        { name: "keybuzz-api", vaultRole: "keybuzz-api-db" },
      ],
      adminUsername: "vault_admin",
    });
    expect(shared).toContain('["billing,keybuzz-api"]');
    expect(shared.match(/-keybuzz--/g)).toHaveLength(2); // one failure branch, one login branch
  });

  it("exports only fixed label values: nothing read from the log reaches a label", () => {
    const labels = [...program.matchAll(/_total\[([^\]]*)\]|_seconds\[([^\]]*)\]|\]\[([^\]]*)\]/g)].map((m) => m[1] ?? m[2] ?? m[3]);
    expect(labels.length).toBeGreaterThan(0);
    for (const label of labels) expect(label, label).toMatch(/^"[a-z0-9_,-]+"$/);
  });

  it("counts every reason for every application, the admin role and unknown users", () => {
    const labels = [...APPS.map((a) => a.name), POSTGRES_LOG_METRICS_DEFAULTS.adminLabel, POSTGRES_LOG_METRICS_DEFAULTS.unknownLabel];
    for (const label of labels)
      for (const { reason } of LOGIN_FAILURE_REASONS) expect(program).toContain(`kb_postgres_login_failures_total["${label}"]["${reason}"]++`);
  });

  it("tells reasons of one SQLSTATE apart by their message or detail, the specific ones first", () => {
    const firstOf = (reason: string) => program.indexOf(`["chatwoot"]["${reason}"]++`);
    expect(firstOf("role_missing")).toBeLessThan(firstOf("wrong_password"));
    expect(firstOf("password_expired")).toBeLessThan(firstOf("wrong_password"));
    expect(firstOf("role_connection_limit")).toBeLessThan(firstOf("server_connection_limit"));
    expect(program).toContain('$code == "28P01" && $detail =~ /does not exist/ {');
    expect(program).toContain('$code == "53300" && $message =~ /too many connections for role/ {');
  });
});
