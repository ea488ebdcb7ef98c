/**
 * The shipped alert rules (`monitoring/alerts.yml` beside each stack, stacks/alert-rules.ts), run by Prometheus's
 * own rule engine: `promtool check rules` parses them, and `promtool test rules` feeds each situation's metrics
 * (the lease audit's, written by its formatter, leases/format.ts, from a report like the audit makes; and the
 * log metrics of the stack's mtail program, as mtail exports them) as series scraped every minute, and says
 * which alerts fire, with which labels, summaries and actions. The monitoring suite fires the same file in a
 * real Prometheus (test/e2e/monitoring.test.ts).
 *
 * promtool comes from Debian's prometheus package, taken out of it by `tools/build.sh promtool` (cached).
 * Needs apt (CI has it): without it this test fails, it does not skip.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { prometheusFailure, toPrometheus } from "../../leases/format";
import type { ApplicationSummary, Finding, Report } from "../../leases/model";
import { ALERT_GROUPS, LOG_METRICS_JOB, POSTGRES_JOB, alertRulesFile } from "../../stacks/alert-rules";

const ROOT = join(__dirname, "..", "..");
const MINUTES = 60;
const work = mkdtempSync(join(tmpdir(), "keybuzz-alert-rules-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const RULES = ALERT_GROUPS.flatMap((g) => g.rules);

function promtool(args: string[]): { status: number | null; output: string } {
  const build = spawnSync("bash", [join(ROOT, "tools", "build.sh"), "promtool"], { encoding: "utf8", timeout: 240_000 });
  if (build.status !== 0) throw new Error(`tools/build.sh promtool failed (status ${build.status}):\n${build.stderr}`);
  const bin = (JSON.parse(build.stdout) as { promtool: string }).promtool;
  const res = spawnSync(bin, args, { encoding: "utf8", cwd: work });
  return { status: res.status, output: `${res.stdout}${res.stderr}` };
}

const app = (application: string, vaultRole: string, extra: Partial<ApplicationSummary> = {}): ApplicationSummary => ({
  application,
  vaultRole,
  active: 2,
  expiring: 0,
  renewable: 2,
  nonRenewable: 0,
  pending: 0,
  irrevocable: 0,
  users: 2,
  budget: 4,
  ...extra,
});

/** A report as the audit of `prod` writes it when nothing is wrong (checkedAt: the epoch, promtool's start). */
const HEALTHY: Report = {
  environment: "prod",
  checkedAt: new Date(0).toISOString(),
  durationSeconds: 1.2,
  expiringWindowSeconds: 900,
  probe: { ok: true, ms: 18 },
  postgresChecked: true,
  applications: [app("keybuzz-api", "keybuzz-api-db"), app("chatwoot", "chatwoot-db"), app("n8n", "n8n-db"), app("workers", "workers-db")],
  findings: [],
};

const finding = (kind: Finding["kind"], application: string | undefined, subject: string): Finding => ({
  kind,
  application,
  subject,
  detail: "x",
  certain: true,
});

/**
 * The textfile's series as promtool input: scraped every minute for `minutes` minutes; the audit's timestamp
 * follows the clock while it runs (`frozen`: it stopped being rewritten at 0).
 */
function inputSeries(textfile: string, minutes: number, frozen = false): { series: string; values: string }[] {
  return textfile
    .split("\n")
    .filter((l) => l && !l.startsWith("#"))
    .map((line) => {
      const at = line.lastIndexOf(" ");
      const [series, value] = [line.slice(0, at), line.slice(at + 1)];
      const clock = series.startsWith("keybuzz_leases_audit_timestamp_seconds{") && !frozen;
      return { series, values: clock ? `0+${MINUTES}x${minutes}` : `${value}x${minutes}` };
    });
}

interface Expected {
  alert: string;
  /** Labels besides alertname, and the rendered summary and action, of each firing alert (none: it must not fire). */
  firing: { labels: Record<string, string>; summary: string; action?: string }[];
}

/** A rule's action with `{{ $labels.x }}` filled in from `labels` (the rules whose action has no other template). */
function action(alert: string, labels: Record<string, string>): string {
  const text = RULES.find((r) => r.alert === alert)!.annotations.action.replace(/\{\{ \$labels\.(\w+) \}\}/g, (_, k: string) => labels[k] ?? "");
  if (text.includes("{{")) throw new Error(`${alert}'s action has a template this test does not render: give the expected text`);
  return text;
}

/** mtail reading PostgreSQL's log and scraped, for `minutes` minutes: the pipeline is not silent. */
function pipelineUp(minutes: number): { series: string; values: string }[] {
  const target = `job="${LOG_METRICS_JOB}",environment="prod",instance="db1:3903"`;
  return [
    { series: `up{${target}}`, values: `1x${minutes}` },
    { series: `mtail_log_lines_total{${target},logfile="/var/log/postgresql/postgresql.json"}`, values: `0+20x${minutes}` },
  ];
}

