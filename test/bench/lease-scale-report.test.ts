/** bench/lease-scale-report.ts: section 7 of BENCHMARKS.md and its plot, from section 7's typed figures. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { DrainRun, LeaseScaleResult, LevelFigures, RoleFigures } from "../../bench/lease-scale";
import { DRAIN_HEADING, LEASE_SCALE_PLOT, renderDrains, renderLeaseScale } from "../../bench/lease-scale-report";
import { ROOT } from "../helpers";

const latency = (p50: number) => ({ n: 400, p50, p99: p50 * 3, errors: 0 });
const role = (issue: number): RoleFigures => ({
  issueC1: latency(issue / 2),
  issueC16: latency(issue),
  renew: latency(issue / 3),
  revoke: latency(issue / 4),
  statements: [{ query: "SELECT keybuzz_credentials.create_user($1, $2, $3)", calls: 400, meanMs: 4.2, totalMs: 1680 }],
});
const level = (active: number, project: number, bare: number): LevelFigures => ({
  active,
  users: active,
  serverRssMiB: 100 + active / 100,
  fillS: active / 100,
  project: role(project),
  bare: role(bare),
});
const DRAINS: DrainRun[] = [
  {
    label: "OpenBao 2.6.2",
    storage: "dev",
    drain: {
      leases: 10_000,
      ttlS: 180,
      cutS: 80,
      outageS: 240,
      drainS: 95,
      drained: true,
      leasesLeft: 0,
      usersLeft: 0,
      irrevocable: 0,
      unansweredPolls: 0,
    },
  },
  {
    label: "Vault 1.21.0",
    storage: "raft",
    drain: {
      leases: 10_000,
      ttlS: 180,
      cutS: 40,
      outageS: 240,
      drainS: 900,
      drained: false,
      leasesLeft: 12,
      usersLeft: 12,
      irrevocable: -1,
      unansweredPolls: 3,
    },
  },
];
const RESULT: LeaseScaleResult = {
  measuredAt: "2026-12-07T00:00:00.000Z",
  postgresMajor: 15,
  samplesC1: 100,
  samplesC16: 400,
  profileSeconds: 15,
  openbaoDevTop: 10_000,
  raftFailures: [],
  drains: DRAINS,
  servers: [
    {
      label: "OpenBao 2.6.2",
      storage: "dev",
      levels: [level(0, 12, 10), level(10_000, 60, 55), level(50_000, 240, 230)],
      profile: ["Showing nodes accounting for 10s", "flat  flat%   sum%        cum   cum%"],
    },
    {
      label: "Vault 1.21.0",
      storage: "dev",
      levels: [level(0, 12, 10), level(10_000, 14, 12), level(50_000, 16, 13)],
      profile: [],
    },
    {
      label: "OpenBao 2.6.2",
      storage: "raft",
      levels: [level(0, 20, 18), level(50_000, 22, 19)],
      profile: [],
      restart: { leases: 50_000, activeS: 4.25, firstIssueS: 5.5, restoredS: 61.04, healthyS: 70 },
    },
  ],
};

describe("renderLeaseScale", () => {
  const { lines, plot } = renderLeaseScale(RESULT);
  const text = lines.join("\n");

  it("has a heading that does not depend on the levels, so that a run of the part alone replaces it", () => {
    expect(lines[0]).toBe("## 7. Lease explosions: issuance as active leases grow, and the drain after an outage");
  });

  it("has a row per server, statement set and level, with the p50 at that level over the empty server's", () => {
    expect(text).toContain("| OpenBao 2.6.2, dev server | project | 50,000 | 120.0 / 360.0 | 240.0 / 720.0 | 20.0× | 80.0 / 240.0 | 60.0 / 180.0 |");
    expect(text).toContain("| Vault 1.21.0, dev server | runbook | 10,000 | 6.0 / 18.0 | 12.0 / 36.0 | 1.2× | 4.0 / 12.0 | 3.0 / 9.0 |");
    expect(text).toContain("| OpenBao 2.6.2, Raft ×3 | project | 50,000 | 11.0 / 33.0 | 22.0 / 66.0 | 1.1× |");
    expect(lines.filter((l) => /^\| (OpenBao|Vault) [^|]+ \| (project|runbook) \|/.test(l))).toHaveLength(16);
  });

  it("says per server whether the project's issuance at the top level is within 1.5× of the empty server's", () => {
    expect(text).toContain(
      "- ❌ OpenBao 2.6.2, dev server: the project's issuance p50 at 50,000 active leases is 20.00× the empty server's (goal ≤ 1.5×); the runbook's bare statements 23.00×.",
    );
    expect(text).toContain("- ✅ OpenBao 2.6.2, Raft ×3: the project's issuance p50 at 50,000 active leases is 1.10× the empty server's");
  });

  it("says why OpenBao's dev server stops early, and only when it is in the run", () => {
    expect(text).toContain("OpenBao's dev server stops at 10,000: its in-memory storage copies itself whole");
    expect(renderLeaseScale({ ...RESULT, servers: RESULT.servers.slice(1) }).lines.join("\n")).not.toContain("dev server stops at");
  });

  it("prints no profile block for a server without one", () => {
    expect(text.match(/```/g)).toHaveLength(2);
  });

  it("links the plot and shows, per server at the top level, the statements and the profile", () => {
    expect(text).toContain(`](${LEASE_SCALE_PLOT})`);
    expect(text).toContain("### OpenBao 2.6.2, dev server at 50,000 active leases: where the time goes");
    expect(text).toContain("| `SELECT keybuzz_credentials.create_user($1, $2, $3)` | 400 | 4.20 ms | 1680 ms |");
    expect(text).toContain("Showing nodes accounting for 10s");
  });

  it("says per server and storage when a drain did not finish, with what was left", () => {
    expect(text).toContain("| OpenBao 2.6.2, dev server | 10,000 | 180 s | 80 s | 240 s | 95 s | 0 | 0 | 0 | 0 |");
    expect(text).toContain("| Vault 1.21.0, Raft ×3 | 10,000 | 180 s | 40 s | 240 s | not within 900 s | 12 | 12 | ? | 3 |");
  });

  it("has no drain table when no drain ran, and the same one as the drain alone renders when one did", () => {
    expect(renderLeaseScale({ ...RESULT, drains: [] }).lines).not.toContain(DRAIN_HEADING);
    const alone = renderDrains({ measuredAt: RESULT.measuredAt, postgresMajor: 15, drains: DRAINS });
    expect(alone[0]).toBe(DRAIN_HEADING);
    expect(text).toContain(alone.join("\n"));
  });

  it("has a row per restarted cluster, and no such table when none was", () => {
    expect(text).toContain("| OpenBao 2.6.2 | 50,000 | 4.3 s | 5.5 s | 61.0 s | 70.0 s |");
    expect(renderLeaseScale({ ...RESULT, servers: RESULT.servers.slice(0, 2) }).lines.join("\n")).not.toContain("### A Raft cluster restarted");
  });

  it("reports a drain or a Raft part that failed, and the rest as measured", () => {
    const broken = renderLeaseScale({
      ...RESULT,
      drains: [{ ...DRAINS[0], drain: { failed: "fetch failed\nat …" } }, DRAINS[1]],
      raftFailures: [{ binary: "/cache/vault", failed: "timed out" }],
    }).lines.join("\n");
    expect(broken).toContain("| OpenBao 2.6.2, dev server | ❌ failed: fetch failed |");
    expect(broken).toContain("❌ the Raft part of `/cache/vault` failed: timed out");
    expect(broken).toContain("| Vault 1.21.0, Raft ×3 | 10,000 | 180 s |");
  });

  it("plots a solid and a dashed line per server, in the server's colour", () => {
    expect(plot?.match(/<polyline /g)).toHaveLength(6);
    expect(plot).toContain(">OpenBao 2.6.2, Raft ×3, runbook</text>");
  });

  it("says what was missing when it did not run, and draws nothing", () => {
    const missing = renderLeaseScale({ missing: "OpenBao (tools/build.sh bao failed)", levels: [0, 10_000] });
    expect(missing.lines).toContain("❌ not run (levels 0, 10,000): missing OpenBao (tools/build.sh bao failed)");
    expect(missing.plot).toBeUndefined();
  });
});

describe("section 7 in BENCHMARKS.md", () => {
  it("has the headings and table headers the renderer writes, so that a merge and the documentation's links keep working", () => {
    const committed = readFileSync(join(ROOT, "BENCHMARKS.md"), "utf8").split("\n");
    const lines = renderLeaseScale(RESULT).lines.join("\n").split("\n");
    // the headings that name a server and its top level depend on the figures; the others do not.
    const fixed = lines.filter((l, i) => (/^#{2,3} /.test(l) && !l.includes("where the time goes")) || /^\| ---/.test(lines[i + 1] ?? ""));
    expect(fixed.length).toBeGreaterThan(5);
    for (const line of fixed) expect(committed, line).toContain(line);
    expect(readFileSync(join(ROOT, LEASE_SCALE_PLOT), "utf8")).toMatch(/^<svg /);
  });
});
