/**
 * figures/reliability.ts: docs/reliability.md from a run's vitest.json and the suites' figures files, each row
 * filled from the figures of its suites, or saying why it cannot be.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { RestartFigures, SuiteFigures, WiringPairFigures } from "../../figures/contract";
import { writeReliability } from "../../figures/reliability";
import { at, CHURN, figures, file, olderFigures, project, removeProjects, vitestJson } from "./fixture";

afterAll(removeProjects);

const RESTART: RestartFigures = {
  server: "OpenBao 2.6.2",
  outstanding: 100,
  ttlSeconds: 20,
  concurrency: 8,
  downSeconds: 3,
  cycles: 431,
  cyclesDuringAndAfter: 212,
  retried: 117,
  leasesCut: 2,
  orphanUsers: 1,
  waitedForExpirySeconds: 8.2,
  outstandingRevokedSecondsAfterWait: 21.4,
};
const WIRING_PAIR: WiringPairFigures = {
  postgres: "PostgreSQL 15.20",
  server: "OpenBao 2.6.2",
  resourcesAdded: 46,
  resourcesDestroyed: 46,
  seconds: 95.2,
};
const HA_ASYNC: SuiteFigures<"ha-async"> = {
  server: "OpenBao 2.6.2",
  replication: "async",
  orphanUsers: 0,
  nodes: 2,
  failedLogins: [{ event: "switchover", application: "unknown", reason: "server_unavailable", count: 2 }],
  recoveries: [
    {
      event: "switchover node1 → node2",
      issuanceBackSeconds: 6.3,
      longestGapSeconds: 6.1,
      healthySeconds: 7.2,
      failed: { issue: 2 },
      made: { issue: 40 },
    },
    { event: "crash of node2", issuanceBackSeconds: 5.5, longestGapSeconds: 5.2, healthySeconds: 9.9, failed: { issue: 1 }, made: { issue: 30 } },
  ],
};

const RAFT_BAO: SuiteFigures<"raft-bao"> = {
  server: "OpenBao 2.6.2",
  nodes: 3,
  performanceMultiplier: 1,
  shortLeases: 30,
  shortLeasesDroppedWithinSeconds: 4.2,
  leasesNoClientGot: 2,
  deployDuringOutage: { applyAtKill: { outcome: "failed", seconds: 4.12 }, cdktfDeploy: { outcome: "completed", seconds: 12 } },
  events: [
    {
      event: "step-down of the active node node1",
      issuanceBackSeconds: 0.8,
      longestGapSeconds: 0.8,
      healthySeconds: 1.8,
      failed: { issue: 10, login: 5, renew: 3, revoke: 2 },
      made: { issue: 100, login: 50, renew: 31, revoke: 10 },
      errors: [],
      orphanUsers: 0,
    },
    {
      event: "kill of the active node node2",
      issuanceBackSeconds: 3.4,
      longestGapSeconds: 3,
      healthySeconds: 7.7,
      failed: { issue: 20, login: 0, renew: 0, revoke: 0 },
      made: { issue: 468, login: 0, renew: 0, revoke: 0 },
      errors: ["20× 503 Vault is sealed"],
      lastSecond: { answered: 107, known: 107 },
      orphanUsers: 1,
    },
  ],
};

/** The table row whose first cell is `what`. */
const row = (page: string, what: string) => page.split("\n").find((l) => l.startsWith(`| ${what} |`)) ?? `(no row "${what}")`;

