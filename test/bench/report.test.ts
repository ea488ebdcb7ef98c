/**
 * bench/report.ts: BENCHMARKS.md rendered from the sections' typed results, and a run of one part merged into
 * an earlier file. The results (report.fixture.ts) are the figures of the committed BENCHMARKS.md where that
 * file shows them, so that the rendering is checked against the text the earlier script wrote.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  benchmarksText,
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
import { DRAIN_HEADING, LEASE_SCALE_HEADING, renderDrains } from "../../bench/lease-scale-report";
import type { SynthResult } from "../../bench/synth";
import { ROOT } from "../helpers";
import { AUDIT, CREDENTIALS, DEPLOYS, HA, MACHINE, RAFT, SYNTH, SYNTH_SECTION, timedRuns } from "./report.fixture";

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

  it("replaces only section 7's drain when the drain ran alone, keeping the curve and the restarts", () => {
    const section7 = (drain: string[]) => [
      LEASE_SCALE_HEADING,
      "",
      "old curve",
      "",
      ...drain,
      "### A Raft cluster restarted with its leases",
      "",
      "old restarts",
      "",
    ];
    const previous = [PREVIOUS, ...section7([DRAIN_HEADING, "", "old drain", ""])].join("\n");
    const drains = { measuredAt: "2026-12-08T01:00:00.000Z", postgresMajor: 15, drains: [] };
    const fresh = freshOf(renderReport({ machine: MACHINE, drains }).slice(renderHeader(MACHINE).length));
    const merged = fileLines(mergeSections(previous, fresh, "drain"));
    const seven = merged.slice(merged.indexOf(LEASE_SCALE_HEADING));
    expect(seven).toEqual(fileLines(section7(renderDrains(drains))));
    expect(merged).toContain("- section 7's drain after an outage re-measured alone (BENCH_ONLY=drain) on 2026-12-07T10:00:00.000Z");
    expect(merged).toContain("old deploys");
    // an earlier section 7 without a drain gets one before its restarts.
    const without = [PREVIOUS, ...section7([])].join("\n");
    const added = fileLines(mergeSections(without, fresh, "drain"));
    expect(added.slice(added.indexOf(LEASE_SCALE_HEADING))).toEqual(fileLines(section7(renderDrains(drains))));
  });

  it("merges the drain alone into the committed BENCHMARKS.md's section 7, its other subsections as they were", () => {
    const committed = BENCHMARKS.join("\n");
    const drains = { measuredAt: "2026-12-08T01:00:00.000Z", postgresMajor: 15, drains: [] };
    const fresh = freshOf(renderReport({ machine: MACHINE, drains }).slice(renderHeader(MACHINE).length));
    const merged = fileLines(mergeSections(committed, fresh, "drain"));
    const outsideDrain = (lines: string[]) => {
      const seven = lines.slice(lines.indexOf(LEASE_SCALE_HEADING)).filter((l) => !l.startsWith("Total bench time"));
      const start = seven.indexOf(DRAIN_HEADING);
      const end = seven.findIndex((l, i) => i > start && (l.startsWith("### ") || l.startsWith("❌ the Raft part")));
      return [...seven.slice(0, start), ...seven.slice(end < 0 ? seven.length : end)];
    };
    expect(outsideDrain(merged)).toEqual(outsideDrain(BENCHMARKS));
    expect(merged).toContain(
      "Measured 2026-12-08T01:00:00.000Z, PostgreSQL 15. A fresh deployment per server and storage (both servers at once, their dev servers, then their Raft clusters), its leases cut to a short TTL by a renewal, PostgreSQL stopped until every one had expired and 60 s more, then started: how long until the server had revoked every lease and dropped every user (polled every 2 s), and what was left.",
    );
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
