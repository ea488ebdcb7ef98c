/**
 * `npm run bench`: a benchmark script (not a test). Prints a Markdown report and writes it to
 * BENCHMARKS.md at the repository root; progress goes to stderr.
 *
 * 1. Synth at scale: the committed config/*.json with applications `app<i>` appended so that the four
 *    environments together hold the committed total, 100 and 1,000 applications; the app in cdktf.json
 *    (`node scripts/app.mjs`) run N times per size under /usr/bin/time (wall seconds, peak RSS); then the
 *    app, `npm run synth` and `node --import tsx main.ts` against `npx cdktf synth` on the committed config.
 * 2. Credential issuance against real servers (harness/: a throwaway PostgreSQL, OpenBao and then
 *    HashiCorp Vault dev servers, the stack deployed by OpenTofu with both providers, everything on
 *    127.0.0.1): 500 credentials at concurrency 16, then revoke-prefix, for the project's pool settings
 *    against Vault's defaults and the project's statements against the runbook's bare role.
 * 3. `cdktf deploy` of `local` (OpenBao, the machine's PostgreSQL): cold (fresh folder, init installs the
 *    providers), again after `cdktf destroy` (initialized), and with nothing to change; wall time split
 *    into the app's synth, the engine (every `tofu` process cdktf ran, timed by a wrapper) and cdktf's own.
 *
 * 4. Behind HAProxy: the `local` stack deployed through HAProxy to a two-node Patroni cluster
 *    (harness/patroni.ts), asynchronous and synchronous replication, OpenBao and Vault; per combination,
 *    repeated switchovers and crashes of the leader while credentials churn (harness/failover.ts): how long
 *    until Vault issues credentials again, the longest gap, when the cluster was healthy again.
 * 5. The lease audit (`npm run leases`) with 10,000 active leases (OpenBao and Vault, the machine's
 *    PostgreSQL): wall time and peak RSS of the whole command, and issuance latency at concurrency 4 with
 *    and without an audit running.
 * 6. A Vault cluster: the `local` stack deployed through HAProxy to three OpenBao (then three Vault) nodes
 *    with Raft storage and TLS (harness/raft.ts); repeated step-downs, kills of the active node and kills of
 *    a standby while credentials churn (harness/raft-failover.ts): how long until issuance is back, failed
 *    calls, and how many leases answered in the last second before a kill the cluster holds afterwards.
 *
 * Environment: BENCH_SYNTH_RUNS (default 5), BENCH_CRED_REPEATS (default 3), BENCH_CREDS (default 500),
 * BENCH_DEPLOY_REPEATS (default 3), BENCH_HA_REPEATS (default 3), BENCH_AUDIT_LEASES (default 10000), BENCH_AUDIT_RUNS (default 3),
 * BENCH_RAFT_REPEATS (default 3), BENCH_ONLY=synth|creds|deploy|ha|leases|raft (run
 * one part: its section of BENCHMARKS.md is replaced, the others kept).
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { cpus, totalmem, tmpdir, release } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { performance } from "node:perf_hooks";
import { pool, run } from "../harness/processes";
import { prepareToolchain, type Toolchain } from "../harness/toolchain";
import type { VaultResponse } from "../harness/vault";
import { APP, PROJECT_ROOT, localPaths, type TfJson } from "../harness/stack";
import { LocalDeployment } from "../harness/deployment";
import { PatroniCluster, PATRONI_TIMING, HAPROXY_CHECK, type ReplicationMode } from "../harness/patroni";
import { churnThrough, type Recovery } from "../harness/failover";
import { ThrowawayCa } from "../harness/ca";
import { RaftCluster, RAFT_TIMING } from "../harness/raft";
import { churnThroughRaft, RAFT_EVENTS, DOWN_MS, type RaftChurnResult, type RaftEventName } from "../harness/raft-failover";
import { LEASE_AUDIT_NAMES } from "../stacks/keybuzz-names";
import { LOOKUP_CONCURRENCY } from "../leases/collect";

const SYNTH_RUNS = Number(process.env.BENCH_SYNTH_RUNS ?? 5);
const CRED_REPEATS = Number(process.env.BENCH_CRED_REPEATS ?? 3);
const CREDS = Number(process.env.BENCH_CREDS ?? 500);
const DEPLOY_REPEATS = Number(process.env.BENCH_DEPLOY_REPEATS ?? 3);
const HA_REPEATS = Number(process.env.BENCH_HA_REPEATS ?? 3);
const RAFT_REPEATS = Number(process.env.BENCH_RAFT_REPEATS ?? 3);
const AUDIT_LEASES = Number(process.env.BENCH_AUDIT_LEASES ?? 10_000);
const AUDIT_RUNS = Number(process.env.BENCH_AUDIT_RUNS ?? 3);
const CONCURRENCY = 16;
const ONLY = process.env.BENCH_ONLY;

const progress = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);
const ok = (pass: boolean) => (pass ? "✅" : "❌");

// ---------------------------------------------------------------------------------------------- stats

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
/** The q-quantile (0..1) by the nearest-rank method. */
function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
}
const spread = (xs: number[], digits: number, unit = "") => `${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)}${unit}`;
/** Whether the min–max ranges of two samples overlap. */
const overlap = (a: number[], b: number[]) => Math.min(...a) <= Math.max(...b) && Math.min(...b) <= Math.max(...a);
/** Least-squares slope of y over x. */
function slope(xs: number[], ys: number[]): number {
  const mx = xs.reduce((a, b) => a + b, 0) / xs.length;
  const my = ys.reduce((a, b) => a + b, 0) / ys.length;
  let num = 0;
  let den = 0;
  xs.forEach((x, i) => {
    num += (x - mx) * (ys[i] - my);
    den += (x - mx) ** 2;
  });
  return num / den;
}

// ---------------------------------------------------------------------------------------------- synth

interface Timed {
  wallS: number;
  rssKb: number;
}

/** Runs a command under `/usr/bin/time -f "%e %M"` (written to a file, so the command's output stays apart). */
async function timed(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv, scratch: string, okCodes = [0]): Promise<Timed> {
  const out = join(scratch, `time-${randomBytes(4).toString("hex")}.txt`);
  const result = await run("/usr/bin/time", ["-o", out, "-f", "%e %M", command, ...args], { cwd, env });
  if (!okCodes.includes(result.code)) throw new Error(`${command} ${args.join(" ")} exited ${result.code}\n${result.stdout}\n${result.stderr}`);
  const [wall, rss] = readFileSync(out, "utf8").trim().split("\n").pop()!.split(" ");
  rmSync(out);
  return { wallS: Number(wall), rssKb: Number(rss) };
}

/** The committed environment files (config/*.json but the schema). */
function committedConfigs(): Map<string, TfJson> {
  const configs = new Map<string, TfJson>();
  for (const file of readdirSync(join(PROJECT_ROOT, "config")).sort()) {
    if (!file.endsWith(".json") || file === "schema.json") continue;
    const config = JSON.parse(readFileSync(join(PROJECT_ROOT, "config", file), "utf8"));
    delete config.$schema;
    configs.set(file, config);
  }
  return configs;
}

