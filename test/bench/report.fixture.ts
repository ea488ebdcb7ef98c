/**
 * The sections' typed results for test/bench/report.test.ts: the figures of the committed BENCHMARKS.md where
 * that file shows them, so that the rendering is checked against the text the earlier script wrote.
 */
import type { CredentialsResult, IssueRun, ServerRuns } from "../../bench/credentials";
import type { DeploysResult } from "../../bench/deploys";
import type { HaResult } from "../../bench/ha";
import type { LeaseAuditResult } from "../../bench/lease-audit";
import type { RaftResult } from "../../bench/raft";
import type { Machine } from "../../bench/report";
import type { SynthResult } from "../../bench/synth";
import type { OpKind, Recovery } from "../../harness/failover";

const MB = 1024;
/** Runs of a command: wall seconds and peak RSS in MB, one each per run. */
export const timedRuns = (walls: number[], rssMb: number[]) => walls.map((wallS, i) => ({ wallS, rssKb: rssMb[i] * MB }));

/** Section 1 as BENCHMARKS.md measured it on 2026-11-29. */
export const SYNTH: SynthResult = {
  runsEach: 5,
  sizes: [
    { perEnv: 4, total: 16, envs: 4, runs: timedRuns([0.25, 0.26, 0.26, 0.25, 0.26], [95, 97, 95, 95, 96]), stackKb: [60, 70, 80, 70] },
    { perEnv: 25, total: 100, envs: 4, runs: timedRuns([0.42, 0.43, 0.42, 0.42, 0.42], [110, 107, 110, 109, 110]), stackKb: [210] },
    { perEnv: 250, total: 1000, envs: 4, runs: timedRuns([2.0, 2.02, 2.05, 2.02, 2.01], [181, 182, 183, 182, 182]), stackKb: [1726] },
  ],
  commands: [
    { key: "app", label: "`node scripts/app.mjs` (the app in cdktf.json)", runs: timedRuns([0.25, 0.25, 0.26, 0.25, 0.25], [96, 96, 96, 96, 96]) },
    { key: "npm", label: "`npm run synth` (the same, with npm's start-up)", runs: timedRuns([0.4, 0.41, 0.42, 0.41, 0.41], [96, 96, 96, 96, 96]) },
    {
      key: "tsx",
      label: "`node --import tsx main.ts` (the app before the bundle)",
      runs: timedRuns([0.6, 0.62, 0.65, 0.62, 0.61], [143, 143, 143, 143, 143]),
    },
    { key: "cdktf", label: "`npx cdktf synth`", runs: timedRuns([2.25, 2.32, 2.39, 2.32, 2.3], [274, 274, 274, 274, 274]) },
  ],
};

/** BENCHMARKS.md's section 1 on 2026-11-29, as the earlier scripts/bench.ts wrote it. */
export const SYNTH_SECTION = `## 1. Synth at scale

\`node scripts/app.mjs\` (the app in cdktf.json) on the committed \`config/*.json\` with applications \`app<i>\` appended, all 4 environments in one run (applications split evenly across them), 5 measured runs per size after one warm-up, under \`/usr/bin/time -f "%e %M"\`. Stack size: the median \`cdk.tf.json\` of the run's stacks.

| applications (total) | per environment | wall, median | wall, min–max | peak RSS, median | peak RSS, min–max | stack size, median |
| ---: | ---: | ---: | ---: | ---: | ---: | ---: |
| 16 | 4 | 0.26 s | 0.25–0.26 s | 95 MB | 95–97 MB | 70 KB |
| 100 | 25 | 0.42 s | 0.42–0.43 s | 110 MB | 107–110 MB | 210 KB |
| 1000 | 250 | 2.02 s | 2.00–2.05 s | 182 MB | 181–183 MB | 1726 KB |

Slope (least squares over the three sizes): **1.78 ms per added application** (peak RSS 87 KB per application).
Growth: 1.90 ms/app from 16 to 100, 1.78 ms/app from 100 to 1000 (ratio 0.93): looks linear (the larger step costs no more per application). The 16→100 step is small (0.16 s) next to the run-to-run noise, so its slope is the less certain one.

| target | measured | |
| --- | ---: | :---: |
| 1,000 applications under 3 s wall (median) | 2.02 s | ✅ |
| 1,000 applications under 300 MB peak RSS (median) | 182 MB | ✅ |

### Synth commands against \`npx cdktf synth\`

Committed config (16 applications, all environments), 5 runs each after one warm-up, alternated, \`CHECKPOINT_DISABLE=1\`, output to temp folders. Wall time includes each launcher's own start-up, as a user would see it; \`npx cdktf synth\` runs the app in cdktf.json (the bundle) itself.

| command | wall, median | wall, min–max | peak RSS, median | \`npx cdktf synth\` / this |
| --- | ---: | ---: | ---: | ---: |
| \`node scripts/app.mjs\` (the app in cdktf.json) | 0.25 s | 0.25–0.26 s | 96 MB | 9.3× |
| \`npm run synth\` (the same, with npm's start-up) | 0.41 s | 0.40–0.42 s | 96 MB | 5.7× |
| \`node --import tsx main.ts\` (the app before the bundle) | 0.62 s | 0.60–0.65 s | 143 MB | 3.7× |
| \`npx cdktf synth\` | 2.32 s | 2.25–2.39 s | 274 MB | 1.0× |

Ratio \`npx cdktf synth\` / \`node scripts/app.mjs\`: **9.3×** (target ≥ 8×) ✅
`;

