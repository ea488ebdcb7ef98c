/**
 * `npm run bench`: a benchmark script (not a test). Prints a Markdown report and writes it to
 * BENCHMARKS.md at the repository root; progress goes to stderr. The sections, one module each in bench/:
 *
 * 1. Synth at scale (bench/synth.ts): the app in cdktf.json at the committed total, 100 and 1,000
 *    applications, and the synth commands against `npx cdktf synth`. Needs no server.
 * 2. Credential issuance on OpenBao and Vault (bench/credentials.ts): the project's pool and statements
 *    against the server's default pool and the runbook's bare role.
 * 3. `cdktf deploy` of `local` (bench/deploys.ts): cold, after destroy, with nothing to change.
 * 4. Behind HAProxy (bench/ha.ts): switchovers and crashes of a Patroni leader while credentials churn.
 * 5. The lease audit at 10,000 active leases (bench/lease-audit.ts).
 * 6. A Vault cluster (bench/raft.ts): step-downs and lost nodes of three Raft nodes while credentials churn.
 * 7. Lease explosions (bench/lease-scale.ts, bench/raft-restart.ts): issuance, renewal and revocation at 0, 10,000 and 50,000 active
 *    leases for the project's and the runbook's statements, what PostgreSQL and the server spend the time on, and
 *    on dev servers and on three-node Raft clusters, the drain of 10,000 expired leases after a PostgreSQL outage, a
 *    Raft cluster restarted with 50,000; its plot goes to docs/images/lease-scale.svg. BENCH_ONLY=drain re-measures
 *    the drains alone (dev servers, then Raft clusters; about 25 min) and replaces only their table.
 *
 * bench/report.ts renders the sections' results and merges a run of one part into BENCHMARKS.md.
 *
 * Environment: BENCH_SYNTH_RUNS (default 5), BENCH_CRED_REPEATS (default 3), BENCH_CREDS (default 500),
 * BENCH_DEPLOY_REPEATS (default 3), BENCH_HA_REPEATS (default 3), BENCH_AUDIT_LEASES (default 10000), BENCH_AUDIT_RUNS (default 3),
 * BENCH_RAFT_REPEATS (default 3), BENCH_SCALE_LEVELS (default 0,10000,50000), BENCH_SCALE_SAMPLES (default 400),
 * BENCH_DRAIN_LEASES (default 10000; 0 for none), BENCH_SCALE_RAFT (default 1; 0 leaves the Raft clusters out), BENCH_ONLY=synth|creds|deploy|ha|leases|raft|scale|drain (run one part:
 * its section of BENCHMARKS.md is replaced, the others kept; drain replaces its table in section 7).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { PROJECT_ROOT } from "../harness/stack";
import { progress } from "../bench/measure";
import { LEASE_SCALE_PLOT, renderLeaseScale } from "../bench/lease-scale-report";
import { benchmarksText, renderReport } from "../bench/report";
import { benchOptions, runBench } from "../bench/run";

async function main(): Promise<void> {
  const started = Date.now();
  const opts = benchOptions(process.env);
  const results = await runBench(opts);
  const fresh = renderReport(results);
  const file = join(PROJECT_ROOT, "BENCHMARKS.md");
  const previous = opts.only !== undefined && existsSync(file) ? readFileSync(file, "utf8") : undefined;
  const text = benchmarksText(fresh, { previous, only: opts.only, minutes: (Date.now() - started) / 60000 });
  process.stdout.write(`${text}\n`);
  writeFileSync(file, text);
  progress(`wrote ${file}`);
  const plot = results.leaseScale && renderLeaseScale(results.leaseScale).plot;
  if (plot) {
    const plotFile = join(PROJECT_ROOT, LEASE_SCALE_PLOT);
    mkdirSync(dirname(plotFile), { recursive: true });
    writeFileSync(plotFile, plot);
    progress(`wrote ${plotFile}`);
  }
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