/**
 * A config folder where every environment holds `perEnv` applications: the committed ones, then `app<i>`
 * (base role `app_<i>`, Vault role `app<i>-db`) appended. Returns the folder and the total.
 */
function scaledConfigDir(parent: string, perEnv: number): { dir: string; total: number } {
  const dir = join(parent, `config-${perEnv}`);
  mkdirSync(dir, { recursive: true });
  let total = 0;
  for (const [file, config] of committedConfigs()) {
    const apps = config.applications as TfJson[];
    for (let i = 1; apps.length < perEnv; i++) {
      apps.push({ name: `app${i}`, baseRole: `app_${i}`, vaultRole: `app${i}-db` });
    }
    total += apps.length;
    writeFileSync(join(dir, file), `${JSON.stringify(config, null, 2)}\n`);
  }
  return { dir, total };
}

function stackSizesKb(outDir: string): number[] {
  const stacks = join(outDir, "stacks");
  return readdirSync(stacks).map((s) => statSync(join(stacks, s, "cdk.tf.json")).size / 1024);
}

interface SynthSize {
  perEnv: number;
  total: number;
  envs: number;
  runs: Timed[];
  stackKb: number[];
}

async function synthAtScale(scratch: string): Promise<SynthSize[]> {
  const committedPerEnv = Math.max(...[...committedConfigs().values()].map((c) => (c.applications as unknown[]).length));
  const perEnvSizes = [committedPerEnv, 25, 250];
  const envs = committedConfigs().size;
  const sizes: SynthSize[] = [];
  for (const perEnv of perEnvSizes) {
    const { dir, total } = scaledConfigDir(scratch, perEnv);
    const runs: Timed[] = [];
    let stackKb: number[] = [];
    // one unmeasured warm-up run (the app's bundle and code cache, the page cache).
    for (let i = 0; i <= SYNTH_RUNS; i++) {
      const outDir = join(scratch, `out-${perEnv}-${i}`);
      const t = await timed(
        process.execPath,
        [APP],
        PROJECT_ROOT,
        {
          ...process.env,
          KEYBUZZ_CONFIG_DIR: dir,
          CDKTF_OUTDIR: outDir,
          CHECKPOINT_DISABLE: "1",
        },
        scratch,
      );
      stackKb = stackSizesKb(outDir);
      rmSync(outDir, { recursive: true, force: true });
      if (i === 0) {
        progress(`synth ${total} applications: warm-up ${t.wallS.toFixed(2)} s`);
        continue;
      }
      runs.push(t);
      progress(`synth ${total} applications: run ${i}/${SYNTH_RUNS} ${t.wallS.toFixed(2)} s, ${(t.rssKb / 1024).toFixed(0)} MB`);
    }
    sizes.push({ perEnv, total, envs, runs, stackKb });
  }
  return sizes;
}

/** The ways to synthesize the committed config, compared in the same run. */
const SYNTH_COMMANDS = [
  { key: "app", label: "`node scripts/app.mjs` (the app in cdktf.json)", command: process.execPath, args: [APP] },
  { key: "npm", label: "`npm run synth` (the same, with npm's start-up)", command: "npm", args: ["run", "--silent", "synth"] },
  { key: "tsx", label: "`node --import tsx main.ts` (the app before the bundle)", command: process.execPath, args: ["--import", "tsx", "main.ts"] },
  { key: "cdktf", label: "`npx cdktf synth`", command: "npx", args: ["--no-install", "cdktf", "synth", "--output"] },
] as const;

type CliCompare = Record<(typeof SYNTH_COMMANDS)[number]["key"], Timed[]>;

async function npmVsCdktf(scratch: string): Promise<CliCompare> {
  const env: NodeJS.ProcessEnv = { ...process.env, CHECKPOINT_DISABLE: "1" };
  delete env.KEYBUZZ_CONFIG_DIR;
  delete env.KEYBUZZ_ENVIRONMENTS;
  const times: CliCompare = { app: [], npm: [], tsx: [], cdktf: [] };
  // alternated, so that drift of a noisy machine hits all alike; outputs in temp folders, not cdktf.out/.
  // Run 0 is a warm-up (the bundle, its code cache and tsx's cache are built once, as on a developer's machine).
  for (let i = 0; i <= SYNTH_RUNS; i++) {
    for (const c of SYNTH_COMMANDS) {
      const out = join(scratch, `${c.key}-${i}`);
      const args = c.key === "cdktf" ? [...c.args, out] : [...c.args];
      const t = await timed(c.command, args, PROJECT_ROOT, { ...env, CDKTF_OUTDIR: out }, scratch);
      if (stackSizesKb(out).length === 0) throw new Error(`${c.label} wrote no stack`);
      rmSync(out, { recursive: true, force: true });
      if (i > 0) times[c.key].push(t);
    }
    const last = (key: keyof CliCompare) => (i > 0 ? `${times[key][i - 1].wallS.toFixed(2)} s` : "warm-up");
    progress(`synth commands: run ${i}/${SYNTH_RUNS}: app ${last("app")}, npm ${last("npm")}, tsx ${last("tsx")}, cdktf ${last("cdktf")}`);
  }
  return times;
}