/** Three runs of a credential variant: rates, p50s, p99s and revoke times, each one per run. */
function issueRuns(rates: number[], p50: number[], p99: number[], revokeS: number[]): IssueRun[] {
  return rates.map((rate, i) => ({
    rate,
    p50: p50[i],
    p99: p99[i],
    errors: 0,
    revokeS: revokeS[i],
    revokeStatus: 204,
    revokeError: "",
    left: 0,
    cleanup: "",
  }));
}

function server(name: string, product: string, runs: [IssueRun[], IssueRun[], IssueRun[]]): ServerRuns {
  const pool = (idle: number) => `max_open_connections 4, max_idle_connections ${idle}, max_connection_lifetime 300s`;
  return {
    server: name,
    pgVersion: "15.20 (Debian 15.20-0+deb12u1)",
    pools: { project: pool(4), default: pool(0) },
    variants: [
      {
        key: "project",
        label: "project: pool as synthesized, project statements (`keybuzz-api-db`)",
        role: "keybuzz-api-db",
        pool: "project",
        runs: runs[0],
      },
      {
        key: "defaultPool",
        label: `${product}'s default pool, project statements (\`keybuzz-api-db\`)`,
        role: "keybuzz-api-db",
        pool: "default",
        runs: runs[1],
      },
      { key: "bare", label: "project pool, the runbook's bare role (`bare-db`)", role: "bare-db", pool: "project", runs: runs[2] },
    ],
  };
}

/** Section 2 as BENCHMARKS.md measured it (three runs per variant; the figures it shows). */
export const CREDENTIALS: CredentialsResult = {
  creds: 500,
  concurrency: 16,
  repeats: 3,
  baseRole: "keybuzz_api",
  servers: [
    server("OpenBao 2.6.2", "OpenBao", [
      issueRuns([176.0, 161.4, 181.8], [89, 86, 97], [112, 105, 124], [0.72, 0.71, 0.81]),
      issueRuns([170.9, 165.9, 178.0], [91, 88, 93], [114, 107, 177], [0.7, 0.65, 0.74]),
      issueRuns([181.5, 172.6, 188.7], [86, 83, 91], [121, 118, 127], [10.42, 9.21, 10.57]),
    ]),
    server("Vault 1.21.0", "Vault", [
      issueRuns([135.6, 129.0, 160.5], [118, 98, 124], [142, 121, 149], [0.64, 0.6, 0.75]),
      issueRuns([150.0, 129.5, 155.1], [103, 101, 123], [149, 129, 151], [0.61, 0.58, 0.71]),
      issueRuns([168.5, 146.2, 179.1], [94, 88, 110], [111, 105, 134], [11.08, 10.46, 12.02]),
    ]),
  ],
};

/** Section 3: three cold deploys, one of each other kind. */
export const DEPLOYS: DeploysResult = {
  label: "OpenBao 2.6.2, PostgreSQL 15.20",
  repeats: 3,
  kinds: [
    {
      kind: "cold",
      runs: [
        { wallS: 6.8, synthS: 1.4, engineS: 2.5, resources: 37 },
        { wallS: 6.1, synthS: 1.3, engineS: 2.4, resources: 37 },
        { wallS: 6.9, synthS: 1.5, engineS: 2.6, resources: 37 },
      ],
    },
    { kind: "after destroy", runs: [{ wallS: 6.1, synthS: 1.2, engineS: 2.5, resources: 37 }] },
    { kind: "no changes", runs: [{ wallS: 5.8, synthS: 1.2, engineS: 2.2, resources: 0 }] },
  ],
};

