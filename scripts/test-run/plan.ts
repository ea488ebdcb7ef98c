/**
 * What `npm test` will build and roughly how long it will take, and the order its files start in.
 *
 * - `node --import tsx scripts/test-run/plan.ts` prints the first line of `npm test` (package.json): the estimate and the
 *   tools it will build.
 * - The sequencer (sequencer.ts) hands the files to vitest's workers in {@link planRun}'s order: the files
 *   whose tools are ready first (every file but the real-server suites, then those suites by the stage of tools
 *   they wait for, stages.ts), and among those the longest first, so that the suites that mostly wait
 *   (the irrevocable one: 5 to 16 minutes of servers giving up, at random) start at once and the short ones fill in around them.
 *
 * Both come from two inputs: each file's wall time as the last full run with the tools cached measured it
 * (docs/test-times.json, written by `npm run figures` from what timing-reporter.ts recorded), and which tools
 * tools/build.sh would have to build (`--dry-run`), with their cold-build times as measured on a bare machine of
 * the project's kind (COLD_BUILD_S). An estimate, not a promise: a busy machine is slower.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { cachedTools } from "../../harness/toolchain";
import type { TestTimes } from "./times";
import { STAGES, stagesOf } from "./stages";

export const ROOT = resolve(__dirname, "..", "..");
/** The generated file of measured per-file times (see scripts/figures.ts). */
export const TIMES_FILE = join(ROOT, "docs", "test-times.json");

/**
 * How many test files run at once, in every project (vitest.config.ts): the real-server suites spend most of
 * their time waiting on servers, timeouts and TTLs, so five fit on two cores. Five rather than four because the
 * irrevocable suite holds one worker for 5 to 16 minutes doing nothing but wait for the servers to give up (a
 * cached run: 19.7 min at four, 17.9 min at five, 2026-12-07).
 */
export const WORKERS = 5;

/**
 * Seconds a cold build of each tool took in a bare-machine `npm test` (2 cores, empty tool, Go build and Go
 * module caches; 2026-12-08, the whole `npm test` 27.9 min), in the global setup's order: tools built later reuse packages an earlier build
 * compiled into the shared Go build cache (kube-apiserver after vault-k8s: 5 min instead of 13.5). ha-topology,
 * etcd and promtool were installed already there: tools/README.md's times. Tools missing from the cache add this.
 */
export const COLD_BUILD_S: Readonly<Record<string, number>> = {
  tofu: 277,
  "provider-vault": 65,
  "provider-postgresql": 27,
  bao: 192,
  "postgres-17": 40,
  "node-24": 5,
  cdktn: 16,
  vault: 463,
  "ha-topology": 140,
  etcd: 30,
  "vault-k8s": 153,
  "kube-apiserver": 254,
  kubectl: 16,
  actionlint: 55,
  promtool: 15,
  // measured here, each alone (apt-get download and dpkg-deb; alertmanager an apt-get install).
  prometheus: 10,
  alertmanager: 15,
  mtail: 5,
  "node-exporter": 5,
  "postgres-exporter": 5,
};

/** The integration files that build a tool themselves (tools/build.sh, beside the global setup's builds). */
const BUILT_BY_FILE: Readonly<Record<string, string>> = {
  "test/github/workflows.integration.test.ts": "actionlint",
  "test/leases/alert-rules.integration.test.ts": "promtool",
};

/** Type checking and lint, before vitest starts (measured: about 45 s on two cores). */
const CHECKS_MS = 45_000;
/** A file without a measured time: a real-server suite, or any other. */
const UNKNOWN_E2E_MS = 120_000;
const UNKNOWN_MS = 3_000;

/** docs/test-times.json, or none (a new checkout without it, or a file that does not parse). */
export function readTimes(file = TIMES_FILE): TestTimes | undefined {
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, "utf8")) as TestTimes;
  } catch {
    return undefined;
  }
}

/** A test file as the plan sees it. */
export interface PlannedFile {
  /** Relative to the project root, with `/`. */
  readonly file: string;
  /** How long it runs once its tools are there. */
  readonly ms: number;
  /** How long after vitest starts its tools are there (0 when cached). */
  readonly readyAtMs: number;
}

/** What a run will do. */
export interface RunPlan {
  /** The files in the order they start. */
  readonly files: readonly PlannedFile[];
  /** The tools it will build, in build order. */
  readonly building: readonly string[];
  /** The whole `npm test`, roughly: checks, then the files on WORKERS workers. */
  readonly estimateMs: number;
}