function synthReport(sizes: SynthSize[], cli: CliCompare): string[] {
  const lines: string[] = [];
  lines.push("## 1. Synth at scale", "");
  lines.push(
    `\`node scripts/app.mjs\` (the app in cdktf.json) on the committed \`config/*.json\` with applications \`app<i>\` appended, all ${sizes[0].envs} environments ` +
      `in one run (applications split evenly across them), ${SYNTH_RUNS} measured runs per size after one warm-up, under ` +
      '`/usr/bin/time -f "%e %M"`. Stack size: the median `cdk.tf.json` of the run\'s stacks.',
    "",
  );
  lines.push("| applications (total) | per environment | wall, median | wall, min–max | peak RSS, median | peak RSS, min–max | stack size, median |");
  lines.push("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
  for (const s of sizes) {
    const wall = s.runs.map((r) => r.wallS);
    const rss = s.runs.map((r) => r.rssKb / 1024);
    lines.push(
      `| ${s.total} | ${s.perEnv} | ${median(wall).toFixed(2)} s | ${spread(wall, 2, " s")} | ${median(rss).toFixed(0)} MB | ` +
        `${spread(rss, 0, " MB")} | ${median(s.stackKb).toFixed(0)} KB |`,
    );
  }
  const xs = sizes.map((s) => s.total);
  const ys = sizes.map((s) => median(s.runs.map((r) => r.wallS)) * 1000);
  const fit = slope(xs, ys);
  const low = (ys[1] - ys[0]) / (xs[1] - xs[0]);
  const high = (ys[2] - ys[1]) / (xs[2] - xs[1]);
  const ratio = high / low;
  const rssFit = slope(
    xs,
    sizes.map((s) => median(s.runs.map((r) => r.rssKb / 1024))),
  );
  lines.push("");
  lines.push(
    `Slope (least squares over the three sizes): **${fit.toFixed(2)} ms per added application** ` +
      `(peak RSS ${(rssFit * 1024).toFixed(0)} KB per application).`,
  );
  lines.push(
    `Growth: ${low.toFixed(2)} ms/app from ${xs[0]} to ${xs[1]}, ${high.toFixed(2)} ms/app from ${xs[1]} to ${xs[2]} ` +
      `(ratio ${ratio.toFixed(2)}): ${
        ratio <= 1.5
          ? "looks linear (the larger step costs no more per application)"
          : "grows faster than linear (the larger step costs more per application)"
      }. The ${xs[0]}→${xs[1]} step is small (${((ys[1] - ys[0]) / 1000).toFixed(2)} s) next to the run-to-run noise, so its slope is the less certain one.`,
  );
  const big = sizes[sizes.length - 1];
  const bigWall = median(big.runs.map((r) => r.wallS));
  const bigRss = median(big.runs.map((r) => r.rssKb / 1024));
  lines.push("");
  lines.push("| target | measured | |", "| --- | ---: | :---: |");
  lines.push(`| ${big.total.toLocaleString("en")} applications under 3 s wall (median) | ${bigWall.toFixed(2)} s | ${ok(bigWall < 3)} |`);
  lines.push(`| ${big.total.toLocaleString("en")} applications under 300 MB peak RSS (median) | ${bigRss.toFixed(0)} MB | ${ok(bigRss < 300)} |`);
  const wall = (key: keyof CliCompare) => median(cli[key].map((t) => t.wallS));
  lines.push("");
  lines.push(
    `### Synth commands against \`npx cdktf synth\`\n\nCommitted config (${sizes[0].total} applications, all environments), ` +
      `${SYNTH_RUNS} runs each after one warm-up, alternated, \`CHECKPOINT_DISABLE=1\`, output to temp folders. Wall time ` +
      "includes each launcher's own start-up, as a user would see it; `npx cdktf synth` runs the app in cdktf.json (the bundle) itself.",
    "",
  );
  lines.push("| command | wall, median | wall, min–max | peak RSS, median | `npx cdktf synth` / this |", "| --- | ---: | ---: | ---: | ---: |");
  for (const c of SYNTH_COMMANDS) {
    const w = cli[c.key].map((t) => t.wallS);
    const rss = median(cli[c.key].map((t) => t.rssKb / 1024));
    lines.push(
      `| ${c.label} | ${wall(c.key).toFixed(2)} s | ${spread(w, 2, " s")} | ${rss.toFixed(0)} MB | ${(wall("cdktf") / wall(c.key)).toFixed(1)}× |`,
    );
  }
  const speedup = wall("cdktf") / wall("app");
  lines.push("");
  lines.push(`Ratio \`npx cdktf synth\` / \`node scripts/app.mjs\`: **${speedup.toFixed(1)}×** (target ≥ 8×) ${ok(speedup >= 8)}`, "");
  return lines;
}

// ---------------------------------------------------------------------------------------------- credentials

interface IssueRun {
  rate: number;
  p50: number;
  p99: number;
  errors: number;
  revokeS: number;
  revokeStatus: number;
  revokeError: string;
  left: number;
  cleanup: string;
}

interface Variant {
  key: string;
  label: string;
  role: string;
  pool: "project" | "default";
  runs: IssueRun[];
}

/** One server's issuance figures: its name and the three variants. */
interface ServerRuns {
  server: string;
  pgVersion: string;
  variants: Variant[];
  /** The two pools as the server reports them after they were written. */
  pools: { project: string; default: string };
}

/** Issuance and revocation on one Vault-API server (`binary`), the stack deployed by OpenTofu with both providers. */
async function credentialsOn(toolchain: Toolchain, binary: string): Promise<ServerRuns> {
  let env: LocalDeployment | undefined;
  try {
    // the machine's PostgreSQL, as in every earlier report.
    env = await LocalDeployment.start({
      server: toolchain.postgres[0],
      vaultBinary: binary,
      tools: { engine: toolchain.tofu, cliConfig: toolchain.cliConfig },
      log: "[bench] credentials:",
    });
    await env.deploy();
    const { pg, adminPassword } = env;
    const databaseName = env.databaseName;
    const serverLabel = env.vault.label;
    const v = (method: string, path: string, body?: unknown): Promise<VaultResponse> => env!.v(method, path, body);
    const must = async (method: string, path: string, body?: unknown): Promise<VaultResponse> => {
      const res = await v(method, path, body);
      if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(res.body)}`);
      return res;
    };

    // the connection as synthesized and applied, and the project's role.
    const CONN = "database/config/keybuzz-postgres";
    const conn = (await must("GET", CONN)).body.data as TfJson;
    const details = conn.connection_details as TfJson;
    const apiRole = (await must("GET", "database/roles/keybuzz-api-db")).body.data as TfJson;
    const projectPool = {
      max_open_connections: details.max_open_connections,
      max_idle_connections: details.max_idle_connections,
      max_connection_lifetime: details.max_connection_lifetime,
    };
    // Vault's defaults for the two pool sizes; the lifetime stays as synthesized (no run here lasts 300 s).
    const defaultPool = { ...projectPool, max_open_connections: 4, max_idle_connections: 0 };
    const allowedRoles = [...(conn.allowed_roles as string[]), "bare-db"];
    const writeConnection = (poolSettings: TfJson) =>
      must("POST", CONN, {
        plugin_name: conn.plugin_name,
        plugin_version: conn.plugin_version || undefined,
        verify_connection: conn.verify_connection ?? true,
        allowed_roles: allowedRoles,
        root_rotation_statements: conn.root_credentials_rotate_statements,
        password_policy: conn.password_policy || undefined,
        connection_url: details.connection_url,
        username: details.username,
        password: adminPassword,
        password_authentication: details.password_authentication,
        username_template: details.username_template || undefined,
        ...poolSettings,
      });
    const readPool = async () => {
      const d = (await must("GET", CONN)).body.data.connection_details as TfJson;
      return `max_open_connections ${d.max_open_connections}, max_idle_connections ${d.max_idle_connections}, max_connection_lifetime ${d.max_connection_lifetime}`;
    };
    // the runbook's bare role: its two creation statements only, same TTLs, same connection.
    const runbookCreation = [
      `CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';`,
      `GRANT keybuzz_api TO "{{name}}";`,
    ];
    // the runbook's bare statements need the runbook's SUPERUSER vault_admin (the project's holds no attribute);
    // the project's statements run through the credential functions, as their owner, either way.
    await pg.query("ALTER ROLE vault_admin SUPERUSER");
    await writeConnection(projectPool);
    const projectPoolRead = await readPool();
    await must("POST", "database/roles/bare-db", {
      db_name: apiRole.db_name,
      default_ttl: apiRole.default_ttl,
      max_ttl: apiRole.max_ttl,
      creation_statements: runbookCreation,
    });
    await writeConnection(defaultPool);
    const defaultPoolRead = await readPool();
    await writeConnection(projectPool);

    const leftRoles = async () => Number((await pg.query<{ n: string }>("SELECT count(*) AS n FROM pg_roles WHERE rolname LIKE 'v-%'"))[0].n);

    async function issueAndRevoke(role: string): Promise<IssueRun> {
      const latencies: number[] = [];
      let errors = 0;
      let firstError = "";
      const start = performance.now();
      await pool(CREDS, CONCURRENCY, async () => {
        const t0 = performance.now();
        const res = await v("GET", `database/creds/${role}`);
        latencies.push(performance.now() - t0);
        if (res.status !== 200) {
          errors++;
          firstError ||= `${res.status} ${JSON.stringify(res.body.errors)}`;
        }
      });
      const issueS = (performance.now() - start) / 1000;
      if (errors) progress(`  ${errors} issuance errors, first: ${firstError}`);
      const r0 = performance.now();
      const revoke = await v("PUT", `sys/leases/revoke-prefix/database/creds/${role}`, {});
      const revokeS = (performance.now() - r0) / 1000;
      const revokeError = revoke.status >= 300 ? JSON.stringify(revoke.body.errors ?? revoke.body).slice(0, 400) : "";
      const left = await leftRoles();
      let cleanup = "";
      if (revoke.status >= 300 || left > 0) {
        // leave the next run a clean slate: drop the leases and the users left behind, and say so.
        await v("PUT", `sys/leases/revoke-force/database/creds/${role}`, {});
        const users = await pg.query<{ rolname: string }>("SELECT rolname FROM pg_roles WHERE rolname LIKE 'v-%'");
        for (const u of users) {
          const id = `"${u.rolname.replace(/"/g, '""')}"`;
          await pg.query(`DROP OWNED BY ${id}`, [], databaseName).catch(() => undefined);
          await pg.query(`DROP ROLE IF EXISTS ${id}`);
        }
        cleanup = `revoke-force + superuser DROP ROLE of ${users.length} users`;
      }
      return {
        rate: (CREDS - errors) / issueS,
        p50: quantile(latencies, 0.5),
        p99: quantile(latencies, 0.99),
        errors,
        revokeS,
        revokeStatus: revoke.status,
        revokeError,
        left,
        cleanup,
      };
    }

    const variants: Variant[] = [
      {
        key: "project",
        label: "project: pool as synthesized, project statements (`keybuzz-api-db`)",
        role: "keybuzz-api-db",
        pool: "project",
        runs: [],
      },
      { key: "defaultPool", label: "Vault's default pool, project statements (`keybuzz-api-db`)", role: "keybuzz-api-db", pool: "default", runs: [] },
      { key: "bare", label: "project pool, the runbook's bare role (`bare-db`)", role: "bare-db", pool: "project", runs: [] },
    ];
    let current: "project" | "default" = "project";
    for (let rep = 1; rep <= CRED_REPEATS; rep++) {
      // interleaved, so that the noise of a shared machine spreads over every variant alike.
      for (const variant of variants) {
        if (variant.pool !== current) {
          await writeConnection(variant.pool === "project" ? projectPool : defaultPool);
          current = variant.pool;
        }
        progress(
          `credentials on ${serverLabel}: ${variant.key}, repeat ${rep}/${CRED_REPEATS}: issuing ${CREDS} at concurrency ${CONCURRENCY}, then revoke-prefix`,
        );
        const r = await issueAndRevoke(variant.role);
        progress(
          `  ${r.rate.toFixed(1)} creds/s, p50 ${r.p50.toFixed(0)} ms, p99 ${r.p99.toFixed(0)} ms; revoke ${r.revokeS.toFixed(2)} s (HTTP ${r.revokeStatus}); ${r.left} v- roles left` +
            (r.revokeError ? `; error ${r.revokeError}` : ""),
        );
        variant.runs.push(r);
      }
    }
    const pgVersion = (await pg.query<{ v: string }>("SELECT current_setting('server_version') AS v"))[0].v;
    return {
      server: serverLabel,
      pgVersion,
      pools: { project: projectPoolRead, default: defaultPoolRead },
      variants: variants.map((vr) => ({ ...vr, label: vr.label.replace("Vault's default", `${env!.vault.product}'s default`) })),
    };
  } finally {
    progress("credentials: stopping servers, removing temp folders");
    await env?.stop();
  }
}