const KINDS: OpKind[] = ["issue", "login", "renew", "revoke"];
const byKind = (n: number[]) => Object.fromEntries(KINDS.map((k, i) => [k, n[i] ?? 0])) as Record<OpKind, number>;
function recovery(event: string, backMs: number, gapMs: number, healthyMs: number, failed: number[], made: number[]): Recovery {
  return { event, issuanceBackMs: backMs, longestGapMs: gapMs, healthyAfterMs: healthyMs, failed: byKind(failed), made: byKind(made), errors: [] };
}

/** Section 4: OpenBao with asynchronous replication, as BENCHMARKS.md measured it. */
export const HA: HaResult = {
  measuredAt: "2026-11-29T12:54:22.908Z",
  postgresMajor: 15,
  repeats: 3,
  timing: { leaderTtlS: 10, loopWaitS: 1, checkInterMs: 1000, checkFall: 2 },
  rows: [
    {
      server: "OpenBao 2.6.2",
      replication: "async",
      event: "switchover",
      recoveries: [
        recovery("switchover node1 → node2", 3600, 2400, 7200, [1, 3], [71, 71]),
        recovery("switchover node2 → node1", 4100, 2300, 7700, [2], [86]),
        recovery("switchover node1 → node2", 3600, 2500, 7100, [2], [65]),
      ],
    },
    {
      server: "OpenBao 2.6.2",
      replication: "async",
      event: "crash",
      recoveries: [
        recovery("crash of node2", 4200, 4200, 10900, [1], [94]),
        recovery("crash of node1", 4200, 4200, 5400, [0], [117]),
        recovery("crash of node2", 5300, 5100, 11200, [1], [49]),
      ],
    },
  ],
};

/** Section 5: OpenBao at 10,000 leases. */
export const AUDIT: LeaseAuditResult = {
  measuredAt: "2026-11-29T21:23:26.478Z",
  postgresMajor: 15,
  leases: 10_000,
  runs: 3,
  applications: 4,
  auditPolicy: "keybuzz-leases-audit",
  lookupConcurrency: 4,
  servers: [
    {
      label: "OpenBao 2.6.2",
      issueS: 154.3,
      audits: [5.5, 5.8, 6.0].map((wallS, i) => ({ wallS, rssKb: [140, 143, 141][i] * MB, auditS: [4.4, 4.6, 4.7][i], leases: 10_000, findings: 0 })),
      alone: [40, 10, 30, 20],
      during: [175.1, 310.6, 657.6],
      duringFindings: 0,
    },
  ],
};

/** Section 6: two runs of two events on OpenBao. */
export const RAFT: RaftResult = {
  measuredAt: "2026-12-06T07:02:16.911Z",
  postgresMajor: 15,
  repeats: 2,
  timing: { performanceMultiplier: 1, checkInterMs: 1000, checkFall: 2 },
  downMs: 5000,
  rows: [
    {
      server: "OpenBao 2.6.2",
      event: "step-down",
      eventLabel: "step-down of the active node",
      runs: [
        { recovery: recovery("step-down of the active node node1", 800, 800, 1800, [10, 5, 3, 2], [100, 50, 31, 10]) },
        { recovery: recovery("step-down of the active node node2", 100, 100, 0, [], [80, 40, 30, 10]) },
      ],
    },
    {
      server: "OpenBao 2.6.2",
      event: "kill-active",
      eventLabel: "kill of the active node",
      runs: [
        { recovery: recovery("kill of the active node node1", 3400, 3000, 7700, [20], [468]), lastSecond: { answered: 107, known: 107 } },
        { recovery: recovery("kill of the active node node3", 2700, 2000, 9200, [6, 6], [400, 7]), lastSecond: { answered: 92, known: 91 } },
      ],
    },
  ],
};

/** The machine of BENCHMARKS.md's header. */
export const MACHINE: Machine = {
  date: "2026-12-07T10:00:00.000Z",
  cpu: "AMD EPYC",
  cores: 2,
  memoryBytes: 23.5 * 1024 ** 3,
  node: "v20.20.2",
  linux: "6.18.44-fc-v657",
};
