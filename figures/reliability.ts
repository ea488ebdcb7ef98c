/**
 * docs/reliability.md, written by `npm run figures` from what the last test run left in test-results/ — never
 * from numbers copied by hand:
 * - test-results/vitest.json, vitest's JSON report (figures/vitest-run.ts): files, tests passed, failed and
 *   skipped, and when each file's tests started and ended;
 * - test-results/figures/<suite>.json, written by the reliability suites after their assertions
 *   (test/e2e/fixture/figures.ts) and read through the figures contract (figures/contract.ts): what each
 *   measured, when, and on what machine.
 *
 * Each row of the reliability table has fixed prose ("how", and the claims its test asserts) and takes every
 * number from those files. A row whose test failed says so; a row whose figures are missing, or do not match
 * the contract (a file an older suite wrote), says "not measured in the last run (run `npm test`)"; figures
 * left by an earlier run are shown with their date. A run of single files replaces vitest.json with those
 * files' counts only: the page then says which files the counts cover.
 */
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { type FigureKey, type FigureOf, type Figures, parseFiguresFile, type SuiteRecord } from "./contract";
import { PROJECT_ROOT, type Project, type Run, readJson, readRun } from "./vitest-run";

// ------------------------------------------------------------------------------------------------ inputs

/**
 * Every `<resultsDir>/figures/*.json`, by suite, with the figures that match the contract; and a line for each
 * that does not, naming the file (relative to `root`) and the field. A file that is not JSON is an error.
 */
export function readFigures(resultsDir: string, root = PROJECT_ROOT): { records: Map<string, SuiteRecord>; problems: string[] } {
  const dir = join(resultsDir, "figures");
  const records = new Map<string, SuiteRecord>();
  const problems: string[] = [];
  if (!existsSync(dir)) return { records, problems };
  for (const name of readdirSync(dir)
    .filter((n) => n.endsWith(".json"))
    .sort()) {
    const path = join(dir, name);
    const parsed = parseFiguresFile(relative(root, path) || path, readJson(path, "figures file"), name.replace(/\.json$/, ""));
    problems.push(...parsed.problems);
    if (parsed.record) records.set(parsed.record.suite, parsed.record);
  }
  return { records, problems };
}

// ------------------------------------------------------------------------------------------------ formatting

const int = (n: number) => Math.round(n).toLocaleString("en-US");
/** "1 file", "2 files". */
const count = (n: number, what: string) => `${int(n)} ${what}${n === 1 ? "" : "s"}`;
const sec = (n: number) => `${n.toFixed(1)} s`;
const range = (xs: number[], fmt: (n: number) => string) => {
  const lo = fmt(Math.min(...xs));
  const hi = fmt(Math.max(...xs));
  return lo === hi ? lo : `${lo.replace(/ s$/, "")}–${hi}`;
};
/** "2026-11-29 18:40 UTC". */
export const when = (t: number | string) => `${new Date(t).toISOString().slice(0, 16).replace("T", " ")} UTC`;
const minutes = (ms: number) => (ms >= 120_000 ? `${(ms / 60_000).toFixed(1)} min` : sec(ms / 1000));
const machineOf = (r: SuiteRecord) =>
  `${r.cpuModel ?? "unknown CPU"}, ${r.cpus} CPUs${r.memoryGiB ? `, ${r.memoryGiB} GiB` : ""}; ${r.platform}; Node.js ${r.node}`;
const cell = (s: string) => s.replace(/\|/g, "\\|").replace(/\n/g, " ");

// ------------------------------------------------------------------------------------------------ rows

const NOT_MEASURED = "not measured in the last run (run `npm test`)";

interface Row {
  what: string;
  /** Fixed prose: the test and what it does. */
  how: string;
  /** The test file, to read its status in the run. */
  file: string;
  /** The figures it needs (none: its result is what the test asserts). */
  suites: readonly FigureKey[];
  /** Its result says itself which of its figures were not measured, so some of them are enough. */
  someSuffice?: boolean;
  /** The result: fixed claims the test asserts, numbers from the figures. */
  result: (f: Figures) => string;
}