describe("writeReliability", () => {
  it("fills each row from its suite's figures; a failed file, a missing part and a missing mode say so", () => {
    const { root, results, output } = project();
    vitestJson(results, [
      file(root, "test/main.test.ts", at(0.1), at(0.2), ["passed", "passed"]),
      file(root, "test/github/workflows.integration.test.ts", at(0.1), at(0.5), ["passed"]),
      file(root, "test/e2e/churn.test.ts", at(1), at(3), ["passed"]),
      file(root, "test/e2e/outages.test.ts", at(3), at(6), ["passed", "passed", "passed", "passed"]),
      file(root, "test/e2e/ha.test.ts", at(6), at(9), ["passed", "passed"]),
      file(root, "test/e2e/deploy.test.ts", at(9), at(11), ["passed", "failed"]),
      file(root, "test/e2e/wiring.test.ts", at(11), at(12), ["passed"]),
      file(root, "test/e2e/irrevocable.test.ts", at(1), at(11.5), ["passed", "passed"]),
    ]);
    figures(results, "churn", at(2.5), CHURN);
    figures(results, "outages", at(5), { restart: RESTART }); // part 2 not recorded
    figures(results, "ha-async", at(8), HA_ASYNC); // the sync mode not recorded
    figures(results, "irrevocable", at(11), {
      bao: { server: "OpenBao 2.6.2", postgres: "PostgreSQL 15.20", gaveUpAfterSeconds: 612.4, lastError: "failed | refused" },
    }); // Vault's part not recorded
    figures(results, "wiring", at(-600), { pairs: { "openbao pg15": WIRING_PAIR } }); // before this run

    const { page, problems } = writeReliability({ resultsDir: results, output, root });
    expect(readFileSync(output, "utf8")).toBe(page);
    expect(problems).toEqual([]);

    expect(row(page, "lease churn")).toContain(
      "**5,000** cycles at concurrency **16** (PostgreSQL 17.4, OpenBao 2.6.2) in **66.7 s** (75 cycles/s; cycle p50 208 ms, p99 346 ms)",
    );
    expect(row(page, "lease churn")).toContain("500 sessions, 500 ended by revocation; **0** `v-` roles left");
    expect(row(page, "lease churn")).toContain("1,000 of 1,000 tables owned by base roles");
    expect(row(page, "server restarted mid-churn")).toContain("100 leases (20 s TTL) outstanding, churn at concurrency 8, OpenBao 2.6.2 down 3 s");
    expect(row(page, "server restarted mid-churn")).toContain("117 calls retried");
    expect(row(page, "server restarted mid-churn")).toContain("1 user(s) the server created as it stopped");
    expect(row(page, "server restarted mid-churn")).toContain("(the last 13.2 s after its TTL ended); 0 left");
    expect(row(page, "PostgreSQL down while leases expire")).toMatch(/\| not measured in the last run \(run `npm test`\) \|$/);
    expect(row(page, "the leader changes behind HAProxy")).toContain(
      "asynchronous (OpenBao 2.6.2): switchover: issuance back after 6.3 s, cluster healthy after 7.2 s, 2 failed issuance(s); crash: issuance back after 5.5 s",
    );
    expect(row(page, "the leader changes behind HAProxy")).toContain("synchronous: not measured in the last run (run `npm test`)");
    expect(row(page, "a lease Vault gives up revoking")).toContain(
      "OpenBao 2.6.2 gave up 612.4 s after PostgreSQL stopped (its last error: `failed \\| refused`); HashiCorp Vault: not measured in the last run",
    );
    expect(row(page, "deploy failures and interruptions")).toContain("**failed in the last run** (`deploy.test.ts`: 1 of 2 tests failed");
    expect(row(page, "data protection")).toContain("**failed in the last run**");
    // wiring passed in this run, but its figures are from before it: not shown as this run's.
    expect(row(page, "OpenBao **and** Vault, PostgreSQL 15 **and** 17")).toMatch(/\| not measured in the last run \(run `npm test`\) \|$/);
    expect(row(page, "destroy with credentials out")).toContain("the destroy completes");
    // not in this run at all, no figures.
    expect(row(page, "shared state with locking")).toMatch(/\| not measured in the last run \(run `npm test`\) \|$/);
    expect(row(page, "TLS verified end to end")).toMatch(/\| not measured in the last run \(run `npm test`\) \|$/);

    expect(page).toContain("- when: 2026-11-29 10:00 UTC to 2026-11-29 10:12 UTC");
    expect(page).toContain("- machine: Test CPU, 2 CPUs, 8 GiB; linux 6.1 x64; Node.js v20.0.0");
    expect(page).toContain("- 8 files, 15 tests: 14 passed, **1 failed**, none skipped; 12.0 min of vitest");
    expect(page).toContain("- every project: unit 1 file, integration 1 file, e2e 6 files");
    expect(page).toContain("| `test/e2e/deploy.test.ts` **(failed)** | e2e | 2 | 1 | 1 | 0 | 2.0 min |");
    expect(page).toContain("| e2e | 6 | 12 | 11 | 1 | 0 | 11.0 min |");
    expect(page).toMatch(/\| `wiring` \| 2026-11-29 00:00 UTC \| no \(an earlier run\) \|/);
    expect(page).not.toContain("undefined");
    expect(page).not.toContain("NaN");
  });

  it("a run of one file: says which file the counts cover, and dates the figures of earlier runs", () => {
    const { root, results, output } = project();
    vitestJson(results, [file(root, "test/e2e/churn.test.ts", at(1), at(2), ["passed"])]);
    figures(results, "churn", at(1.5), { ...CHURN, cycles: 500, seconds: 7.04 });
    figures(results, "state-lock", at(-30), {
      postgres: "PostgreSQL 17.4",
      server: "OpenBao 2.6.2",
      stateRows: 1,
      resourcesInState: 58,
      serial: 3,
      stateBytes: 81234,
    });
    olderFigures(results, "outages", at(-30), { postgresDown: { leases: 50 } }); // an older suite's file, fields missing

    const { page, problems } = writeReliability({ resultsDir: results, output, root });
    expect(problems).toContain(
      `${join("test-results", "figures", "outages.json")}: figures.postgresDown.ttlSeconds: missing, expected number (got missing)`,
    );
    expect(page).toContain("- 1 file, 1 test: 1 passed, none skipped; 2.0 min of vitest");
    expect(page).toContain("**a partial run**: the counts cover only `test/e2e/churn.test.ts`");
    expect(page).toContain("the full set of files and figures comes from a full `npm test`");
    expect(row(page, "lease churn")).toContain("**500** cycles at concurrency **16**");
    expect(row(page, "lease churn")).toContain("in **7.0 s**");
    expect(row(page, "shared state with locking")).toContain("1 state row with all 58 resources (serial 3, 81,234 bytes)");
    expect(row(page, "shared state with locking")).toContain("_(recorded 2026-11-29 09:30 UTC, in an earlier run than the one summarized above)_");
    expect(row(page, "server restarted mid-churn")).toMatch(/\| not measured in the last run \(run `npm test`\) \|$/);
    expect(row(page, "PostgreSQL down while leases expire")).toMatch(/\| not measured in the last run \(run `npm test`\) \|$/);
    expect(page).not.toContain("NaN");
    expect(page).toContain("- machine: Test CPU, 2 CPUs");
  });

  it("a skipped suite (tools missing) is not counted as measured", () => {
    const { root, results, output } = project();
    vitestJson(results, [file(root, "test/e2e/churn.test.ts", at(1), at(1), ["skipped"])]);
    figures(results, "churn", at(-100), CHURN);
    const { page } = writeReliability({ resultsDir: results, output, root });
    expect(row(page, "lease churn")).toContain("skipped in the last run");
    expect(page).toContain("- 1 file, 1 test: 0 passed, **1 skipped**");
  });

  it("fills the Raft rows, the lease audit's and the deploys during an outage from their figures", () => {
    const { root, results, output } = project();
    vitestJson(results, [
      file(root, "test/e2e/raft-bao.test.ts", at(1), at(5), ["passed"]),
      file(root, "test/e2e/leases.test.ts", at(1), at(6), ["passed"]),
      file(root, "test/e2e/outages.test.ts", at(1), at(7), ["passed"]),
    ]);
    figures(results, "raft-bao", at(4), RAFT_BAO);
    figures(results, "leases", at(5), {
      "healthy-vault": {
        server: "Vault 1.21.0",
        postgres: "PostgreSQL 17.4",
        churnCycles: 640,
        audits: [
          { findings: 0, seconds: 1.21 },
          { findings: 0, seconds: 1.38 },
        ],
      },
      "faults-vault": { server: "Vault 1.21.0", made: 7, reported: 7, fixActions: 5, leftToAPerson: 2, applied: 5, findingsAfterwards: 0 },
    });
    figures(results, "outages", at(6), {
      deployVaultDown: { exitCode: 1, planAfterwards: 2, planInTheEnd: 0 },
      deployPostgresDown: { exitCode: 1, planWhileDown: 1, planAfterwards: 2, planInTheEnd: 0 },
    });

    const { page, problems } = writeReliability({ resultsDir: results, output, root });
    expect(problems).toEqual([]);
    const raft = row(page, "the active OpenBao node lost");
    expect(raft).toContain(
      "OpenBao 2.6.2: step-down of the active node: issuance back after 0.8 s, 20 of 191 calls failed, 0 user(s) with no lease; kill of the active node: issuance back after 3.4 s, 20 of 468 calls failed, 107 of the 107 leases answered in the last second known after it, 1 user(s) with no lease",
    );
    expect(raft).toContain("`tofu apply` started as the active node died failed in 4.1 s, `cdktf deploy` right after it completed in 12.0 s");
    expect(raft).toContain("2 lease(s) whose answer no client got;");
    expect(raft).toContain("the 30 short leases' users dropped");
    expect(row(page, "the active HashiCorp Vault node lost")).toMatch(/\| not measured in the last run \(run `npm test`\) \|$/);
    const audit = row(page, "the lease audit");
    expect(audit).toContain(
      "OpenBao: not measured in the last run (run `npm test`). Vault 1.21.0: 2 audits during 640 churn cycles, 0 findings, 1.2–1.4 s each;",
    );
    expect(audit).toContain("7 faults made, 7 reported, each certain; `--fix` plans 5 actions and leaves 2 to a person");
    expect(row(page, "a change deployed while a server is down")).toContain(
      "`tofu apply` exits 1 naming the server: `failed to lookup token … dial tcp 127.0.0.1:<port>: connect: connection refused`, or (exit 1) the postgresql provider's",
    );
    expect(row(page, "a change deployed while a server is down")).toContain("(then no plan at all until it is back, exit 1:");
    expect(row(page, "a change deployed while a server is down")).toContain(
      "the plan shows the change (exit 2), apply completes, the plan is clean (exit 0)",
    );
  });

  it("a Raft suite whose deploy during the outage was not recorded: its row is not measured", () => {
    const { root, results, output } = project();
    vitestJson(results, [file(root, "test/e2e/raft-bao.test.ts", at(1), at(5), ["passed"])]);
    const { deployDuringOutage: _, ...withoutDeploy } = RAFT_BAO;
    figures(results, "raft-bao", at(4), withoutDeploy);
    const { page, problems } = writeReliability({ resultsDir: results, output, root });
    expect(problems).toEqual([]);
    expect(row(page, "the active OpenBao node lost")).toMatch(/\| not measured in the last run \(run `npm test`\) \|$/);
  });

  it("figures of this run that do not match the contract: the row is not measured, the file is still listed, the problem names the field", () => {
    const { root, results, output } = project();
    vitestJson(results, [file(root, "test/e2e/churn.test.ts", at(1), at(3), ["passed"])]);
    olderFigures(results, "churn", at(2), { ...CHURN, cyclesPerSecond: "75" });
    const { page, problems } = writeReliability({ resultsDir: results, output, root });
    expect(problems).toEqual([
      `${join("test-results", "figures", "churn.json")}: figures.cyclesPerSecond: Invalid input: expected number, received string (got "75")`,
    ]);
    expect(row(page, "lease churn")).toMatch(/\| not measured in the last run \(run `npm test`\) \|$/);
    expect(page).toMatch(/\| `churn` \| 2026-11-29 10:02 UTC \| yes \| unknown CPU, 2 CPUs; linux 6\.1 x64; Node\.js v20\.0\.0 \|/);
  });

  it("fills the wiring row from every pair, and says when PostgreSQL 17 was left out", () => {
    const { root, results, output } = project();
    vitestJson(results, [file(root, "test/e2e/wiring.test.ts", at(1), at(9), ["passed"])]);
    figures(results, "wiring", at(8), {
      pairs: { "openbao pg15": WIRING_PAIR, "vault pg15": { ...WIRING_PAIR, server: "Vault 1.21.0", seconds: 101.26 } },
    });
    const { page } = writeReliability({ resultsDir: results, output, root });
    const wiring = row(page, "OpenBao **and** Vault, PostgreSQL 15 **and** 17");
    expect(wiring).toContain("2 pair(s) pass (no PostgreSQL 17 pair in this run: `KEYBUZZ_E2E_PG17=0`?) with the least-privilege `vault_admin`");
    expect(wiring).toContain(
      "OpenBao 2.6.2 with PostgreSQL 15.20: 46 resources deployed and 46 destroyed, 95.2 s from starting the servers to the end of the destroy; Vault 1.21.0 with PostgreSQL 15.20: 46 resources deployed and 46 destroyed, 101.3 s",
    );
  });
});