async function credentials(report: string[], toolchain: Toolchain | undefined, missing: string | undefined): Promise<void> {
  report.push("## 2. Credential issuance: OpenBao and Vault", "");
  if (!toolchain) {
    report.push(`❌ not run: missing ${missing}`, "");
    return;
  }
  const servers: ServerRuns[] = [];
  for (const binary of [toolchain.bao, toolchain.vault]) servers.push(await credentialsOn(toolchain, binary));
  const m = (runs: IssueRun[], f: (r: IssueRun) => number) => median(runs.map(f));
  report.push(
    `PostgreSQL ${servers[0].pgVersion} (throwaway cluster, fsync off) on 127.0.0.1, with ${servers.map((sv) => `${sv.server}`).join(" and then ")} ` +
      "(dev servers), the `local` stack deployed on each by OpenTofu with both providers (`harness/deployment.ts`). Per run: " +
      `${CREDS} × \`GET database/creds/<role>\` (root token) at concurrency ${CONCURRENCY} (a promise pool over \`fetch\`), then ` +
      "`PUT sys/leases/revoke-prefix/database/creds/<role>` (synchronous), then `v-` roles counted in `pg_roles`. " +
      `${CRED_REPEATS} repeats per variant, interleaved; median and min–max.`,
    "",
    ...servers.map(
      (sv) => `- ${sv.server}: project pool (as synthesized, read back): ${sv.pools.project}; default pool (read back): ${sv.pools.default}`,
    ),
    "- `bare-db`: creation statements = the runbook's two (`CREATE ROLE … VALID UNTIL …;` `GRANT keybuzz_api TO …;`), run by the runbook's SUPERUSER `vault_admin` (the bench makes it one; the project's statements call the credential functions, which act as their owner either way), " +
      "no renew or revocation statements (the server's default revocation), same TTLs and connection; `allowed_roles` gets `bare-db` " +
      "in every variant, so the connection differs between variants only in its pool settings.",
    "",
    "| server | variant | issued/s, median (min–max) | p50 latency | p99 latency | issuance errors | revoke-prefix, median (min–max) | revoke HTTP | `v-` roles left |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: | :---: | ---: |",
  );
  for (const sv of servers) {
    for (const variant of sv.variants) {
      const rs = variant.runs;
      const left = rs.map((r) => r.left);
      report.push(
        `| ${sv.server} | ${variant.label} | ${m(rs, (r) => r.rate).toFixed(1)} (${spread(
          rs.map((r) => r.rate),
          1,
        )}) | ${m(rs, (r) => r.p50).toFixed(0)} ms (${spread(
          rs.map((r) => r.p50),
          0,
        )}) | ` +
          `${m(rs, (r) => r.p99).toFixed(0)} ms (${spread(
            rs.map((r) => r.p99),
            0,
          )}) | ${rs.map((r) => r.errors).join(", ")} | ` +
          `${m(rs, (r) => r.revokeS).toFixed(2)} s (${spread(
            rs.map((r) => r.revokeS),
            2,
            " s",
          )}) | ${rs.map((r) => r.revokeStatus).join(", ")} | ` +
          `${left.join(", ")} ${ok(left.every((n) => n === 0))} |`,
      );
    }
  }
  const failures = servers.flatMap((sv) =>
    sv.variants.flatMap((vr) =>
      vr.runs
        .filter((r) => r.revokeError || r.cleanup)
        .map((r) => `- ${sv.server}, ${vr.key}: ${r.revokeError || "revoke succeeded"}${r.cleanup ? ` (cleaned up: ${r.cleanup})` : ""}`),
    ),
  );
  if (failures.length) report.push("", "Revocation problems, as measured:", "", ...failures);
  report.push("", "| ratio | measured | target | |", "| --- | ---: | ---: | :---: |");
  for (const sv of servers) {
    const [project, defaultPoolV, bare] = sv.variants;
    const rateRatio = m(project.runs, (r) => r.rate) / m(defaultPoolV.runs, (r) => r.rate);
    const revokeRatio = m(project.runs, (r) => r.revokeS) / m(bare.runs, (r) => r.revokeS);
    // the plugin creates users one at a time, so pool sizes rarely differ beyond noise: say so rather than fail.
    const ratesOverlap = overlap(
      project.runs.map((r) => r.rate),
      defaultPoolV.runs.map((r) => r.rate),
    );
    const rateMark = rateRatio >= 1 ? ok(true) : ratesOverlap ? "≈ (within noise)" : ok(false);
    report.push(`| ${sv.server}: issuance rate, project pool / default pool | ${rateRatio.toFixed(2)}× | ≥ 1× | ${rateMark} |`);
    report.push(
      `| ${sv.server}: revoke time, project statements / bare statements | ${revokeRatio.toFixed(2)}× | ≤ 1.5× | ${ok(revokeRatio <= 1.5)} |`,
    );
  }
  const [bao, vault] = servers;
  const baoRate = m(bao.variants[0].runs, (r) => r.rate);
  const vaultRate = m(vault.variants[0].runs, (r) => r.rate);
  report.push(`| issuance rate, ${bao.server} / ${vault.server} (project variant) | ${(baoRate / vaultRate).toFixed(2)}× | — | |`);
  const allLeft = servers.flatMap((sv) => sv.variants.flatMap((vr) => vr.runs.map((r) => r.left)));
  report.push(`| \`v-\` roles left after revoke, all runs | ${Math.max(...allLeft)} (max) | 0 | ${ok(allLeft.every((n) => n === 0))} |`, "");
}