/** A log metric of mtail's, for the rules on PostgreSQL's failed logins. */
const logSeries = (metric: string, labels: Record<string, string>, values: string) => ({
  series: `keybuzz_postgres_${metric}{job="${LOG_METRICS_JOB}",environment="prod",instance="db1:3903",${Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .join(",")}}`,
  values,
});

/** One promtool test: the series, and at `evalMinutes` which of every rule's alerts fire. */
function situation(name: string, series: { series: string; values: string }[], evalMinutes: number, expected: Expected[]) {
  return {
    name,
    interval: "1m",
    input_series: series,
    alert_rule_test: RULES.map(({ alert: alertname, labels }) => ({
      eval_time: `${evalMinutes}m`,
      alertname,
      exp_alerts: (expected.find((e) => e.alert === alertname)?.firing ?? []).map((f) => ({
        exp_labels: { ...labels, ...f.labels },
        exp_annotations: { summary: f.summary, action: f.action ?? action(alertname, f.labels) },
      })),
    })),
  };
}

describe("the shipped alert rules, in Prometheus's rule engine, on the audit's and mtail's own metrics", () => {
  writeFileSync(join(work, "rules.yml"), alertRulesFile());

  it("promtool check rules: they parse", () => {
    const r = promtool(["check", "rules", "rules.yml"]);
    expect(r.output).toContain(`SUCCESS: ${RULES.length} rules found`);
    expect(r.status, r.output).toBe(0);
  });

  it("promtool test rules: each situation fires the alerts it should, and no other", () => {
    const withFindings: Report = {
      ...HEALTHY,
      applications: HEALTHY.applications.map((a) =>
        a.application === "chatwoot" ? { ...a, irrevocable: 1 } : a.application === "n8n" ? { ...a, pending: 3 } : a,
      ),
      findings: [
        finding("irrevocable_lease", "chatwoot", "database/creds/chatwoot-db/x"),
        finding("orphan_user", "keybuzz-api", "v-a"),
        finding("orphan_user", "keybuzz-api", "v-b"),
        finding("orphan_session", undefined, "pid 7"),
      ],
    };
    const probeFails: Report = {
      ...HEALTHY,
      probe: { ok: false, ms: 3, error: "500" },
      postgresChecked: false,
      applications: HEALTHY.applications.map((a) => ({ ...a, users: null })),
      findings: [finding("probe_failed", undefined, "probe")],
    };
    const lease = (report: Report, minutes: number, frozen = false) => [
      ...inputSeries(toPrometheus(report), minutes, frozen),
      ...pipelineUp(minutes),
    ];
    const tests = [
      situation("healthy for 40 minutes: nothing fires", lease(HEALTHY, 40), 40, []),
      situation("Vault cannot reach PostgreSQL: the probe's alert only", lease(probeFails, 10), 10, [
        {
          alert: "KeybuzzVaultCannotReachPostgres",
          firing: [{ labels: { environment: "prod" }, summary: "prod: Vault cannot issue credentials (the lease audit's probe fails)" }],
        },
      ]),
      situation("irrevocable, pending, orphans and a session of no application", lease(withFindings, 20), 20, [
        {
          alert: "KeybuzzIrrevocableLeases",
          firing: [
            {
              labels: { environment: "prod", application: "chatwoot" },
              summary: "prod/chatwoot: Vault gave up revoking leases; their users are still there",
            },
          ],
        },
        {
          alert: "KeybuzzLeasesPendingRevocation",
          firing: [
            {
              labels: { environment: "prod", application: "n8n" },
              summary: "prod/n8n: expired leases not revoked for 10 minutes (PostgreSQL unreachable?)",
            },
          ],
        },
        {
          alert: "KeybuzzOrphanUsers",
          firing: [
            {
              labels: { environment: "prod", application: "keybuzz-api", kind: "orphan_user" },
              summary: "prod/keybuzz-api: 2 orphan_user: a user no lease will ever drop",
            },
          ],
        },
        {
          alert: "KeybuzzLeaseFindings",
          firing: [
            { labels: { environment: "prod", kind: "orphan_session" }, summary: "prod/: 1 orphan_session; run npm run leases -- --env prod --fix" },
          ],
        },
      ]),
      situation(
        "an orphan user pages at the first audit that reports it: no waiting",
        lease({ ...HEALTHY, findings: [finding("orphan_user", "workers", "v-x")] }, 1),
        1,
        [
          {
            alert: "KeybuzzOrphanUsers",
            firing: [
              {
                labels: { environment: "prod", application: "workers", kind: "orphan_user" },
                summary: "prod/workers: 1 orphan_user: a user no lease will ever drop",
              },
            ],
          },
        ],
      ),
      situation(
        "a crash loop: an application over its lease budget pages at the first audit that reports it",
        lease(
          {
            ...HEALTHY,
            applications: HEALTHY.applications.map((a) => (a.application === "n8n" ? { ...a, active: 23, users: 23 } : a)),
            findings: [finding("over_budget", "n8n", "n8n")],
          },
          1,
        ),
        1,
        [
          {
            alert: "KeybuzzLeaseBudgetExceeded",
            firing: [
              {
                labels: { environment: "prod", application: "n8n", vault_role: "n8n-db" },
                summary: "prod/n8n: 23 active leases, over its lease budget (a crash loop?)",
              },
            ],
          },
        ],
      ),
      situation("the audit could not look", [...inputSeries(prometheusFailure("prod"), 15), ...pipelineUp(15)], 15, [
        {
          alert: "KeybuzzLeaseAuditNotRunning",
          firing: [{ labels: { environment: "prod" }, summary: "prod: the lease audit could not look, or has not run for 30 minutes" }],
        },
      ]),
      situation("the audit stopped running: its file still served, its timestamp old", lease(HEALTHY, 45, true), 45, [
        {
          alert: "KeybuzzLeaseAuditNotRunning",
          firing: [{ labels: { environment: "prod" }, summary: "prod: the lease audit could not look, or has not run for 30 minutes" }],
        },
      ]),
      situation("no audit ever written", [{ series: 'up{job="node"}', values: "1x15" }, ...pipelineUp(15)], 15, [
        {
          alert: "KeybuzzLeaseAuditNotRunning",
          firing: [{ labels: {}, summary: ": the lease audit could not look, or has not run for 30 minutes" }],
        },
      ]),
    ];

    // postgres_exporter on a server of 60 connections, 3 of them reserved: sessions by database, for 10 minutes.
    const postgresExporter = (sessions: Record<string, number>) => {
      const target = `job="${POSTGRES_JOB}",environment="prod",instance="db1:9187"`;
      return [
        ...Object.entries(sessions).map(([db, n]) => ({
          series: `pg_stat_activity_count{${target},datname="${db}",state="idle"}`,
          values: `${n}x10`,
        })),
        { series: `pg_settings_max_connections{${target}}`, values: "60x10" },
        { series: `pg_settings_superuser_reserved_connections{${target}}`, values: "3x10" },
      ];
    };

    // PostgreSQL's failed logins, as mtail exports them: a failure at minute 5 (the gauge holds its unix time, and
    // promtool's clock starts at 0), evaluated at minute 6 (within the 5-minute window) and at 11 (past it).
    const failedAt5 = (labels: Record<string, string>) => [
      logSeries("login_failure_last_timestamp_seconds", labels, "_x4 300x10"),
      logSeries("login_failures_total", labels, "_x4 1x10"),
    ];
    const failures = [
      ...failedAt5({ application: "keybuzz-api", reason: "role_missing" }),
      ...failedAt5({ application: "chatwoot", reason: "wrong_password" }),
      ...failedAt5({ application: "workers", reason: "no_hba_entry" }),
      ...failedAt5({ application: "n8n", reason: "role_connection_limit" }),
      ...failedAt5({ application: "vault_admin", reason: "wrong_password" }),
      ...failedAt5({ application: "keybuzz-api", reason: "server_connection_limit" }),
      // what a restart or a switchover refuses, and the audit's or an unknown user's failures: no application alert.
      ...failedAt5({ application: "chatwoot", reason: "server_unavailable" }),
      ...failedAt5({ application: "vault_admin", reason: "server_unavailable" }),
      ...failedAt5({ application: "leases-audit", reason: "wrong_password" }),
      ...failedAt5({ application: "unknown", reason: "role_missing" }),
      ...lease(HEALTHY, 11),
    ];
    const revokedAction =
      "The application still uses credentials that were revoked or expired: check its Vault Agent (is it renewing, did it restart the application on new credentials?).";
    tests.push(
      situation("failed logins, a minute later: one alert per application and reason, none for a restart's refusals", failures, 6, [
        {
          alert: "KeybuzzApplicationLoginFailing",
          firing: [
            {
              labels: { environment: "prod", application: "keybuzz-api", reason: "role_missing" },
              summary: "prod/keybuzz-api: its PostgreSQL logins fail (role_missing)",
              action: revokedAction,
            },
            {
              labels: { environment: "prod", application: "chatwoot", reason: "wrong_password" },
              summary: "prod/chatwoot: its PostgreSQL logins fail (wrong_password)",
              action: "The application sends a password PostgreSQL does not accept: check what its agent renders and that nothing overrides it.",
            },
            {
              labels: { environment: "prod", application: "workers", reason: "no_hba_entry" },
              summary: "prod/workers: its PostgreSQL logins fail (no_hba_entry)",
              action:
                "PostgreSQL refuses the login before the password (no_hba_entry): check pg_hba.conf, CONNECT on the database and the database's name.",
            },
          ],
        },
        {
          alert: "KeybuzzVaultAdminLoginFailing",
          firing: [
            {
              labels: { environment: "prod", reason: "wrong_password" },
              summary: "prod: Vault cannot log in to PostgreSQL as its admin role (wrong_password)",
            },
          ],
        },
        {
          alert: "KeybuzzRoleAtConnectionLimit",
          firing: [
            {
              labels: { environment: "prod", application: "n8n" },
              summary: "prod/n8n: a user of it is at its CONNECTION LIMIT; logins are refused",
            },
          ],
        },
        {
          alert: "KeybuzzPostgresOutOfConnections",
          firing: [
            {
              labels: { environment: "prod", application: "keybuzz-api" },
              summary: "prod: PostgreSQL refuses logins for lack of connection slots (max_connections), keybuzz-api among them",
            },
          ],
        },
      ]),
      situation("failed logins, six minutes later: resolved", failures, 11, []),
      situation(
        "a login storm: 60 failed logins a minute against one role",
        [logSeries("login_failures_total", { application: "unknown", reason: "wrong_password" }, "0+60x10"), ...lease(HEALTHY, 10)],
        5,
        [
          {
            alert: "KeybuzzPostgresLoginStorm",
            firing: [
              { labels: { environment: "prod", application: "unknown" }, summary: "prod/unknown: more than 30 failed PostgreSQL logins a minute" },
            ],
          },
        ],
      ),
      situation(
        "50 sessions on a server of 60 connections (3 reserved): near max_connections, after a minute",
        [...postgresExporter({ keybuzz: 45, postgres: 5 }), ...lease(HEALTHY, 10)],
        5,
        [
          {
            alert: "KeybuzzPostgresNearMaxConnections",
            firing: [
              {
                labels: { environment: "prod", instance: "db1:9187" },
                summary: "prod/db1:9187: 50 sessions, over 80 % of the slots applications may use (max_connections)",
              },
            ],
          },
        ],
      ),
      situation("45 sessions of the same 57 slots: not near yet", [...postgresExporter({ keybuzz: 45 }), ...lease(HEALTHY, 10)], 5, []),
      situation(
        "the log pipeline down: mtail not scraped",
        [
          { series: `up{job="${LOG_METRICS_JOB}",environment="prod",instance="db1:3903"}`, values: "0x10" },
          ...inputSeries(toPrometheus(HEALTHY), 10),
        ],
        10,
        [
          {
            alert: "KeybuzzPostgresLogSilent",
            firing: [
              {
                labels: { environment: "prod", job: LOG_METRICS_JOB, instance: "db1:3903" },
                summary: "prod: nothing reads PostgreSQL's log, so no failed login would be seen",
              },
            ],
          },
        ],
      ),
      situation(
        "the log pipeline silent: mtail up, but no line read for 30 minutes (a wrong --logs glob, log_connections off)",
        [
          { series: `up{job="${LOG_METRICS_JOB}",environment="prod",instance="db1:3903"}`, values: "1x40" },
          {
            series: `mtail_log_lines_total{job="${LOG_METRICS_JOB}",environment="prod",instance="db1:3903",logfile="/var/log/postgresql/postgresql.json"}`,
            values: "7x40",
          },
          ...inputSeries(toPrometheus(HEALTHY), 40),
        ],
        40,
        [
          {
            alert: "KeybuzzPostgresLogSilent",
            firing: [{ labels: { environment: "prod" }, summary: "prod: nothing reads PostgreSQL's log, so no failed login would be seen" }],
          },
        ],
      ),
      situation("the log pipeline never scraped at all", [{ series: 'up{job="node"}', values: "1x10" }], 10, [
        {
          alert: "KeybuzzLeaseAuditNotRunning",
          firing: [{ labels: {}, summary: ": the lease audit could not look, or has not run for 30 minutes" }],
        },
        {
          alert: "KeybuzzPostgresLogSilent",
          firing: [{ labels: { job: LOG_METRICS_JOB }, summary: ": nothing reads PostgreSQL's log, so no failed login would be seen" }],
        },
      ]),
    );
    writeFileSync(join(work, "tests.yml"), stringify({ rule_files: ["rules.yml"], evaluation_interval: "1m", tests }));
    const r = promtool(["test", "rules", "tests.yml"]);
    expect(r.status, r.output).toBe(0);
    expect(r.output).toMatch(/SUCCESS/);
  });
});