const isE2e = (file: string) => file.startsWith("test/e2e/");
const e2eName = (file: string) => file.slice("test/e2e/".length);

/** Every tool the run may need: the e2e stages' and the integration files' own. */
export function allTools(): string[] {
  return [...STAGES.flatMap((s) => s.tools), ...Object.values(BUILT_BY_FILE)];
}

/** Order: ready first, then longest first, then by name (so that equal plans give equal orders). */
export function startOrder(a: PlannedFile, b: PlannedFile): number {
  return a.readyAtMs - b.readyAtMs || b.ms - a.ms || a.file.localeCompare(b.file);
}

/** When the last file ends if `files` start in this order on `workers` workers (greedy: the first free worker). */
export function simulate(files: readonly PlannedFile[], workers: number): number {
  const free = Array.from({ length: workers }, () => 0);
  for (const f of files) {
    const w = free.indexOf(Math.min(...free));
    free[w] = Math.max(free[w], f.readyAtMs) + f.ms;
  }
  return Math.max(0, ...free);
}

/**
 * The plan for `files` (relative to the project root): with `missing` the tools not yet cached (the global setup
 * builds the e2e stages one after another, in STAGES's order; an integration file builds its own beside them).
 */
export function planRun(files: readonly string[], missing: readonly string[], times = readTimes()): RunPlan {
  const cold = (tools: readonly string[]) => tools.filter((t) => missing.includes(t)).reduce((s, t) => s + (COLD_BUILD_S[t] ?? 300) * 1000, 0);
  // when each stage is ready: the global setup builds them in order, from vitest's start.
  const readyAt = new Map<string, number>();
  let at = 0;
  for (const stage of STAGES) {
    at += cold(stage.tools);
    readyAt.set(stage.name, at);
  }
  const planned = files.map((file): PlannedFile => {
    const measured = times?.files[file];
    let ms = measured ?? (isE2e(file) ? UNKNOWN_E2E_MS : UNKNOWN_MS);
    let ready = 0;
    if (isE2e(file)) {
      ready = Math.max(...stagesOf(e2eName(file)).map((s) => readyAt.get(s) ?? 0));
    } else if (BUILT_BY_FILE[file]) {
      ms += cold([BUILT_BY_FILE[file]]);
    }
    return { file, ms, readyAtMs: ready };
  });
  planned.sort(startOrder);
  const building = allTools().filter((t, i, all) => missing.includes(t) && all.indexOf(t) === i);
  return { files: planned, building, estimateMs: CHECKS_MS + simulate(planned, WORKERS) };
}

/** Every test file under test/, relative to the project root. */
export function testFiles(root = ROOT): string[] {
  return (readdirSync(join(root, "test"), { recursive: true, encoding: "utf8" }) as string[])
    .filter((f) => f.endsWith(".test.ts") && !f.split(/[\\/]/).includes("node_modules"))
    .map((f) =>
      relative(root, join(root, "test", f))
        .split("\\")
        .join("/"),
    )
    .sort();
}

const minutes = (ms: number) => `${Math.max(1, Math.round(ms / 60_000))} min`;

/** The first line of `npm test`. */
export function planLine(plan: RunPlan, times: TestTimes | undefined): string {
  const longest = plan.files.reduce((a, b) => (b.ms > a.ms ? b : a), plan.files[0]);
  const files = `${plan.files.length} files, ${WORKERS} at a time (the longest, ${longest?.file}, about ${minutes(longest?.ms ?? 0)})`;
  const basis = times ? `per-file times of ${times.measuredAt.slice(0, 10)}` : "no measured times yet (docs/test-times.json)";
  const coldMs = plan.building.reduce((s, t) => s + (COLD_BUILD_S[t] ?? 300) * 1000, 0);
  const building = plan.building.length
    ? `building ${plan.building.join(", ")} (not in the tool cache: about ${minutes(coldMs)} of builds, while the suites that need none run)`
    : "every tool cached, nothing to build";
  return `[npm test] about ${minutes(plan.estimateMs)}: ${building}; ${files}; from ${basis}`;
}

if (require.main === module) {
  const times = readTimes();
  const plan = planRun(testFiles(), cachedTools(allTools()).missing, times);
  process.stdout.write(`${planLine(plan, times)}\n`);
}