// ---------------------------------------------------------------------------------------------- deploy

/** One `cdktf deploy`: wall time, and the time inside the app's synth and inside the engine. */
interface DeployRun {
  wallS: number;
  synthS: number;
  engineS: number;
  resources: number;
}

/** Total length of the union of [start, end] intervals (nanoseconds in, seconds out): overlapping runs count once. */
function unionSeconds(intervals: [bigint, bigint][]): number {
  const sorted = [...intervals].sort((a, b) => (a[0] < b[0] ? -1 : 1));
  let total = 0n;
  let [cs, ce] = sorted[0] ?? [0n, 0n];
  for (const [s, e] of sorted.slice(1)) {
    if (s > ce) {
      total += ce - cs;
      [cs, ce] = [s, e];
    } else if (e > ce) ce = e;
  }
  total += ce - cs;
  return Number(total) / 1e9;
}

/** A shell wrapper that runs `command` and appends "<start ns> <end ns>" to `log`. */
function timingWrapper(path: string, command: string[], log: string): string {
  const quoted = command.map((c) => `'${c.replace(/'/g, "'\\''")}'`).join(" ");
  writeFileSync(path, `#!/bin/sh\nstart=$(date +%s%N)\n${quoted} "$@"\nrc=$?\necho "$start $(date +%s%N)" >> '${log}'\nexit $rc\n`);
  chmodSync(path, 0o755);
  return path;
}

function readIntervals(log: string): [bigint, bigint][] {
  if (!existsSync(log)) return [];
  const lines = readFileSync(log, "utf8").trim().split("\n").filter(Boolean);
  rmSync(log);
  return lines.map((l) => l.split(" ").map((n) => BigInt(n)) as [bigint, bigint]);
}

async function deploys(report: string[], toolchain: Toolchain | undefined, missing: string | undefined): Promise<void> {
  report.push("## 3. `cdktf deploy` of `local`", "");
  if (!toolchain) {
    report.push(`❌ not run: missing ${missing}`, "");
    return;
  }
  const kinds = ["cold", "after destroy", "no changes"] as const;
  const runs: Record<(typeof kinds)[number], DeployRun[]> = { cold: [], "after destroy": [], "no changes": [] };
  let label = "";
  for (let rep = 1; rep <= DEPLOY_REPEATS; rep++) {
    const env = await LocalDeployment.start({
      server: toolchain.postgres[0],
      vaultBinary: toolchain.bao,
      tools: { engine: toolchain.tofu, cliConfig: toolchain.cliConfig },
      log: "[bench] deploy:",
    });
    try {
      label = `${env.vault.label}, PostgreSQL ${env.pg.serverVersion.split(" ")[1]}`;
      const engineLog = join(env.dir, "engine-times");
      const synthLog = join(env.dir, "synth-times");
      const engine = timingWrapper(join(env.dir, "tofu-timed"), [toolchain.tofu], engineLog);
      const app = timingWrapper(join(env.dir, "app-timed"), [process.execPath, APP], synthLog);
      const credentials = { ...env.credentials, engine };
      const one = async (command: "deploy" | "destroy"): Promise<DeployRun> => {
        const t0 = performance.now();
        const res = await env.cdktf(command, { credentials, args: ["--app", app] });
        const wallS = (performance.now() - t0) / 1000;
        if (res.code !== 0) throw new Error(`cdktf ${command} exited ${res.code}:\n${res.output}`);
        const resources = Number(/Resources: (\d+) (?:added|destroyed)/.exec(res.output)?.[1] ?? 0);
        return { wallS, synthS: unionSeconds(readIntervals(synthLog)), engineS: unionSeconds(readIntervals(engineLog)), resources };
      };
      for (const kind of kinds) {
        if (kind === "after destroy") await one("destroy");
        const r = await one("deploy");
        runs[kind].push(r);
        progress(
          `deploy ${rep}/${DEPLOY_REPEATS}, ${kind}: ${r.wallS.toFixed(1)} s (synth ${r.synthS.toFixed(1)} s, engine ${r.engineS.toFixed(1)} s), ${r.resources} resources`,
        );
      }
    } finally {
      await env.stop();
    }
  }
  report.push(
    `${label} on 127.0.0.1; \`cdktf deploy keybuzz-local --auto-approve --skip-provider-lock\` with OpenTofu (\`TERRAFORM_BINARY_NAME\`) ` +
      `and the providers' filesystem mirror, ${DEPLOY_REPEATS} repeats on fresh servers and folders. **cold**: a fresh output folder and HOME ` +
      "(init installs both providers from the mirror); **after destroy**: `cdktf destroy`, then deploy again in the same folder; " +
      "**no changes**: deploy once more. Split: the app's synth (`node scripts/app.mjs`, as cdktf runs it), the engine (every " +
      "`tofu` process cdktf started: version, init, plan, apply), and cdktf's own share (the rest of the wall time).",
    "",
    "| deploy | resources | wall, median (min–max) | synth | engine | cdktf's own |",
    "| --- | ---: | ---: | ---: | ---: | ---: |",
  );
  for (const kind of kinds) {
    const rs = runs[kind];
    const own = rs.map((r) => r.wallS - r.synthS - r.engineS);
    report.push(
      `| ${kind} | ${rs[0]?.resources ?? 0} | ${median(rs.map((r) => r.wallS)).toFixed(1)} s (${spread(
        rs.map((r) => r.wallS),
        1,
        " s",
      )}) | ` + `${median(rs.map((r) => r.synthS)).toFixed(1)} s | ${median(rs.map((r) => r.engineS)).toFixed(1)} s | ${median(own).toFixed(1)} s |`,
    );
  }
  report.push("");
}

