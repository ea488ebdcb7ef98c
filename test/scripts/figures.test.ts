import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { projectOf, writeReliability } from "../../scripts/figures";
import { ROOT } from "../helpers";

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A fake project root with test-results/ in it. */
function project(): { root: string; results: string; output: string } {
  const root = mkdtempSync(join(tmpdir(), "keybuzz-figures-"));
  dirs.push(root);
  const results = join(root, "test-results");
  mkdirSync(join(results, "figures"), { recursive: true });
  return { root, results, output: join(root, "docs", "reliability.md") };
}

const START = Date.parse("2026-11-29T10:00:00Z");
const at = (minutes: number) => START + minutes * 60_000;

/** A file of vitest's JSON report: `statuses` one per test. */
function file(root: string, name: string, start: number, end: number, statuses: string[]) {
  const failed = statuses.includes("failed");
  return {
    name: join(root, name),
    status: failed ? "failed" : "passed",
    startTime: start,
    endTime: end,
    message: "",
    assertionResults: statuses.map((status, i) => ({ status, title: `t${i}`, fullName: `${name} t${i}`, duration: 1 })),
  };
}

function vitestJson(results: string, files: ReturnType<typeof file>[]) {
  const all = files.flatMap((f) => f.assertionResults);
  writeFileSync(
    join(results, "vitest.json"),
    JSON.stringify({
      numTotalTests: all.length,
      numPassedTests: all.filter((a) => a.status === "passed").length,
      numFailedTests: all.filter((a) => a.status === "failed").length,
      numPendingTests: all.filter((a) => a.status === "skipped" || a.status === "pending").length,
      numTodoTests: 0,
      startTime: START,
      success: !all.some((a) => a.status === "failed"),
      testResults: files,
    }),
  );
}

function figures(results: string, suite: string, recordedAt: number, f: Record<string, unknown>) {
  writeFileSync(
    join(results, "figures", `${suite}.json`),
    JSON.stringify({
      suite,
      recordedAt: new Date(recordedAt).toISOString(),
      node: "v20.0.0",
      platform: "linux 6.1 x64",
      cpus: 2,
      cpuModel: "Test CPU",
      memoryGiB: 8,
      figures: f,
    }),
  );
}

const CHURN = {
  postgres: "PostgreSQL 17.4",
  server: "OpenBao 2.6.2",
  cycles: 5000,
  concurrency: 16,
  seconds: 66.71,
  cyclesPerSecond: 74.95,
  cycleP50Ms: 208,
  cycleP99Ms: 346,
  sessions: 500,
  sessionsEndedByRevocation: 500,
  failedCycles: 0,
  rolesLeft: 0,
  leasesLeft: 0,
  irrevocable: 0,
  tablesCreated: 1000,
  tablesOwnedByBaseRoles: 1000,
  strayObjects: 0,
};
const RESTART = {
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
const HA_ASYNC = {
  server: "OpenBao 2.6.2",
  replication: "async",
  nodes: 2,
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

/** The table row whose first cell is `what`. */
const row = (page: string, what: string) => page.split("\n").find((l) => l.startsWith(`| ${what} |`)) ?? `(no row "${what}")`;

describe("npm run figures (scripts/figures.ts)", () => {
  it("assigns files to vitest.config.ts's projects", () => {
    expect(projectOf("test/e2e/churn.test.ts")).toBe("e2e");
    expect(projectOf("test/github/workflows.integration.test.ts")).toBe("integration");
    expect(projectOf("test/scripts/figures.test.ts")).toBe("unit");
  });

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
    figures(results, "irrevocable", at(11), { bao: { server: "OpenBao 2.6.2", gaveUpAfterSeconds: 612.4, lastError: "failed | refused" } }); // Vault's part not recorded
    figures(results, "wiring", at(-600), { pairs: { "openbao pg15": { resourcesAdded: 46 } } }); // before this run

    const page = writeReliability({ resultsDir: results, output, root });
    expect(readFileSync(output, "utf8")).toBe(page);

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
    figures(results, "state-lock", at(-30), { stateRows: 1, resourcesInState: 58, serial: 3, stateBytes: 81234 });
    figures(results, "outages", at(-30), { postgresDown: { leases: 50 } }); // an older suite's file, fields missing

    const page = writeReliability({ resultsDir: results, output, root });
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
    const page = writeReliability({ resultsDir: results, output, root });
    expect(row(page, "lease churn")).toContain("skipped in the last run");
    expect(page).toContain("- 1 file, 1 test: 0 passed, **1 skipped**");
  });

  it("without test-results/vitest.json: a clear error, exit 1, nothing written", () => {
    const { results, output } = project();
    expect(() => writeReliability({ resultsDir: results, output })).toThrow(/vitest\.json is missing: run the tests first \(`npm test`/);
    const cli = spawnSync(process.execPath, ["--import", "tsx", join(ROOT, "scripts", "figures.ts")], {
      cwd: ROOT,
      env: { ...process.env, KEYBUZZ_TEST_RESULTS: results, KEYBUZZ_RELIABILITY_OUT: output },
      encoding: "utf8",
    });
    expect(cli.status).toBe(1);
    expect(cli.stderr).toContain(`[figures] ${join(results, "vitest.json")} is missing`);
    expect(existsSync(output)).toBe(false);
  });
});
