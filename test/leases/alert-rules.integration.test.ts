/**
 * The README's alert rules, run by Prometheus's own rule engine on what `npm run leases --format prometheus`
 * writes: `promtool check rules` parses them, and `promtool test rules` feeds each situation's metrics, written
 * by the audit's formatter (leases/format.ts) from a report like the audit makes, as a series scraped every
 * minute, and says which alerts fire, with which labels and summaries.
 *
 * promtool comes from Debian's prometheus package, taken out of it by `tools/build.sh promtool` (cached).
 * Needs apt (CI has it): without it this test fails, it does not skip.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { prometheusFailure, toPrometheus } from "../../leases/format";
import type { ApplicationSummary, Finding, Report } from "../../leases/model";

const ROOT = join(__dirname, "..", "..");
const MINUTES = 60;
const work = mkdtempSync(join(tmpdir(), "keybuzz-alert-rules-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** The alert rules, as the README shows them. */
function readmeRules(): string {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const section = readme.slice(readme.indexOf("## Operating it"));
  const rules = /```yaml\n([\s\S]*?)```/.exec(section)?.[1];
  if (!rules) throw new Error("README.md: no ```yaml block under ## Operating it");
  return rules;
}

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
  /** Labels besides alertname, and the rendered summary, of each firing alert (none: it must not fire). */
  firing: { labels: Record<string, string>; summary: string }[];
}

/** One promtool test: the series, and at `evalMinutes` which of every rule's alerts fire. */
function situation(name: string, series: { series: string; values: string }[], evalMinutes: number, expected: Expected[]) {
  const alerts = [
    "KeybuzzVaultCannotReachPostgres",
    "KeybuzzLeaseAuditNotRunning",
    "KeybuzzIrrevocableLeases",
    "KeybuzzLeaseFindings",
    "KeybuzzLeasesPendingRevocation",
  ];
  return {
    name,
    interval: "1m",
    input_series: series,
    alert_rule_test: alerts.map((alertname) => ({
      eval_time: `${evalMinutes}m`,
      alertname,
      exp_alerts: (expected.find((e) => e.alert === alertname)?.firing ?? []).map((f) => ({
        exp_labels: f.labels,
        exp_annotations: { summary: f.summary },
      })),
    })),
  };
}

describe("the README's alert rules, in Prometheus's rule engine, on the audit's own metrics", () => {
  writeFileSync(join(work, "rules.yml"), readmeRules());

  it("promtool check rules: they parse", () => {
    const r = promtool(["check", "rules", "rules.yml"]);
    expect(r.output).toMatch(/SUCCESS: 5 rules found/);
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
    const tests = [
      situation("healthy for 40 minutes: nothing fires", inputSeries(toPrometheus(HEALTHY), 40), 40, []),
      situation("Vault cannot reach PostgreSQL: the probe's alert only", inputSeries(toPrometheus(probeFails), 10), 10, [
        {
          alert: "KeybuzzVaultCannotReachPostgres",
          firing: [{ labels: { environment: "prod" }, summary: "prod: Vault cannot issue credentials (the lease audit's probe fails)" }],
        },
      ]),
      situation("irrevocable, pending, orphans and a session of no application", inputSeries(toPrometheus(withFindings), 20), 20, [
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
          alert: "KeybuzzLeaseFindings",
          firing: [
            {
              labels: { environment: "prod", application: "keybuzz-api", kind: "orphan_user" },
              summary: "prod/keybuzz-api: 2 orphan_user; run npm run leases -- --env prod --fix",
            },
            { labels: { environment: "prod", kind: "orphan_session" }, summary: "prod/: 1 orphan_session; run npm run leases -- --env prod --fix" },
          ],
        },
      ]),
      situation("the audit could not look", inputSeries(prometheusFailure("prod"), 15), 15, [
        {
          alert: "KeybuzzLeaseAuditNotRunning",
          firing: [{ labels: { environment: "prod" }, summary: "prod: the lease audit could not look, or has not run for 30 minutes" }],
        },
      ]),
      situation("the audit stopped running: its file still served, its timestamp old", inputSeries(toPrometheus(HEALTHY), 45, true), 45, [
        {
          alert: "KeybuzzLeaseAuditNotRunning",
          firing: [{ labels: { environment: "prod" }, summary: "prod: the lease audit could not look, or has not run for 30 minutes" }],
        },
      ]),
      situation("no audit ever written", [{ series: 'up{job="node"}', values: "1x15" }], 15, [
        {
          alert: "KeybuzzLeaseAuditNotRunning",
          firing: [{ labels: {}, summary: ": the lease audit could not look, or has not run for 30 minutes" }],
        },
      ]),
    ];
    writeFileSync(join(work, "tests.yml"), stringify({ rule_files: ["rules.yml"], evaluation_interval: "1m", tests }));
    const r = promtool(["test", "rules", "tests.yml"]);
    expect(r.status, r.output).toBe(0);
    expect(r.output).toMatch(/SUCCESS/);
  });
});