// ---------------------------------------------------------------------------------------------- HA

const HA_ROLES = ["keybuzz-api-db", "chatwoot-db", "n8n-db", "workers-db"];

async function haOn(toolchain: Toolchain, binary: string, replication: ReplicationMode): Promise<{ label: string; runs: Recovery[] }> {
  const log = `[bench] ha ${replication}:`;
  const env = await LocalDeployment.start({
    startPostgres: (parentDir) =>
      PatroniCluster.start({
        binDir: toolchain.postgres[0].binDir,
        programs: toolchain.ha!,
        replication,
        parentDir,
        log: (m) => progress(`ha ${m}`),
      }),
    vaultBinary: binary,
    tools: { engine: toolchain.tofu, cliConfig: toolchain.cliConfig },
    log,
  });
  try {
    await env.deploy();
    const runs: Recovery[] = [];
    for (let rep = 1; rep <= HA_REPEATS; rep++) {
      for (const name of ["switchover", "crash"] as const) {
        const { recovery, before } = await churnThrough(env, HA_ROLES, name, async () =>
          name === "switchover" ? (({ from, to }) => `${from} → ${to}`)(await env.pg.switchover()) : `of ${(await env.pg.crashLeader()).name}`,
        );
        for (const c of before) await env.revoke(c.leaseId);
        progress(`ha ${env.vault.product} ${replication} ${rep}/${HA_REPEATS}: ${recovery.event}: issuance back after ${recovery.issuanceBackMs} ms`);
        runs.push(recovery);
      }
    }
    return { label: env.vault.label, runs };
  } finally {
    await env.stop();
  }
}

async function ha(report: string[], toolchain: Toolchain | undefined, missing: string | undefined): Promise<void> {
  report.push("## 4. Behind HAProxy: switchover and failover", "");
  if (!toolchain?.ha) {
    report.push(`❌ not run: missing ${missing ?? "the HA topology (tools/build.sh ha-topology)"}`, "");
    return;
  }
  const rows: string[] = [];
  const seconds = (xs: number[]) =>
    `${(median(xs) / 1000).toFixed(1)} s | ${(Math.min(...xs) / 1000).toFixed(1)}–${(Math.max(...xs) / 1000).toFixed(1)} s`;
  for (const replication of ["async", "sync"] as const) {
    for (const binary of [toolchain.bao, toolchain.vault]) {
      const { label, runs } = await haOn(toolchain, binary, replication);
      for (const name of ["switchover", "crash"]) {
        const of = runs.filter((r) => r.event.startsWith(name));
        const failedIssues = of.map((r) => `${r.failed.issue}/${r.made.issue}`).join(", ");
        rows.push(
          `| ${label} | ${replication} | ${name === "crash" ? "crash of the leader (SIGKILL)" : "`patronictl switchover`"} | ` +
            `${seconds(of.map((r) => r.issuanceBackMs))} | ${seconds(of.map((r) => r.longestGapMs))} | ${seconds(of.map((r) => r.healthyAfterMs))} | ${failedIssues} |`,
        );
      }
    }
  }
  report.push(
    `Measured ${new Date().toISOString()}. Two PostgreSQL ${toolchain.postgres[0].major} nodes managed by Patroni (Debian's package), one etcd member, HAProxy routing to the node whose ` +
      "Patroni REST API answers `/primary` (`harness/patroni.ts`), everything on 127.0.0.1; the `local` stack deployed through HAProxy's port. " +
      `Patroni: leader TTL ${PATRONI_TIMING.ttl} s, loop_wait ${PATRONI_TIMING.loop_wait} s, \`primary_start_timeout: 0\` (a crashed primary is failed over, not restarted); ` +
      `HAProxy checks every ${HAPROXY_CHECK.inter} ms, down after ${HAPROXY_CHECK.fall}, \`on-marked-down shutdown-sessions\`. ` +
      "While two workers loop issue → log in through HAProxy → renew → revoke (100 ms pause), the event happens; " +
      `${HA_REPEATS} switchovers and ${HA_REPEATS} crashes per row, alternated (the leader moves each time; harness/failover.ts).`,
    "",
    "- **issuance back**: from the event until Vault issued again: the end of the first successful `GET database/creds/<role>` that started after the last failed one, or of the longest gap, whichever is later.",
    "- **longest gap**: the longest time from the event on in which no issuance succeeded (also counts calls that only waited).",
    "- **healthy**: until Patroni reported a running leader and a streaming replica and HAProxy sent connections to a primary (for a crash: the old leader rewound and back as a replica).",
    "- **failed issues**: failed / made, per run, from the event until 3 s after healthy.",
    "",
    "| server | replication | event | issuance back, median | min–max | longest gap, median | min–max | healthy, median | min–max | failed issues per run |",
    "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ...rows,
    "",
  );
}

// ---------------------------------------------------------------------------------------------- lease audit

interface AuditRuns {
  label: string;
  issueS: number;
  audits: { wallS: number; rssKb: number; auditS: number; leases: number; findings: number }[];
  /** Issuance latency in ms, alone and while audits run. */
  alone: number[];
  during: number[];
  /** Findings the audits reported while credentials were issued and revoked (none expected). */
  duringFindings: number;
}

/** Issues `count` credentials at concurrency 4 and returns each one's latency in ms (then revokes them). */
async function issuanceLatencies(env: LocalDeployment, count: number): Promise<number[]> {
  const ms: number[] = [];
  const issued = await pool(count, 4, async (i) => {
    const t0 = performance.now();
    const c = await env.issue(HA_ROLES[i % HA_ROLES.length]);
    ms.push(performance.now() - t0);
    return c;
  });
  await pool(issued.length, CONCURRENCY, (i) => env.revoke(issued[i].leaseId));
  return ms;
}