/** What a row is written as: its result gets the figures it names, typed. */
interface RowOf<K extends FigureKey, F> {
  what: string;
  how: string;
  file: string;
  suites: readonly K[];
  result: (f: F) => string;
}

/** A row that needs every figure it names: its result is only asked for when all of them were measured. */
function row<K extends FigureKey = never>(r: RowOf<K, { readonly [P in K]: FigureOf<P> }>): Row {
  return { ...r, result: (f) => r.result(f as { readonly [P in K]: FigureOf<P> }) };
}

/** A row whose result says itself which of its figures were not measured: asked for when one of them was. */
function someOf<K extends FigureKey>(r: RowOf<K, { readonly [P in K]?: FigureOf<P> }>): Row {
  return { ...r, someSuffice: true, result: (f) => r.result(f) };
}

const ROWS: readonly Row[] = [
  row({
    what: "OpenBao **and** Vault, PostgreSQL 15 **and** 17",
    how: "`wiring.test.ts`: `cdktf deploy`, `diff`, use, `destroy` of `local` on OpenBao and on HashiCorp Vault, each with the machine's PostgreSQL 15 and with PostgreSQL 17 (from a Debian trixie root made with debootstrap, `tools/build.sh postgres-17`)",
    file: "test/e2e/wiring.test.ts",
    suites: ["wiring"],
    result: ({ wiring }) => {
      const pairs = Object.entries(wiring.pairs);
      const each = pairs.map(
        ([, p]) =>
          `${p.server} with ${p.postgres}: ${int(p.resourcesAdded)} resources deployed and ${int(p.resourcesDestroyed)} destroyed, ${sec(p.seconds)} from starting the servers to the end of the destroy`,
      );
      const no17 = pairs.every(([label]) => !label.endsWith("pg17")) ? " (no PostgreSQL 17 pair in this run: `KEYBUZZ_E2E_PG17=0`?)" : "";
      return `${pairs.length} pair(s) pass${no17} with the least-privilege \`vault_admin\` (no role attribute, EXECUTE on three functions); \`cdktf diff\` clean after the deploy and after \`rotate-root\`; ${each.join("; ")}`;
    },
  }),
  row({
    what: "destroy with credentials out",
    how: "`wiring.test.ts` k: two issued users with open sessions and tables (one as the base role, one as itself), then `cdktf destroy`",
    file: "test/e2e/wiring.test.ts",
    suites: [],
    result: () =>
      "the destroy completes; PostgreSQL's roles, memberships, databases and default ACLs equal the snapshot from before the deploy, but for `postgres` and `template1`, still closed to PUBLIC; no lease left",
  }),
  row({
    what: "deploy failures and interruptions",
    how: "`deploy.test.ts`: wrong `PGPASSWORD`, PostgreSQL down, the server down; `tofu apply` and `tofu destroy` interrupted with Ctrl-C halfway",
    file: "test/e2e/deploy.test.ts",
    suites: [],
    result: () =>
      'each fails naming the cause (`password authentication failed for user "postgres"`, `dial tcp 127.0.0.1:<port>: connect: connection refused`, the server\'s address); nothing reaches PostgreSQL on a wrong password; every re-run completes, `cdktf diff` clean',
  }),
  row({
    what: "data protection",
    how: "`deploy.test.ts`: `protectData` true, a table with a row, `cdktf destroy`",
    file: "test/e2e/deploy.test.ts",
    suites: [],
    result: () =>
      "refused at the plan (`Resource instance cannot be destroyed`, one per schema); catalog, row and Vault unchanged; with `protectData` false the destroy completes",
  }),
  row({
    what: "TLS verified end to end",
    how: "`tls.test.ts`: a throwaway CA, `verify-full`, `caCertFile` ([TLS](deploying.md#tls-to-postgresql-keybuzzs-ca))",
    file: "test/e2e/tls.test.ts",
    suites: [],
    result: () =>
      "the postgresql provider and Vault both connect over TLS and check the certificate; sessions on TLS 1.3; a certificate for another host name refused by both with a message that says so, nothing issued",
  }),
  row({
    what: "shared state with locking",
    how: "`state-lock.test.ts`: the `local` stack with the `pg` backend (state in its own database, owned by a role that can do nothing else); engineer A's `tofu apply` held at its prompt, engineer B applies from another copy",
    file: "test/e2e/state-lock.test.ts",
    suites: ["state-lock"],
    result: ({ "state-lock": s }) =>
      `B with \`-lock-timeout=0s\` fails at once: \`Error acquiring the state lock … Already locked for workspace creation: default\`, nothing written; B with a lock timeout waits, then \`No changes.\`; a deploy killed while holding the lock leaves none; ${int(s.stateRows)} state row with all ${int(s.resourcesInState)} resources (serial ${s.serial}, ${int(s.stateBytes)} bytes), both copies plan clean`,
  }),
  row({
    what: "lease churn",
    how: "`churn.test.ts`: issue-then-revoke cycles (`KEYBUZZ_CHURN_CYCLES`; CI runs the default) at a fixed concurrency on PostgreSQL 17 and OpenBao; every 10th user holds an open session and owns two tables (one as its base role, one as itself) when it is revoked",
    file: "test/e2e/churn.test.ts",
    suites: ["churn"],
    result: ({ churn: c }) =>
      `**${int(c.cycles)}** cycles at concurrency **${c.concurrency}** (${c.postgres}, ${c.server}) in **${sec(c.seconds)}** (${int(c.cyclesPerSecond)} cycles/s; cycle p50 ${int(c.cycleP50Ms)} ms, p99 ${int(c.cycleP99Ms)} ms); ${int(c.failedCycles)} failed cycles; ${int(c.sessions)} sessions, ${int(c.sessionsEndedByRevocation)} ended by revocation; **${int(c.rolesLeft)}** \`v-\` roles left, **${int(c.leasesLeft)}** leases held, **${int(c.irrevocable)}** irrevocable; ${int(c.tablesOwnedByBaseRoles)} of ${int(c.tablesCreated)} tables owned by base roles; ${int(c.strayObjects)} objects owned by anything else`,
  }),
  row({
    what: "a crash loop, contained",
    how: "`crash-loop.test.ts`: n8n's synthesized agent run by `bao agent` and killed with SIGKILL after each start (no revocation), OpenBao and PostgreSQL 15, leases of 30 s, n8n's default lease budget; keybuzz-api issuing all along; the lease audit during the loop and after it ([Alerts](operations.md#alerts-failed-logins-and-the-lease-audit))",
    file: "test/e2e/crash-loop.test.ts",
    suites: ["crash-loop"],
    result: ({ "crash-loop": c }) =>
      `${int(c.starts)} starts in ${sec(c.loopSeconds)} (${c.server}, ${c.postgres}): ${int(c.leasesPerMinute)} leases taken a minute, none revoked: ${int(c.leasesAtStop)} held when it stopped, ${int(c.peakUsers)} users at most (the rate times the TTL); over the budget of ${int(c.budget)} after ${sec(c.overBudgetAfterSeconds)}, and the audit reported \`over_budget\` for n8n (exit 2, \`keybuzz_leases_budget\` and the finding in its textfile); keybuzz-api's issuance p50/p99 ${c.otherIssueP50MsBefore}/${c.otherIssueP99MsBefore} ms before, ${c.otherIssueP50MsDuring}/${c.otherIssueP99MsDuring} ms during (${int(c.otherIssuesDuring)} issued, none failed); once it stopped, every lease ended with its ${c.defaultTtlSeconds} s TTL and every user was dropped within ${sec(c.drainedAfterSeconds)}: ${int(c.irrevocable)} irrevocable, ${int(c.usersLeft)} users left, the audit healthy`,
  }),
  row({
    what: "server restarted mid-churn",
    how: "`outages.test.ts` 1: a persistent OpenBao (file storage, initialized and unsealed like production), leases with a short TTL outstanding, churn, the server stopped (SIGTERM) and started again",
    file: "test/e2e/outages.test.ts",
    suites: ["outages/restart"],
    result: ({ "outages/restart": r }) =>
      `${int(r.outstanding)} leases (${r.ttlSeconds} s TTL) outstanding, churn at concurrency ${r.concurrency}, ${r.server} down ${r.downSeconds} s: every one of ${int(r.cycles)} cycles completes (${int(r.cyclesDuringAndAfter)} during and after the restart; ${int(r.retried)} calls retried while it was down or sealed); ${int(r.leasesCut)} lease(s) whose answer the stop cut (revoked); ${int(r.orphanUsers)} user(s) the server created as it stopped but never registered a lease for (it happens in some runs, not all): \`npm run leases\` reports exactly those as \`orphan_user\` and \`--fix --apply\` drops them; the outstanding leases revoked as they expired (the last ${sec(r.outstandingRevokedSecondsAfterWait - r.waitedForExpirySeconds)} after its TTL ended); 0 left`,
  }),
  someOf({
    what: "the lease audit",
    how: "`leases.test.ts`, on OpenBao and on HashiCorp Vault: audits during a churn; each fault made for real (orphans, a lease whose user was dropped, sessions of dropped roles, a user a revocation could not drop, another application's role, an expired user in session, Vault's connection broken); its own access attacked ([Operating it](../README.md#operating-it-npm-run-leases))",
    file: "test/e2e/leases.test.ts",
    suites: ["leases/healthy-bao", "leases/faults-bao", "leases/healthy-vault", "leases/faults-vault"],
    result: (f) => {
      const server = (key: "bao" | "vault", label: string) => {
        const h = f[`leases/healthy-${key}`];
        const x = f[`leases/faults-${key}`];
        if (!h || !x) return `${label}: not measured in the last run (run \`npm test\`)`;
        const audits = h.audits;
        const found = audits.reduce((s, a) => s + a.findings, 0);
        return `${h.server}: ${audits.length} audits during ${int(h.churnCycles)} churn cycles, ${found} findings, ${range(
          audits.map((a) => a.seconds),
          sec,
        )} each; ${x.made} faults made, ${x.reported} reported, each certain; \`--fix\` plans ${x.fixActions} actions and leaves ${x.leftToAPerson} to a person, changing nothing; \`--fix --apply\` applies ${x.applied}, and the next audit has ${x.findingsAfterwards} findings`;
      };
      return `${server("bao", "OpenBao")}. ${server("vault", "HashiCorp Vault")}. The audit at scale: [BENCHMARKS.md](../BENCHMARKS.md) §5`;
    },
  }),
  someOf({
    what: "a lease Vault gives up revoking",
    how: "`irrevocable.test.ts`, on OpenBao and on HashiCorp Vault at once: a lease shortened to 5 s, PostgreSQL stopped before it expires and kept down until the server gives up (six attempts), then started again ([Operating it](../README.md#operating-it-npm-run-leases))",
    file: "test/e2e/irrevocable.test.ts",
    suites: ["irrevocable/bao", "irrevocable/vault"],
    result: (f) => {
      const server = (key: "bao" | "vault", label: string) => {
        const r = f[`irrevocable/${key}`];
        if (!r) return `${label}: not measured in the last run (run \`npm test\`)`;
        const error = r.lastError;
        return `${r.server} gave up ${sec(r.gaveUpAfterSeconds)} after PostgreSQL stopped (its last error: \`${error.length > 120 ? `${error.slice(0, 120)}…` : error}\`)`;
      };
      return `${server("bao", "OpenBao")}; ${server("vault", "HashiCorp Vault")}. While PostgreSQL is down the audit reports the failed probe and the lease as pending; once it is back, exactly that lease as \`irrevocable_lease\` with the server's last error, its user still there and paired with it; \`--fix --apply\` leaves it to a person; revoking it again drops the user, and the next audit is clean`;
    },
  }),
  row({
    what: "PostgreSQL down while leases expire",
    how: "`outages.test.ts` 2: leases with a TTL of a few seconds, PostgreSQL stopped until they have expired",
    file: "test/e2e/outages.test.ts",
    suites: ["outages/postgresDown"],
    result: ({ "outages/postgresDown": p }) =>
      `${int(p.leases)} leases (${p.ttlSeconds} s TTL), PostgreSQL down ${p.downSeconds} s; while down: ${int(p.pending)} pending, ${int(p.irrevocable)} irrevocable; the server's own retry dropped every user ${sec(p.droppedSecondsAfterReturn)} after PostgreSQL returned (a failed revocation is retried 10–30 s later, then with doubling backoff)`,
  }),
  someOf({
    what: "the leader changes behind HAProxy",
    how: "`ha.test.ts`: two PostgreSQL 15 nodes managed by Patroni behind HAProxy (Debian's packages), the stack deployed through HAProxy with verify-full; a `patronictl switchover`, a crash of the leader, and a `CREATE ROLE` the crashed leader never replicated, while credentials churn; asynchronous replication with OpenBao, synchronous with Vault ([Behind HAProxy](operations.md#behind-haproxy-patroni-switchover-and-failover))",
    file: "test/e2e/ha.test.ts",
    suites: ["ha-async", "ha-sync"],
    result: (f) => {
      const mode = (name: "ha-async" | "ha-sync") => {
        const h = f[name];
        const label = name === "ha-async" ? "asynchronous" : "synchronous";
        if (!h) return `${label}: not measured in the last run (run \`npm test\`)`;
        const events = h.recoveries.map(
          (r) =>
            `${r.event.split(" ")[0]}: issuance back after ${sec(r.issuanceBackSeconds)}, cluster healthy after ${sec(r.healthySeconds)}, ${r.failed.issue ?? 0} failed issuance(s)`,
        );
        const logins = h.recoveries.map((r) => {
          const event = r.event.split(" ")[0];
          const seen = h.failedLogins.filter((l) => l.event === event && l.count > 0);
          return `${event}: ${seen.length ? seen.map((l) => `${int(l.count)} ${l.reason} (${l.application})`).join(", ") : "none"}`;
        });
        return `${label} (${h.server}): ${events.join("; ")}; failed logins in the nodes' logs (cumulative) after the ${logins.join("; after the ")}`;
      };
      return `${mode("ha-async")}. ${mode("ha-sync")}. A switchover's failed logins are only \`server_unavailable\`, which no alert pages on. Credentials issued before each event log in and renew after it; the lost user's lease still revokes (asynchronous) or Vault never issued it (synchronous); the plan through HAProxy is clean; 0 leases, 0 \`v-\` users on either node`;
    },
  }),
  ...(["bao", "vault"] as const).map(
    (key): Row =>
      row({
        what: `the active ${key === "bao" ? "OpenBao" : "HashiCorp Vault"} node lost`,
        how: `\`raft-${key}.test.ts\`: three ${key === "bao" ? "OpenBao" : "HashiCorp Vault"} nodes with Raft storage and TLS everywhere behind HAProxy, which sends clients to the active node; while credentials churn through it: a step-down, a SIGKILL of the active node and of a standby (each kill after a one-second burst of issuances), and a deploy of changed roles as the active node dies ([A Vault cluster](operations.md#a-vault-cluster-raft-behind-a-load-balancer))`,
        file: `test/e2e/raft-${key}.test.ts`,
        suites: [`raft-${key}`],
        result: (f) => {
          const r = f[`raft-${key}`];
          const events = r.events.map((e) => {
            const failed = Object.values(e.failed).reduce((a, b) => a + b, 0);
            const made = Object.values(e.made).reduce((a, b) => a + b, 0);
            const last = e.lastSecond
              ? `, ${int(e.lastSecond.known)} of the ${int(e.lastSecond.answered)} leases answered in the last second known after it`
              : "";
            return `${e.event.replace(/ (of )?node\d$/, "")}: issuance back after ${sec(e.issuanceBackSeconds)}, ${int(failed)} of ${int(made)} calls failed${last}, ${int(e.orphanUsers)} user(s) with no lease`;
          });
          const deploy = r.deployDuringOutage;
          if (!deploy) return NOT_MEASURED;
          return `${r.server}: ${events.join("; ")}; \`tofu apply\` started as the active node died ${deploy.applyAtKill.outcome} in ${sec(deploy.applyAtKill.seconds)}, \`cdktf deploy\` right after it ${deploy.cdktfDeploy.outcome} in ${sec(deploy.cdktfDeploy.seconds)}, the next one converged; ${int(r.leasesNoClientGot)} lease(s) whose answer no client got; in the end \`npm run leases\` clean through HAProxy and against a standby, the ${int(r.shortLeases)} short leases' users dropped, 0 leases, 0 irrevocable, 0 \`v-\` users, no diff through HAProxy or any node`;
        },
      }),
  ),
  someOf({
    what: "alerts on failed logins and on the lease audit, end to end",
    how: "`monitoring.test.ts`, on PostgreSQL 15 and 17 side by side: PostgreSQL with the settings the stack's log program needs, the synthesized `monitoring/postgresql-log.mtail` in Debian's mtail, the lease audit's textfile through the node exporter, Prometheus with the synthesized `monitoring/alerts.yml`, Alertmanager, a webhook receiver; each condition made for real, then a quiet period ([Alerts](operations.md#alerts-failed-logins-and-the-lease-audit))",
    file: "test/e2e/monitoring.test.ts",
    suites: ["monitoring-pg15", "monitoring-pg17"],
    result: (f) => {
      const one = (name: "monitoring-pg15" | "monitoring-pg17") => {
        const m = f[name];
        if (!m) return `${name}: ${NOT_MEASURED}`;
        const alerts = m.alerts.map((a) => `${a.condition}: \`${a.alert}\` for ${a.application} after ${sec(a.seconds)}`);
        const quiet = Object.entries(m.quietFailedLoginsByReason)
          .map(([reason, n]) => `${int(n)} ${reason}`)
          .join(", ");
        return `${m.postgres} with ${m.server}: ${alerts.join("; ")} (each within 60 s of its first failure, the server near its limit within 60 s plus its rule's minute; ${int(m.unexpectedAlerts)} other alerts). Quiet period of ${sec(m.quietSeconds)} (${int(m.quietIssued)} issued, ${int(m.quietRenewed)} renewed, ${int(m.quietRevoked)} revoked, four audits, a restart that refused ${int(m.quietLoginsRefusedByRestart)} logins): ${count(m.quietNotifications, "notification")}; failed logins in the log: ${quiet || "none"}`;
      };
      return `${one("monitoring-pg15")}. ${one("monitoring-pg17")}. No password in a metric or a notification`;
    },
  }),
  row({
    what: "a change deployed while a server is down",
    how: "`outages.test.ts` 3a/3b: a changed role with the server down; a changed connection with PostgreSQL down",
    file: "test/e2e/outages.test.ts",
    suites: ["outages/deployVaultDown", "outages/deployPostgresDown"],
    result: ({ "outages/deployVaultDown": v, "outages/deployPostgresDown": p }) =>
      `\`tofu apply\` exits ${v.exitCode} naming the server: \`failed to lookup token … dial tcp 127.0.0.1:<port>: connect: connection refused\`, or (exit ${p.exitCode}) the postgresql provider's \`error connecting to PostgreSQL server 127.0.0.1 … connection refused\` (then no plan at all until it is back, exit ${p.planWhileDown}: the provider reads its resources first); once the server is back the plan shows the change (exit ${v.planAfterwards}), apply completes, the plan is clean (exit ${v.planInTheEnd})`,
  }),
];

