/**
 * Section 7 of BENCHMARKS.md (bench/lease-scale.ts's figures): the curve as tables and as a plot, the statements
 * and the profiles behind it, the drain after an outage and the Raft restarts. Pure: the plot comes back as SVG
 * text, which scripts/bench.ts writes beside BENCHMARKS.md.
 */
import type { DrainResult, Latency, LeaseScaleNotRun, LeaseScaleResult, LevelFigures, ScaleServer, Storage } from "./lease-scale";
import { notRun } from "./measure";
import { lineChart } from "./plot";

/** Where the plot goes, from the repository root; BENCHMARKS.md links it. */
export const LEASE_SCALE_PLOT = "docs/images/lease-scale.svg";

const ms = (l: Latency) => (l.n ? `${l.p50.toFixed(1)} / ${l.p99.toFixed(1)}` : "–") + (l.errors ? ` (${l.errors} failed)` : "");
const thousands = (n: number) => n.toLocaleString("en");
/** p50 at a level over p50 on the empty server, as `1.8×`. */
const ratio = (level: Latency, empty: Latency) => `${(level.p50 / empty.p50).toFixed(1)}×`;
/** The goal of issue 38: issuance p50 at the top level within this many times the empty server's. */
export const SCALE_GOAL = 1.5;

/** One line per server: the project's concurrency-16 p50 at its top level over the empty server's, against {@link SCALE_GOAL}. */
function goalLines(servers: readonly ScaleServer[]): string[] {
  return servers.map((s) => {
    const [empty, top] = [s.levels[0], s.levels.at(-1)!];
    const x = top.project.issueC16.p50 / empty.project.issueC16.p50;
    const bare = top.bare.issueC16.p50 / empty.bare.issueC16.p50;
    return (
      `- ${x <= SCALE_GOAL ? "✅" : "❌"} ${named(s)}: the project's issuance p50 at ${thousands(top.active)} active leases is ${x.toFixed(2)}× the empty server's ` +
      `(goal ≤ ${SCALE_GOAL}×); the runbook's bare statements ${bare.toFixed(2)}×.`
    );
  });
}

/** A server and its storage, as the tables name it. */
const named = (s: { label: string; storage: Storage }) => `${s.label}, ${s.storage === "dev" ? "dev server" : "Raft ×3"}`;

function curveRows(s: ScaleServer, key: "project" | "bare"): string[] {
  const empty = s.levels[0][key];
  return s.levels.map((l: LevelFigures) => {
    const r = l[key];
    return (
      `| ${named(s)} | ${key === "project" ? "project" : "runbook"} | ${thousands(l.active)} | ${ms(r.issueC1)} | ${ms(r.issueC16)} | ` +
      `${ratio(r.issueC16, empty.issueC16)} | ${ms(r.renew)} | ${ms(r.revoke)} |`
    );
  });
}

function whereTheTimeGoes(s: ScaleServer, profileSeconds: number): string[] {
  const last = s.levels.at(-1)!;
  return [
    `### ${named(s)} at ${thousands(last.active)} active leases: where the time goes`,
    "",
    "PostgreSQL's statements during the project's concurrency-16 issuance (`pg_stat_statements`, top by total time, nested statements included; " +
      "issued users' names and every literal shown as `…`, so that one kind of statement is one row and no password is printed):",
    "",
    "| statement | calls | mean | total |",
    "| --- | ---: | ---: | ---: |",
    ...last.project.statements.map(
      (st) => `| \`${st.query.replace(/\|/g, "\\|")}\` | ${st.calls} | ${st.meanMs.toFixed(2)} ms | ${st.totalMs.toFixed(0)} ms |`,
    ),
    "",
    ...(s.profile.length
      ? [
          `The server's CPU while the project's role issued at concurrency 16 for ${profileSeconds} s (\`sys/pprof/profile\`, \`go tool pprof -top -cum\`):`,
          "",
          "```",
          ...s.profile,
          "```",
          "",
        ]
      : []),
  ];
}

/** The heading of section 7, the same whatever the run measured, so that a run of a part alone replaces it. */
export const LEASE_SCALE_HEADING = "## 7. Lease explosions: issuance as active leases grow, and the drain after an outage";
/** The heading of the drain's subsection, which a BENCH_ONLY=drain run replaces in section 7 (bench/report.ts). */
export const DRAIN_HEADING = "### Drain after an outage";

/** The drain's subsection of section 7: a row per server and storage. */
export function renderDrains(result: DrainResult): string[] {
  const known = (n: number) => (n < 0 ? "?" : String(n));
  return [
    DRAIN_HEADING,
    "",
    `Measured ${result.measuredAt}, PostgreSQL ${result.postgresMajor}. A fresh deployment per server and storage (both servers at once, their dev servers, then their Raft clusters), ` +
      "its leases cut to a short TTL by a renewal, PostgreSQL stopped until every one had expired and 60 s more, " +
      "then started: how long until the server had revoked every lease and dropped every user (polled every 2 s), and what was left.",
    "",
    "| server | leases | TTL | cutting them took | PostgreSQL down | drained after | leases left | users left | irrevocable | polls unanswered |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...result.drains.map((r) => {
      const d = r.drain;
      if ("failed" in d) return `| ${named(r)} | ❌ failed: ${d.failed.replace(/\|/g, "\\|").split("\n")[0]} | | | | | | | | |`;
      return (
        `| ${named(r)} | ${thousands(d.leases)} | ${d.ttlS} s | ${d.cutS.toFixed(0)} s | ${d.outageS.toFixed(0)} s | ` +
        `${d.drained ? `${d.drainS.toFixed(0)} s` : `not within ${d.drainS.toFixed(0)} s`} | ${known(d.leasesLeft)} | ${known(d.usersLeft)} | ${known(d.irrevocable)} | ${d.unansweredPolls} |`
      );
    }),
    "",
  ];
}