async function auditOn(toolchain: Toolchain, binary: string, scratch: string): Promise<AuditRuns> {
  const env = await LocalDeployment.start({
    server: toolchain.postgres[0],
    vaultBinary: binary,
    tools: { engine: toolchain.tofu, cliConfig: toolchain.cliConfig },
    // 10,000 users, none logged in; the audit's own sessions are few.
    log: "[bench] leases:",
  });
  try {
    await env.deploy();
    const token = (await env.v("POST", "auth/token/create", { policies: [LEASE_AUDIT_NAMES.auditPolicy], no_default_policy: true, ttl: "2h" })).body
      .auth.client_token;
    const t0 = performance.now();
    let done = 0;
    await pool(AUDIT_LEASES, CONCURRENCY, async (i) => {
      await env.issue(HA_ROLES[i % HA_ROLES.length]);
      if (++done % 2000 === 0) progress(`leases ${env.vault.product}: ${done} of ${AUDIT_LEASES} credentials issued`);
    });
    const issueS = (performance.now() - t0) / 1000;
    await new Promise((r) => setTimeout(r, 11_000)); // past the audit's grace: every lease is paired.
    const auditEnv = { ...process.env, KEYBUZZ_CONFIG_DIR: localPaths(env.dir).configDir, VAULT_TOKEN: token };
    const audit = async () => {
      const out = join(scratch, `audit-${randomBytes(4).toString("hex")}.json`);
      const t = await timed(
        process.execPath,
        ["--import", "tsx", "scripts/leases.ts", "--env", "local", "--format", "json", "--output", out],
        PROJECT_ROOT,
        auditEnv,
        scratch,
        [0, 2],
      );
      const report = JSON.parse(readFileSync(out, "utf8"));
      rmSync(out);
      const leases = report.applications.reduce((n: number, a: { active: number }) => n + a.active, 0);
      for (const f of report.findings) progress(`leases ${env.vault.product}: FINDING ${f.kind} ${f.subject}: ${f.detail}`);
      return { ...t, auditS: report.durationSeconds as number, leases, findings: report.findings.length as number };
    };
    let duringFindings = 0;
    const audits = [];
    for (let i = 0; i < AUDIT_RUNS; i++) {
      audits.push(await audit());
      progress(
        `leases ${env.vault.product}: audit ${i + 1}/${AUDIT_RUNS}: ${audits.at(-1)!.wallS} s, ${audits.at(-1)!.leases} leases, ${audits.at(-1)!.findings} finding(s)`,
      );
    }
    const alone = await issuanceLatencies(env, 400);
    let auditing = true;
    const background = (async () => {
      while (auditing) duringFindings += (await audit()).findings;
    })();
    // awaited below; this only keeps an early failure from ending the process before the servers are stopped.
    background.catch(() => undefined);
    const during = await issuanceLatencies(env, 400);
    auditing = false;
    await background;
    return { label: env.vault.label, issueS, audits, alone, during, duringFindings };
  } finally {
    await env.stop();
  }
}

