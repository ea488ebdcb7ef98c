/**
 * The audit's report in three forms: a table for a terminal, JSON for tools, and the Prometheus text
 * format for node_exporter's textfile collector (metric names documented in {@link METRICS}).
 */
import { FINDING_KINDS, type Report } from "./model";
import type { FixPlan } from "./fix";

/** Every metric the Prometheus form writes: name, type and help text (docs/operations.md documents the same). */
export const METRICS = {
  keybuzz_leases_audit_success: ["gauge", "1 when the audit could read Vault's leases, 0 when it could not look."],
  keybuzz_leases_audit_timestamp_seconds: ["gauge", "When the audit ran (unix time)."],
  keybuzz_leases_audit_duration_seconds: ["gauge", "How long the audit took."],
  keybuzz_leases_postgres_checked: ["gauge", "1 when PostgreSQL's users and sessions were read, 0 when they could not be."],
  keybuzz_leases_probe_success: ["gauge", "1 when Vault issued and revoked a probe credential through its connection, 0 when it could not."],
  keybuzz_leases_probe_duration_seconds: ["gauge", "How long the probe's issue and revoke took."],
  keybuzz_leases_active: ["gauge", "Leases of the application's credentials not yet expired."],
  keybuzz_leases_expiring: ["gauge", "Active leases that expire within the window (label window_seconds)."],
  keybuzz_leases_renewable: ["gauge", "Active leases that can be renewed."],
  keybuzz_leases_non_renewable: ["gauge", "Active leases that cannot be renewed."],
  keybuzz_leases_pending_revocation: ["gauge", "Expired leases Vault still holds and still tries to revoke."],
  keybuzz_leases_irrevocable: ["gauge", "Leases Vault gave up revoking."],
  keybuzz_leases_issued_users: ["gauge", "Issued users of the application that can log in."],
  keybuzz_leases_budget: ["gauge", "The most active leases the application may hold (its config's lease budget)."],
  keybuzz_leases_findings: ["gauge", "Things wrong, by kind (label kind); 0 when none."],
} as const;

type Metric = keyof typeof METRICS;

const label = (v: string) => v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");

/** The Prometheus text exposition format; every series is written, with 0 where nothing was found. */
export function toPrometheus(r: Report): string {
  const out: string[] = [];
  const samples = new Map<Metric, string[]>();
  const add = (m: Metric, labels: Record<string, string>, value: number) => {
    const l = Object.entries({ environment: r.environment, ...labels })
      .map(([k, v]) => `${k}="${label(v)}"`)
      .join(",");
    samples.set(m, [...(samples.get(m) ?? []), `${m}{${l}} ${value}`]);
  };
  add("keybuzz_leases_audit_success", {}, 1);
  add("keybuzz_leases_audit_timestamp_seconds", {}, Math.round(Date.parse(r.checkedAt) / 1000));
  add("keybuzz_leases_audit_duration_seconds", {}, Number(r.durationSeconds.toFixed(3)));
  add("keybuzz_leases_postgres_checked", {}, r.postgresChecked ? 1 : 0);
  add("keybuzz_leases_probe_success", {}, r.probe.ok ? 1 : 0);
  add("keybuzz_leases_probe_duration_seconds", {}, r.probe.ms / 1000);
  for (const a of r.applications) {
    const l = { application: a.application, vault_role: a.vaultRole };
    add("keybuzz_leases_active", l, a.active);
    add("keybuzz_leases_expiring", { ...l, window_seconds: String(r.expiringWindowSeconds) }, a.expiring);
    add("keybuzz_leases_renewable", l, a.renewable);
    add("keybuzz_leases_non_renewable", l, a.nonRenewable);
    add("keybuzz_leases_pending_revocation", l, a.pending);
    add("keybuzz_leases_irrevocable", l, a.irrevocable);
    if (a.users !== null) add("keybuzz_leases_issued_users", l, a.users);
    if (a.budget !== null) add("keybuzz_leases_budget", l, a.budget);
  }
  const apps = [...r.applications.map((a) => a.application), ""];
  for (const application of apps) {
    for (const kind of FINDING_KINDS) {
      const n = r.findings.filter((f) => f.kind === kind && (f.application ?? "") === application).length;
      // findings of no known application are written once, with application="".
      if (application === "" && n === 0) continue;
      add("keybuzz_leases_findings", { application, kind }, n);
    }
  }
  for (const [m, lines] of samples) {
    const [type, help] = METRICS[m];
    out.push(`# HELP ${m} ${help}`, `# TYPE ${m} ${type}`, ...lines);
  }
  return `${out.join("\n")}\n`;
}

/** What the Prometheus form says when the audit could not look: only that, so an alert fires. */
export function prometheusFailure(environment: string): string {
  const m: Metric = "keybuzz_leases_audit_success";
  return `# HELP ${m} ${METRICS[m][1]}\n# TYPE ${m} gauge\n${m}{environment="${label(environment)}"} 0\n`;
}

function table(rows: string[][]): string[] {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) =>
    r
      .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i])))
      .join("  ")
      .trimEnd(),
  );
}

const duration = (s: number) => (s >= 3600 ? `${+(s / 3600).toFixed(1)}h` : s >= 60 ? `${+(s / 60).toFixed(1)}m` : `${s}s`);

/** The report for a terminal: health, one row per application, then the findings (and the fix plan). */
export function toTable(r: Report, plan?: FixPlan): string {
  const lines: string[] = [];
  lines.push(`lease audit of ${r.environment} at ${r.checkedAt} (${r.durationSeconds.toFixed(1)} s)`);
  lines.push(
    r.probe.ok
      ? `health: ok, Vault issued and revoked a probe credential in ${r.probe.ms} ms`
      : `health: FAILED, Vault could not issue a probe credential: ${r.probe.error}`,
  );
  if (!r.postgresChecked) lines.push(`PostgreSQL: not checked (${r.postgresError})`);
  lines.push("");
  const header = [
    "application",
    "vault role",
    "leases",
    "budget",
    `expiring<${duration(r.expiringWindowSeconds)}`,
    "renewable",
    "not renewable",
    "pending",
    "irrevocable",
    "users",
  ];
  lines.push(
    ...table([
      header,
      ...r.applications.map((a) => [
        a.application,
        a.vaultRole,
        String(a.active),
        a.budget === null ? "-" : String(a.budget),
        ...[a.expiring, a.renewable, a.nonRenewable, a.pending, a.irrevocable].map(String),
        a.users === null ? "-" : String(a.users),
      ]),
    ]),
  );
  lines.push("");
  if (r.findings.length === 0) {
    lines.push("findings: none");
  } else {
    lines.push(`findings: ${r.findings.length}`);
    lines.push(...table(r.findings.map((f) => [`  ${f.kind.replace(/_/g, " ")}`, f.application ?? "-", f.subject, f.detail])));
  }
  if (plan) {
    lines.push("");
    if (plan.actions.length === 0) lines.push("fix: nothing to do");
    else lines.push(`fix: ${plan.actions.length} action(s)`, ...plan.actions.map((a) => `  ${a.does}`));
    for (const s of plan.skipped) lines.push(`  left alone: ${s.finding.kind.replace(/_/g, " ")} ${s.finding.subject}: ${s.why}`);
  }
  return `${lines.join("\n")}\n`;
}
