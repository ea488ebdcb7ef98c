/**
 * bench/report.ts: BENCHMARKS.md rendered from the sections' typed results, and a run of one part merged into
 * an earlier file. The fixtures are the figures of the committed BENCHMARKS.md where that file shows them, so
 * that the rendering is checked against the text the earlier script wrote.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { CredentialsResult, IssueRun, ServerRuns } from "../../bench/credentials";
import type { DeploysResult } from "../../bench/deploys";
import type { HaResult } from "../../bench/ha";
import type { LeaseAuditResult } from "../../bench/lease-audit";
import type { RaftResult } from "../../bench/raft";
import {
  benchmarksText,
  type Machine,
  mergeSections,
  renderCredentials,
  renderDeploys,
  renderHa,
  renderHeader,
  renderLeaseAudit,
  renderRaft,
  renderReport,
  renderSynth,
} from "../../bench/report";
import type { SynthResult } from "../../bench/synth";
import type { OpKind, Recovery } from "../../harness/failover";
import { ROOT } from "../helpers";

const MB = 1024;
const timedRuns = (walls: number[], rssMb: number[]) => walls.map((wallS, i) => ({ wallS, rssKb: rssMb[i] * MB }));

/** Section 1 as BENCHMARKS.md measured it on 2026-11-29. */
const SYNTH: SynthResult = {
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
const SYNTH_SECTION = `## 1. Synth at scale

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
const CREDENTIALS: CredentialsResult = {
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

const DEPLOYS: DeploysResult = {
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

const HA: HaResult = {
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

const AUDIT: LeaseAuditResult = {
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

const RAFT: RaftResult = {
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

const MACHINE: Machine = {
  date: "2026-12-07T10:00:00.000Z",
  cpu: "AMD EPYC",
  cores: 2,
  memoryBytes: 23.5 * 1024 ** 3,
  node: "v20.20.2",
  linux: "6.18.44-fc-v657",
};

/** The rendered lines as the file holds them (a section's element may hold several lines). */
const fileLines = (lines: readonly string[]) => lines.join("\n").split("\n");
/** The headings and tables' header rows: what the merge and the documentation rely on. */
const layout = (lines: readonly string[]) =>
  fileLines(lines).filter((l, i, all) => /^#{1,3} /.test(l) || /^\| :?---/.test(l) || /^\| :?---/.test(all[i + 1] ?? ""));

const BENCHMARKS = readFileSync(join(ROOT, "BENCHMARKS.md"), "utf8").split("\n");

describe("renderSynth", () => {
  it("renders section 1 exactly as the earlier script wrote it from the same figures", () => {
    expect(fileLines(renderSynth(SYNTH)).join("\n")).toBe(SYNTH_SECTION);
  });

  it("says when the larger step costs more per application, and marks a missed target", () => {
    const slow: SynthResult = {
      ...SYNTH,
      sizes: [SYNTH.sizes[0], SYNTH.sizes[1], { ...SYNTH.sizes[2], runs: timedRuns([4, 4, 4, 4, 4], [310, 310, 310, 310, 310]) }],
    };
    const text = fileLines(renderSynth(slow));
    expect(text).toContain("| 1,000 applications under 3 s wall (median) | 4.00 s | ❌ |");
    expect(text).toContain("| 1,000 applications under 300 MB peak RSS (median) | 310 MB | ❌ |");
    expect(text.join("\n")).toContain("(ratio 2.09): grows faster than linear (the larger step costs more per application)");
  });
});

describe("renderCredentials", () => {
  const text = fileLines(renderCredentials(CREDENTIALS));

  it("renders a row per server and variant: median and min–max, errors, revoke, roles left", () => {
    expect(text).toContain(
      "| OpenBao 2.6.2 | project: pool as synthesized, project statements (`keybuzz-api-db`) | 176.0 (161.4–181.8) | 89 ms (86–97) | 112 ms (105–124) | 0, 0, 0 | 0.72 s (0.71–0.81 s) | 204, 204, 204 | 0, 0, 0 ✅ |",
    );
    expect(text).toContain(
      "| Vault 1.21.0 | project pool, the runbook's bare role (`bare-db`) | 168.5 (146.2–179.1) | 94 ms (88–110) | 111 ms (105–134) | 0, 0, 0 | 11.08 s (10.46–12.02 s) | 204, 204, 204 | 0, 0, 0 ✅ |",
    );
  });

  it("compares the ratios with their targets, a lower rate within noise said as such", () => {
    expect(text).toContain("| OpenBao 2.6.2: issuance rate, project pool / default pool | 1.03× | ≥ 1× | ✅ |");
    expect(text).toContain("| OpenBao 2.6.2: revoke time, project statements / bare statements | 0.07× | ≤ 1.5× | ✅ |");
    expect(text).toContain("| Vault 1.21.0: issuance rate, project pool / default pool | 0.90× | ≥ 1× | ≈ (within noise) |");
    expect(text).toContain("| issuance rate, OpenBao 2.6.2 / Vault 1.21.0 (project variant) | 1.30× | — | |");
    expect(text).toContain("| `v-` roles left after revoke, all runs | 0 (max) | 0 | ✅ |");
  });

  it("names the runbook's grant from the project's base role, and each server's pools", () => {
    expect(text.join("\n")).toContain("(`CREATE ROLE … VALID UNTIL …;` `GRANT keybuzz_api TO …;`)");
    expect(fileLines(renderCredentials({ ...CREDENTIALS, baseRole: "app_one" })).join("\n")).toContain("`GRANT app_one TO …;`");
    expect(text).toContain(
      "- Vault 1.21.0: project pool (as synthesized, read back): max_open_connections 4, max_idle_connections 4, max_connection_lifetime 300s; default pool (read back): max_open_connections 4, max_idle_connections 0, max_connection_lifetime 300s",
    );
  });

  it("lists revocation problems and marks the roles left behind", () => {
    const [bao, vault] = CREDENTIALS.servers;
    const [project, defaultPool, bare] = bao.variants;
    const failing = {
      ...bare,
      runs: [
        { ...bare.runs[0], revokeStatus: 500, revokeError: '["timeout"]', left: 3, cleanup: "revoke-force + superuser DROP ROLE of 3 users" },
        ...bare.runs.slice(1),
      ],
    };
    const result = { ...CREDENTIALS, servers: [{ ...bao, variants: [project, defaultPool, failing] }, vault] };
    const lines = fileLines(renderCredentials(result));
    expect(lines).toContain("Revocation problems, as measured:");
    expect(lines).toContain('- OpenBao 2.6.2, bare: ["timeout"] (cleaned up: revoke-force + superuser DROP ROLE of 3 users)');
    expect(lines.find((l) => l.startsWith("| OpenBao 2.6.2 | project pool, the runbook's bare role"))).toMatch(/\| 500, 204, 204 \| 3, 0, 0 ❌ \|$/);
    expect(lines).toContain("| `v-` roles left after revoke, all runs | 3 (max) | 0 | ❌ |");
  });

  it("says what was missing when it could not run", () => {
    expect(renderCredentials({ missing: "tofu, bao" })).toEqual([
      "## 2. Credential issuance: OpenBao and Vault",
      "",
      "❌ not run: missing tofu, bao",
      "",
    ]);
  });
});

describe("renderDeploys", () => {
  it("splits each kind's wall time into synth, engine and cdktf's own, medians", () => {
    const text = fileLines(renderDeploys(DEPLOYS));
    expect(text[2]).toMatch(/^OpenBao 2\.6\.2, PostgreSQL 15\.20 on 127\.0\.0\.1; .* 3 repeats on fresh servers and folders\./);
    expect(text).toContain("| cold | 37 | 6.8 s (6.1–6.9 s) | 1.4 s | 2.5 s | 2.8 s |");
    expect(text).toContain("| after destroy | 37 | 6.1 s (6.1–6.1 s) | 1.2 s | 2.5 s | 2.4 s |");
    expect(text).toContain("| no changes | 0 | 5.8 s (5.8–5.8 s) | 1.2 s | 2.2 s | 2.4 s |");
    expect(text.at(-1)).toBe("");
  });

  it("says what was missing when it could not run", () => {
    expect(renderDeploys({ missing: "tofu" })).toEqual(["## 3. `cdktf deploy` of `local`", "", "❌ not run: missing tofu", ""]);
  });
});

describe("renderHa", () => {
  const text = fileLines(renderHa(HA));

  it("renders a row per server, replication and event: issuance back, longest gap, healthy, failed issues", () => {
    expect(text).toContain(
      "| OpenBao 2.6.2 | async | `patronictl switchover` | 3.6 s | 3.6–4.1 s | 2.4 s | 2.3–2.5 s | 7.2 s | 7.1–7.7 s | 1/71, 2/86, 2/65 |",
    );
    expect(text).toContain(
      "| OpenBao 2.6.2 | async | crash of the leader (SIGKILL) | 4.2 s | 4.2–5.3 s | 4.2 s | 4.2–5.1 s | 10.9 s | 5.4–11.2 s | 1/94, 0/117, 1/49 |",
    );
  });

  it("says when and with which timing it measured", () => {
    expect(text[2]).toMatch(/^Measured 2026-11-29T12:54:22\.908Z\. Two PostgreSQL 15 nodes managed by Patroni/);
    expect(text[2]).toContain("Patroni: leader TTL 10 s, loop_wait 1 s,");
    expect(text[2]).toContain("HAProxy checks every 1000 ms, down after 2,");
    expect(text[2]).toContain("3 switchovers and 3 crashes per row");
  });

  it("says what was missing when it could not run", () => {
    expect(renderHa({ missing: "the HA topology (tools/build.sh ha-topology)" })[2]).toBe(
      "❌ not run: missing the HA topology (tools/build.sh ha-topology)",
    );
  });
});

describe("renderLeaseAudit", () => {
  const text = fileLines(renderLeaseAudit(AUDIT));

  it("renders the audit's wall time, its own duration, peak RSS and findings per server", () => {
    expect(text).toContain("| OpenBao 2.6.2 | 10,000 | 5.8 s (5.5–6.0) | 4.6 s | 143 MiB | 0, 0, 0 | 154 s |");
  });

  it("renders issuance latency p50 / p95 / max alone and during audits", () => {
    expect(text).toContain("| OpenBao 2.6.2 | 20.0 / 40.0 / 40.0 ms | 310.6 / 657.6 / 657.6 ms | 0 |");
  });

  it("counts the applications and names the audit's policy and lookup concurrency from the results", () => {
    expect(text[2]).toContain("10,000 credentials issued across the four applications");
    expect(text[2]).toContain("with a token carrying only `keybuzz-leases-audit`");
    expect(text[2]).toContain("looks up each one (4 at a time)");
    const other = fileLines(renderLeaseAudit({ ...AUDIT, applications: 3, auditPolicy: "audit-only", lookupConcurrency: 8, runs: 2 }))[2];
    expect(other).toContain("across the three applications");
    expect(other).toContain("only `audit-only`");
    expect(other).toContain("(8 at a time)");
    expect(other).toContain("run 2 times");
  });

  it("keeps the lease count in the heading when it could not run", () => {
    expect(renderLeaseAudit({ missing: "bao", leases: 2000 })).toEqual([
      "## 5. The lease audit at 2,000 active leases",
      "",
      "❌ not run: missing bao",
      "",
    ]);
  });
});

describe("renderRaft", () => {
  const text = fileLines(renderRaft(RAFT));

  it("renders a row per server and event: issuance back, healthy, failed calls of every kind, the last second", () => {
    expect(text).toContain("| OpenBao 2.6.2 | `operator step-down` | 0.5 s | 0.1–0.8 s | 0.9 s | 0.0–1.8 s | 20/191, 0/160 | –, – |");
    expect(text).toContain("| OpenBao 2.6.2 | kill of the active node | 3.0 s | 2.7–3.4 s | 8.4 s | 7.7–9.2 s | 20/468, 12/407 | 107/107, 91/92 |");
  });

  it("says when, with which timing and how long a killed node stays down", () => {
    expect(text[2]).toMatch(/^Measured 2026-12-06T07:02:16\.911Z\. Three nodes of each server with Raft storage \(`performance_multiplier = 1`\)/);
    expect(text[2]).toContain("a killed node stays down 5 s,");
    expect(text[2]).toContain("; 2 runs of each event per server");
  });

  it("says what was missing when it could not run", () => {
    expect(renderRaft({ missing: "HAProxy (tools/build.sh ha-topology)" })[2]).toBe("❌ not run: missing HAProxy (tools/build.sh ha-topology)");
  });
});

describe("the report's layout", () => {
  it("keeps every heading and table header of BENCHMARKS.md, so that a merge and the documentation's links keep working", () => {
    const rendered = [
      renderHeader(MACHINE),
      renderSynth(SYNTH),
      renderCredentials(CREDENTIALS),
      renderDeploys(DEPLOYS),
      renderHa(HA),
      renderLeaseAudit(AUDIT),
      renderRaft(RAFT),
    ];
    const lines = rendered.flatMap(layout);
    expect(lines.filter((l) => l.startsWith("## "))).toHaveLength(6);
    for (const line of lines) expect(BENCHMARKS, line).toContain(line);
  });

  it("renders the header with the machine", () => {
    expect(renderHeader(MACHINE).slice(0, 6)).toEqual([
      "# Benchmarks",
      "",
      "- date: 2026-12-07T10:00:00.000Z",
      "- CPU: AMD EPYC, 2 cores",
      "- memory: 23.5 GiB",
      "- Node.js v20.20.2, Linux 6.18.44-fc-v657",
    ]);
  });

  it("renders the header, then the sections a run measured, in order", () => {
    const report = fileLines(renderReport({ machine: MACHINE, raft: RAFT, credentials: { missing: "tofu" }, synth: SYNTH }));
    expect(report.filter((l) => /^## \d\. /.test(l)).map((l) => l.slice(0, 5))).toEqual(["## 1.", "## 2.", "## 6."]);
    expect(report[0]).toBe("# Benchmarks");
  });
});

/** A small BENCHMARKS.md: a header, then sections 1 to 3 and the total. */
const PREVIOUS = [
  "# Benchmarks",
  "",
  "- date: 2026-11-29T05:11:44.433Z",
  "- CPU: AMD EPYC, 2 cores",
  "- section 2 re-measured alone (BENCH_ONLY=creds) on 2026-11-30T00:00:00.000Z",
  "",
  "Generated by `npm run bench`.",
  "",
  "## 1. Synth at scale",
  "",
  "old synth",
  "",
  "## 2. Credential issuance: OpenBao and Vault",
  "",
  "old creds",
  "",
  "## 3. `cdktf deploy` of `local`",
  "",
  "old deploys",
  "",
  "Total bench time: 50.0 min.",
  "",
].join("\n");

/** A run of one part: its own header, then its one section. */
const freshOf = (section: string[], date = "2026-12-07T10:00:00.000Z") => [...renderHeader({ ...MACHINE, date }), ...section];

describe("mergeSections", () => {
  it("replaces the section a part re-measured, keeps the others and the earlier header, drops the earlier total", () => {
    const merged = mergeSections(PREVIOUS, freshOf(["## 2. Credential issuance: OpenBao and Vault", "", "new creds", ""]), "creds");
    expect(merged.join("\n")).toBe(
      [
        "# Benchmarks",
        "",
        "- date: 2026-11-29T05:11:44.433Z",
        "- CPU: AMD EPYC, 2 cores",
        "- section 2 re-measured alone (BENCH_ONLY=creds) on 2026-12-07T10:00:00.000Z",
        "",
        "Generated by `npm run bench`.",
        "",
        "## 1. Synth at scale",
        "",
        "old synth",
        "",
        "## 2. Credential issuance: OpenBao and Vault",
        "",
        "new creds",
        "",
        "## 3. `cdktf deploy` of `local`",
        "",
        "old deploys",
        "",
        // the earlier file's last line, after its total: kept, as the earlier script kept it.
        "",
      ].join("\n"),
    );
  });

  it("adds a line for another section re-measured alone, after the header's list", () => {
    const merged = mergeSections(PREVIOUS, freshOf(["## 3. `cdktf deploy` of `local`", "", "new deploys", ""]), "deploy");
    expect(merged.slice(0, 7)).toEqual([
      "# Benchmarks",
      "",
      "- date: 2026-11-29T05:11:44.433Z",
      "- CPU: AMD EPYC, 2 cores",
      "- section 2 re-measured alone (BENCH_ONLY=creds) on 2026-11-30T00:00:00.000Z",
      "- section 3 re-measured alone (BENCH_ONLY=deploy) on 2026-12-07T10:00:00.000Z",
      "",
    ]);
    expect(merged).toContain("new deploys");
    expect(merged).toContain("old creds");
  });

  it("adds a section the earlier file did not have, in its place by number", () => {
    const merged = mergeSections(PREVIOUS, freshOf(["## 5. The lease audit at 10 active leases", "", "audit", ""]), "leases");
    const headings = merged.filter((l) => l.startsWith("## ")).map((l) => l.slice(0, 5));
    expect(headings).toEqual(["## 1.", "## 2.", "## 3.", "## 5."]);
  });

  it("merges a rendered section into the committed BENCHMARKS.md, leaving every other section as it was", () => {
    const committed = BENCHMARKS.join("\n");
    const merged = mergeSections(committed, freshOf(renderRaft(RAFT)), "raft");
    const sectionsOf = (lines: string[]) =>
      lines
        .join("\n")
        .split(/^(?=## \d\. )/m)
        .slice(1);
    const before = sectionsOf(BENCHMARKS.filter((l) => !l.startsWith("Total bench time")));
    const after = sectionsOf(fileLines(merged));
    expect(after).toHaveLength(before.length);
    expect(after.slice(0, 5)).toEqual(before.slice(0, 5));
    expect(after[5]).toContain("| OpenBao 2.6.2 | kill of the active node | 3.0 s |");
    expect(fileLines(merged).filter((l) => l.startsWith("- section 6 re-measured alone"))).toEqual([
      "- section 6 re-measured alone (BENCH_ONLY=raft) on 2026-12-07T10:00:00.000Z",
    ]);
  });
});

describe("benchmarksText", () => {
  const fresh = freshOf(["## 2. Credential issuance: OpenBao and Vault", "", "new creds", ""]);

  it("is the run's report and its total when every part ran", () => {
    const text = benchmarksText(fresh, { previous: PREVIOUS, minutes: 61.26 });
    expect(text).toBe(`${fresh.join("\n")}\nTotal bench time: 61.3 min.\n`);
  });

  it("merges a run of one part into the earlier file, and says which part in the total", () => {
    const text = benchmarksText(fresh, { previous: PREVIOUS, only: "creds", minutes: 4.5 });
    expect(text).toContain("old synth");
    expect(text).toContain("new creds");
    expect(text).not.toContain("old creds");
    expect(text.endsWith("Total bench time (creds only): 4.5 min.\n")).toBe(true);
  });

  it("writes a run of one part as it is when there is no earlier file", () => {
    expect(benchmarksText(fresh, { only: "creds", minutes: 1 })).toBe(`${fresh.join("\n")}\nTotal bench time (creds only): 1.0 min.\n`);
  });
});