/** Section 7 as Markdown lines, and the plot (absent when it did not run). */
export function renderLeaseScale(outcome: LeaseScaleResult | LeaseScaleNotRun): { lines: string[]; plot?: string } {
  const lines = [LEASE_SCALE_HEADING, ""];
  if (notRun(outcome)) {
    return { lines: [...lines, `❌ not run (levels ${outcome.levels.map(thousands).join(", ")}): missing ${outcome.missing}`, ""] };
  }
  const { servers } = outcome;
  const devBao = servers.find((s) => s.storage === "dev" && s.label.startsWith("OpenBao"));
  lines.push(
    `Measured ${outcome.measuredAt}. Each server with its own PostgreSQL ${outcome.postgresMajor} (\`pg_stat_statements\` loaded), the \`local\` stack ` +
      "deployed by OpenTofu, everything on 127.0.0.1: dev servers (in-memory storage), then section 6's three-node Raft clusters (TLS, HAProxy in front), production's storage. " +
      "At each level the leases are filled at concurrency 16 across the four applications' roles (4 h leases, left active); " +
      `then, for the project's role and the runbook's bare role (its two statements, same connection: bench/runbook-role.ts), ${outcome.samplesC1} credentials at ` +
      `concurrency 1 and ${outcome.samplesC16} at concurrency 16, the latter renewed and all of them revoked at concurrency 16. p50 / p99 in ms; ` +
      "*vs empty* is the concurrency-16 p50 over the same row's on the empty server.",
    "",
    ...(devBao
      ? [
          `OpenBao's dev server stops at ${thousands(outcome.openbaoDevTop)}: its in-memory storage copies itself whole at the start of every transaction ` +
            "(OpenBao 2.6.2, `sdk/physical/inmem/inmem.go`, `TransactionalInmemBackend.BeginTx`: `radix.NewFromMap(i.root.ToMap())`, under the backend's lock), " +
            "so every lease stored makes every later request that writes slower, and filling it to 50,000 would take about an hour. Production runs Raft, below.",
          "",
        ]
      : []),
    "At every level the concurrency-16 p50 is about sixteen times the concurrency-1 one: both servers' PostgreSQL plugin holds one lock for the whole of " +
      "each `NewUser`, `UpdateUser` and `DeleteUser` (`plugins/database/postgresql/postgresql.go`: `p.Lock()` first thing, in OpenBao 2.6.2 and Vault 1.21.0 alike), " +
      "so one connection configuration issues, renews and revokes one credential at a time and the others wait in line.",
    "",
    `![issuance p50 against active leases](${LEASE_SCALE_PLOT})`,
    "",
    "| server | statements | active leases | issue, c1 | issue, c16 | vs empty | renew, c16 | revoke, c16 |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...servers.flatMap((s) => [...curveRows(s, "project"), ...curveRows(s, "bare")]),
    "",
    ...goalLines(servers),
    "",
    "What grows beside the leases: issued users in `pg_roles`, the server's resident memory (a Raft cluster's largest node), and how long the fill to that level took.",
    "",
    "| server | active leases | issued users | server RSS | fill |",
    "| --- | ---: | ---: | ---: | ---: |",
    ...servers.flatMap((s) =>
      s.levels.map((l) => `| ${named(s)} | ${thousands(l.active)} | ${thousands(l.users)} | ${l.serverRssMiB} MiB | ${l.fillS.toFixed(0)} s |`),
    ),
    "",
    ...servers.flatMap((s) => whereTheTimeGoes(s, outcome.profileSeconds)),
  );
  if (outcome.drains.length) lines.push(...renderDrains(outcome));
  const restarts = servers.filter((s) => s.restart);
  if (restarts.length) {
    lines.push(
      "### A Raft cluster restarted with its leases",
      "",
      "The Raft clusters above, holding their top level of leases: every node killed at once (SIGKILL), the three started again together and unsealed. " +
        "From the start: a node active behind HAProxy, the first credential issued through it, the active node's `lease restore complete` (every lease " +
        "loaded from storage), every node an unsealed voter again.",
      "",
      "| server | leases | active | first credential | leases restored | healthy |",
      "| --- | ---: | ---: | ---: | ---: | ---: |",
      ...restarts.map((s) => {
        const r = s.restart!;
        return `| ${s.label} | ${thousands(r.leases)} | ${r.activeS.toFixed(1)} s | ${r.firstIssueS.toFixed(1)} s | ${r.restoredS.toFixed(1)} s | ${r.healthyS.toFixed(1)} s |`;
      }),
      "",
    );
  }
  for (const f of outcome.raftFailures) lines.push(`❌ the Raft part of \`${f.binary}\` failed: ${f.failed.split("\n")[0]}`, "");
  const plot = lineChart({
    title: "Issuance p50 at concurrency 16 against active leases",
    xLabel: "active leases",
    yLabel: "p50, ms (log)",
    logY: true,
    series: servers.flatMap((s, colour) => [
      { name: `${named(s)}, project`, colour, points: s.levels.map((l) => [l.active, l.project.issueC16.p50] as const) },
      { name: `${named(s)}, runbook`, colour, points: s.levels.map((l) => [l.active, l.bare.issueC16.p50] as const), dashed: true },
    ]),
  });
  return { lines, plot };
}