/** A figure of the records, and the record that holds it. */
function lookup(figures: ReadonlyMap<string, SuiteRecord>, key: FigureKey): { record: SuiteRecord; value: unknown } | undefined {
  const record = figures.get(key.split("/")[0]);
  const value = record?.figures[key];
  return record && value !== undefined ? { record, value } : undefined;
}

/** Whether a figures file was written during the run (after it started, before its last test ended, give or take a minute). */
const during = (r: SuiteRecord, run: Run) => Date.parse(r.recordedAt) >= run.startTime && Date.parse(r.recordedAt) <= run.endTime + 60_000;

function renderRow(row: Row, run: Run, figures: ReadonlyMap<string, SuiteRecord>): string {
  const file = run.files.find((f) => f.file === row.file);
  const short = row.file.replace(/^test\/e2e\//, "");
  // a test that ran: only figures of this run count; one that did not: figures of an earlier run, dated.
  const found = row.suites.flatMap((key) => {
    const hit = lookup(figures, key);
    return hit && (!file || during(hit.record, run)) ? [{ key, ...hit }] : [];
  });
  const enough = found.length === row.suites.length || (row.someSuffice && found.length > 0);
  const values = Object.fromEntries(found.map(({ key, value }) => [key, value])) as Figures;

  let result: string;
  if (file?.status === "failed") {
    result = `**failed in the last run** (\`${short}\`: ${file.failed} of ${file.tests} tests failed; see test-results/vitest.json)`;
  } else if (file?.status === "skipped") {
    result = `skipped in the last run (its tools could not be had; CI never skips): ${NOT_MEASURED}`;
  } else if (file) {
    result = enough ? row.result(values) : NOT_MEASURED;
  } else if (row.suites.length && enough) {
    const dates = [...new Set(found.map(({ record }) => when(record.recordedAt)))];
    const text = row.result(values);
    result = text === NOT_MEASURED ? text : `${text} _(recorded ${dates.join(", ")}, in an earlier run than the one summarized above)_`;
  } else {
    result = NOT_MEASURED;
  }
  return `| ${cell(row.what)} | ${cell(row.how)} | ${cell(result)} |`;
}

// ------------------------------------------------------------------------------------------------ page

/** The whole page, from a run and the figures files. */
export function renderReliability(run: Run, figures: ReadonlyMap<string, SuiteRecord>): string {
  const projects: Project[] = ["unit", "integration", "e2e"];
  const byProject = projects.map((p) => ({ project: p, files: run.files.filter((f) => f.project === p) }));
  const partial = byProject.some((p) => p.files.length === 0);
  const inRun = [...figures.values()].filter((r) => during(r, run));
  const machines = [...new Set(inRun.map(machineOf))];

  const out: string[] = [];
  out.push(
    "# Reliability",
    "",
    "<!-- Generated by `npm run figures` (scripts/figures.ts) from test-results/: do not edit by hand. -->",
    "",
    "Written by `npm run figures` after `npm test`, from vitest's report (`test-results/vitest.json`) and the figures the",
    "reliability suites record (`test-results/figures/`); every number below comes from those files.",
    "",
    "Dynamic credentials fail quietly: a revocation that errors leaves a live user behind, a revocation that",
    "works on one PostgreSQL version breaks on the next, a destroy that stops halfway leaves users nobody tracks,",
    "two deploys at once corrupt shared state. Each of these is a test in `npm test` (real servers on 127.0.0.1,",
    "the stack deployed by OpenTofu with both real providers, never skipped in CI), and each prints its figures.",
    "",
    "## The test run",
    "",
  );
  const skipped = run.skipped === 0 ? "none skipped" : `**${run.skipped} skipped**`;
  const failed = run.failed === 0 ? "" : `, **${run.failed} failed**`;
  out.push(
    `- when: ${when(run.startTime)} to ${when(run.endTime)}`,
    `- machine: ${machines.length ? machines.join(" / ") : "not recorded (no suite recorded figures during this run)"}`,
    `- ${count(run.files.length, "file")}, ${count(run.tests, "test")}: ${int(run.passed)} passed${failed}, ${skipped}; ${minutes(run.endTime - run.startTime)} of vitest (from its start to the end of its last test)`,
  );
  if (partial) {
    out.push(
      `- **a partial run**: the counts cover only ${run.files.map((f) => `\`${f.file}\``).join(", ")}. Running single files replaces`,
      "  test-results/vitest.json with their counts; the full set of files and figures comes from a full `npm test`.",
    );
  } else {
    out.push(`- every project: ${byProject.map((p) => `${p.project} ${count(p.files.length, "file")}`).join(", ")}`);
  }
  out.push("", "## What is tested, and what it showed", "");
  out.push("| what | how | result |", "| --- | --- | --- |");
  for (const row of ROWS) out.push(renderRow(row, run, figures));
  out.push(
    "",
    "Reproduce one of them: `CI=true npx vitest run --project e2e test/e2e/churn.test.ts` (`KEYBUZZ_CHURN_CYCLES=500`",
    "for a quicker local run; CI runs the default). Outside CI, `KEYBUZZ_E2E_PG17=0` leaves PostgreSQL 17 out (it needs",
    "root for chroot) and `KEYBUZZ_E2E_HA=0` the HA suite. Then `npm run figures` rewrites this page.",
    "",
    "## Per project and per file",
    "",
    "Time: from a file's first test's start to its last test's end, so hooks such as a suite's deploy in `beforeAll` are",
    "not in it; a project's is from its first file's first test to its last file's last test.",
    "",
    "| project | files | tests | passed | failed | skipped | time |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
  );
  for (const { project, files } of byProject) {
    if (!files.length) {
      out.push(`| ${project} | 0 | | | | | not in this run |`);
      continue;
    }
    const sum = (k: "tests" | "passed" | "failed" | "skipped") => files.reduce((s, f) => s + f[k], 0);
    const span = Math.max(...files.map((f) => f.endTime)) - Math.min(...files.map((f) => f.startTime));
    out.push(`| ${project} | ${files.length} | ${sum("tests")} | ${sum("passed")} | ${sum("failed")} | ${sum("skipped")} | ${minutes(span)} |`);
  }
  out.push("", "| file | project | tests | passed | failed | skipped | time |", "| --- | --- | ---: | ---: | ---: | ---: | ---: |");
  for (const f of run.files) {
    const status = f.status === "passed" ? "" : ` **(${f.status})**`;
    out.push(`| \`${f.file}\`${status} | ${f.project} | ${f.tests} | ${f.passed} | ${f.failed} | ${f.skipped} | ${minutes(f.ms)} |`);
  }
  out.push("", "## Figures files", "", "| suite | recorded | in the run above | machine |", "| --- | --- | --- | --- |");
  for (const r of figures.values()) {
    const mine = inRun.includes(r) ? "yes" : "no (an earlier run)";
    out.push(`| \`${r.suite}\` | ${when(r.recordedAt)} | ${mine} | ${cell(machineOf(r))} |`);
  }
  if (!figures.size) out.push("| (none) | | | |");
  out.push("");
  return out.join("\n");
}

/**
 * Reads `resultsDir`, writes the page to `output`; returns what it wrote, and the figures it left out because
 * they do not match the contract (one line each, naming the file and the field).
 */
export function writeReliability(options: { resultsDir: string; output: string; root?: string }): { page: string; problems: string[] } {
  const run = readRun(options.resultsDir, options.root ?? PROJECT_ROOT);
  const { records, problems } = readFigures(options.resultsDir, options.root ?? PROJECT_ROOT);
  const page = renderReliability(run, records);
  mkdirSync(dirname(options.output), { recursive: true });
  writeFileSync(options.output, page);
  return { page, problems };
}