async function leaseAudit(report: string[], toolchain: Toolchain | undefined, missing: string | undefined): Promise<void> {
  report.push(`## 5. The lease audit at ${AUDIT_LEASES.toLocaleString("en")} active leases`, "");
  if (!toolchain) {
    report.push(`❌ not run: missing ${missing}`, "");
    return;
  }
  const scratch = mkdtempSync(join(tmpdir(), "keybuzz-bench-leases-"));
  const rows: string[] = [];
  const latencyRows: string[] = [];
  try {
    for (const binary of [toolchain.bao, toolchain.vault]) {
      const r = await auditOn(toolchain, binary, scratch);
      const wall = r.audits.map((a) => a.wallS);
      const inAudit = r.audits.map((a) => a.auditS);
      rows.push(
        `| ${r.label} | ${r.audits[0].leases.toLocaleString("en")} | ${median(wall).toFixed(1)} s (${Math.min(...wall).toFixed(1)}–${Math.max(...wall).toFixed(1)}) | ` +
          `${median(inAudit).toFixed(1)} s | ${(Math.max(...r.audits.map((a) => a.rssKb)) / 1024).toFixed(0)} MiB | ${r.audits.map((a) => a.findings).join(", ")} | ${r.issueS.toFixed(0)} s |`,
      );
      const q = (xs: number[]) => `${quantile(xs, 0.5).toFixed(1)} / ${quantile(xs, 0.95).toFixed(1)} / ${Math.max(...xs).toFixed(1)} ms`;
      latencyRows.push(`| ${r.label} | ${q(r.alone)} | ${q(r.during)} | ${r.duringFindings} |`);
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  report.push(
    `Measured ${new Date().toISOString()}. The \`local\` stack deployed by OpenTofu (PostgreSQL ${toolchain.postgres[0].major}, everything on 127.0.0.1), ` +
      `${AUDIT_LEASES.toLocaleString("en")} credentials issued across the four applications (1 h leases, left active), then ` +
      `\`npm run leases -- --env local --format json\` run ${AUDIT_RUNS} times as a child process with a token carrying only \`${LEASE_AUDIT_NAMES.auditPolicy}\`: ` +
      `it runs the probe, lists the leases, looks up each one (${LOOKUP_CONCURRENCY} at a time), logs in with its own credential and reads the catalog, ` +
      "and reads again only when it found something, to confirm it.",
    "",
    "| server | active leases | whole command (wall, median, min–max) | audit itself (its report's duration, median) | peak RSS | findings per run | issuing them took |",
    "| --- | ---: | ---: | ---: | ---: | --- | ---: |",
    ...rows,
    "",
    "Issuance latency (400 credentials at concurrency 4, then revoked), alone and while audits run back to back: p50 / p95 / max.",
    "",
    "| server | alone | during audits | findings of those audits |",
    "| --- | ---: | ---: | ---: |",
    ...latencyRows,
    "",
  );
}

/**
 * The report's sections (`## <n>. …` up to the next one), so that one part run alone (BENCH_ONLY) replaces
 * only its own section of an existing BENCHMARKS.md.
 */
function mergeSections(previous: string, fresh: string[]): string[] {
  const sections = (lines: string[]) => {
    const out = new Map<string, string[]>();
    let key = "";
    for (const line of lines) {
      const m = /^## (\d+)\. /.exec(line);
      if (m) key = m[1];
      if (key && !/^Total bench time/.test(line)) out.set(key, [...(out.get(key) ?? []), line]);
    }
    return out;
  };
  const merged = sections(previous.split("\n"));
  for (const [key, lines] of sections(fresh)) merged.set(key, lines);
  // the earlier run's header (its date and machine), and a line saying which section this run replaced.
  const headOf = (lines: string[]) =>
    lines.slice(
      0,
      lines.findIndex((l) => /^## \d+\. /.test(l)),
    );
  const replaced = [...sections(fresh).keys()].map((k) => `section ${k}`).join(", ");
  const before = headOf(previous.split("\n")).filter((l) => !l.startsWith(`- ${replaced} re-measured alone`));
  const date = headOf(fresh).find((l) => l.startsWith("- date: "));
  const listEnd = before.findIndex((l, i) => i > 0 && l === "" && before[i - 1].startsWith("- "));
  const head = [
    ...before.slice(0, listEnd),
    `- ${replaced} re-measured alone (BENCH_ONLY=${ONLY}) on ${date?.slice("- date: ".length)}`,
    ...before.slice(listEnd),
  ];
  return [...head, ...[...merged.keys()].sort((a, b) => Number(a) - Number(b)).flatMap((k) => merged.get(k)!)];
}

// ---------------------------------------------------------------------------------------------- Raft

async function raftOn(toolchain: Toolchain, binary: string): Promise<{ label: string; runs: RaftChurnResult[] }> {
  const ca = await ThrowawayCa.create();
  const env = await LocalDeployment.start({
    server: toolchain.postgres[0],
    startVault: (parentDir) => RaftCluster.start({ binary, ca, haproxy: toolchain.ha!.haproxy, parentDir, log: (m) => progress(`raft ${m}`) }),
    tools: { engine: toolchain.tofu, cliConfig: toolchain.cliConfig },
    log: "[bench] raft:",
  });
  try {
    await env.deploy();
    const runs: RaftChurnResult[] = [];
    for (let rep = 1; rep <= RAFT_REPEATS; rep++) {
      for (const name of Object.keys(RAFT_EVENTS) as RaftEventName[]) {
        const result = await churnThroughRaft(env, HA_ROLES, name);
        progress(
          `raft ${env.vault.label} ${rep}/${RAFT_REPEATS}: ${result.recovery.event}: issuance back after ${result.recovery.issuanceBackMs} ms`,
        );
        runs.push(result);
      }
    }
    return { label: env.vault.label, runs };
  } finally {
    await env.stop();
    ca.remove();
  }
}

async function raft(report: string[], toolchain: Toolchain | undefined, missing: string | undefined): Promise<void> {
  report.push("## 6. A Vault cluster: step-down and loss of a node", "");
  if (!toolchain?.ha) {
    report.push(`❌ not run: missing ${missing ?? "HAProxy (tools/build.sh ha-topology)"}`, "");
    return;
  }
  const rows: string[] = [];
  const seconds = (xs: number[]) =>
    `${(median(xs) / 1000).toFixed(1)} s | ${(Math.min(...xs) / 1000).toFixed(1)}–${(Math.max(...xs) / 1000).toFixed(1)} s`;
  for (const binary of [toolchain.bao, toolchain.vault]) {
    const { label, runs } = await raftOn(toolchain, binary);
    for (const [name, event] of Object.entries(RAFT_EVENTS)) {
      const of = runs.filter((r) => r.recovery.event.startsWith(event.label));
      const failed = of.map(
        (r) => `${Object.values(r.recovery.failed).reduce((a, b) => a + b, 0)}/${Object.values(r.recovery.made).reduce((a, b) => a + b, 0)}`,
      );
      const known = of.map((r) => (r.lastSecond ? `${r.lastSecond.known}/${r.lastSecond.answered}` : "–"));
      rows.push(
        `| ${label} | ${name === "step-down" ? "`operator step-down`" : event.label} | ${seconds(of.map((r) => r.recovery.issuanceBackMs))} | ` +
          `${seconds(of.map((r) => r.recovery.healthyAfterMs))} | ${failed.join(", ")} | ${known.join(", ")} |`,
      );
    }
  }
  report.push(
    `Measured ${new Date().toISOString()}. Three nodes of each server with Raft storage (\`performance_multiplier = ${RAFT_TIMING.performanceMultiplier}\`), ` +
      "TLS on every listener with a throwaway CA, HAProxy passing TLS through to the node whose `GET /v1/sys/health` answers 200 (the active one) " +
      `(checks every ${RAFT_TIMING.checkInterMs} ms, down after ${RAFT_TIMING.checkFall}), the machine's PostgreSQL ${toolchain.postgres[0].major}; the \`local\` stack deployed through HAProxy (\`harness/raft.ts\`). ` +
      "While two workers loop issue → log in → renew → revoke through HAProxy (100 ms pause), the event happens; a killed node stays down " +
      `${DOWN_MS / 1000} s, then is started and unsealed again; ${RAFT_REPEATS} runs of each event per server, in turn (\`harness/raft-failover.ts\`).`,
    "",
    "- **issuance back**: as in section 4 (the first success after the last failure, or the end of the longest gap).",
    "- **healthy**: until three unsealed voters, one active, and HAProxy routing to it again (for a kill: after the node's restart).",
    "- **failed calls**: failed / made (issue, log in, renew, revoke), per run, from the event until 3 s after healthy.",
    "- **last second known**: before a kill, four callers issue for one second and the kill lands at its end; the leases answered in that second that the cluster holds afterwards / all of them.",
    "",
    "| server | event | issuance back, median | min–max | healthy, median | min–max | failed calls per run | last second known |",
    "| --- | --- | ---: | ---: | ---: | ---: | --- | --- |",
    ...rows,
    "",
  );
}

// ---------------------------------------------------------------------------------------------- main

async function main(): Promise<void> {
  const started = Date.now();
  const cpu = cpus();
  const report: string[] = [
    "# Benchmarks",
    "",
    `- date: ${new Date().toISOString()}`,
    `- CPU: ${cpu[0]?.model.trim() ?? "unknown"}, ${cpu.length} cores`,
    `- memory: ${(totalmem() / 1024 ** 3).toFixed(1)} GiB`,
    `- Node.js ${process.version}, Linux ${release()}`,
    "",
    "Generated by `npm run bench` (scripts/bench.ts). A shared, noisy machine: read the spreads, not only the medians.",
    "",
  ];
  if (ONLY === undefined || ONLY === "synth") {
    const scratch = mkdtempSync(join(tmpdir(), "keybuzz-bench-synth-"));
    try {
      const sizes = await synthAtScale(scratch);
      const cli = await npmVsCdktf(scratch);
      report.push(...synthReport(sizes, cli));
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  }
  if (ONLY === undefined || ["creds", "deploy", "ha", "leases", "raft"].includes(ONLY)) {
    progress("preparing the toolchain (tools/build.sh)");
    const { toolchain, missing } = await prepareToolchain({ ha: ONLY === undefined || ONLY === "ha" || ONLY === "raft" });
    if (ONLY === undefined || ONLY === "creds") await credentials(report, toolchain, missing);
    if (ONLY === undefined || ONLY === "deploy") await deploys(report, toolchain, missing);
    if (ONLY === undefined || ONLY === "ha") await ha(report, toolchain, missing);
    if (ONLY === undefined || ONLY === "leases") await leaseAudit(report, toolchain, missing);
    if (ONLY === undefined || ONLY === "raft") await raft(report, toolchain, missing);
  }
  const file = join(PROJECT_ROOT, "BENCHMARKS.md");
  const lines = ONLY !== undefined && existsSync(file) ? mergeSections(readFileSync(file, "utf8"), report) : report;
  lines.push(`Total bench time${ONLY ? ` (${ONLY} only)` : ""}: ${((Date.now() - started) / 60000).toFixed(1)} min.`, "");
  const text = lines.join("\n");
  process.stdout.write(`${text}\n`);
  writeFileSync(file, text);
  progress(`wrote ${file}`);
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
