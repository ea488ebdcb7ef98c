/**
 * Section 1, synth at scale: the committed config/*.json with applications `app<i>` appended so that the
 * environments together hold the committed total, 100 and 1,000 applications; the app in cdktf.json
 * (`node scripts/app.mjs`) run N times per size under /usr/bin/time (wall seconds, peak RSS); then the app,
 * `npm run synth` and `node --import tsx main.ts` against `npx cdktf synth` on the committed config.
 * Needs no server.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { APP, PROJECT_ROOT, type TfJson } from "../harness/stack";
import { progress, type Timed, timed } from "./measure";

/** One size of the synth at scale: its runs after the warm-up, and the size of the stacks it wrote. */
export interface SynthSize {
  readonly perEnv: number;
  readonly total: number;
  /** How many environments the applications are split across. */
  readonly envs: number;
  readonly runs: readonly Timed[];
  /** Each stack's cdk.tf.json, in KB, of the last run. */
  readonly stackKb: readonly number[];
}

/** The ways to synthesize the committed config, compared in the same run. */
export const SYNTH_COMMANDS = [
  { key: "app", label: "`node scripts/app.mjs` (the app in cdktf.json)", command: process.execPath, args: [APP] },
  { key: "npm", label: "`npm run synth` (the same, with npm's start-up)", command: "npm", args: ["run", "--silent", "synth"] },
  { key: "tsx", label: "`node --import tsx main.ts` (the app before the bundle)", command: process.execPath, args: ["--import", "tsx", "main.ts"] },
  { key: "cdktf", label: "`npx cdktf synth`", command: "npx", args: ["--no-install", "cdktf", "synth", "--output"] },
] as const;

/** A key of {@link SYNTH_COMMANDS}. */
export type SynthCommandKey = (typeof SYNTH_COMMANDS)[number]["key"];

/** One synth command's label (as the report shows it) and its runs after the warm-up. */
export interface SynthCommandRuns {
  readonly key: SynthCommandKey;
  readonly label: string;
  readonly runs: readonly Timed[];
}

/** What section 1 measured. */
export interface SynthResult {
  /** Measured runs per size and per command (after one warm-up each). */
  readonly runsEach: number;
  /** The committed size first, then 25 and 250 applications per environment. */
  readonly sizes: readonly SynthSize[];
  /** The commands of {@link SYNTH_COMMANDS}, in that order. */
  readonly commands: readonly SynthCommandRuns[];
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

async function synthAtScale(scratch: string, runsEach: number): Promise<SynthSize[]> {
  const committedPerEnv = Math.max(...[...committedConfigs().values()].map((c) => (c.applications as unknown[]).length));
  const perEnvSizes = [committedPerEnv, 25, 250];
  const envs = committedConfigs().size;
  const sizes: SynthSize[] = [];
  for (const perEnv of perEnvSizes) {
    const { dir, total } = scaledConfigDir(scratch, perEnv);
    const runs: Timed[] = [];
    let stackKb: number[] = [];
    // one unmeasured warm-up run (the app's bundle and code cache, the page cache).
    for (let i = 0; i <= runsEach; i++) {
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
      progress(`synth ${total} applications: run ${i}/${runsEach} ${t.wallS.toFixed(2)} s, ${(t.rssKb / 1024).toFixed(0)} MB`);
    }
    sizes.push({ perEnv, total, envs, runs, stackKb });
  }
  return sizes;
}

async function npmVsCdktf(scratch: string, runsEach: number): Promise<SynthCommandRuns[]> {
  const env: NodeJS.ProcessEnv = { ...process.env, CHECKPOINT_DISABLE: "1" };
  delete env.KEYBUZZ_CONFIG_DIR;
  delete env.KEYBUZZ_ENVIRONMENTS;
  const times: Record<SynthCommandKey, Timed[]> = { app: [], npm: [], tsx: [], cdktf: [] };
  // alternated, so that drift of a noisy machine hits all alike; outputs in temp folders, not cdktf.out/.
  // Run 0 is a warm-up (the bundle, its code cache and tsx's cache are built once, as on a developer's machine).
  for (let i = 0; i <= runsEach; i++) {
    for (const c of SYNTH_COMMANDS) {
      const out = join(scratch, `${c.key}-${i}`);
      const args = c.key === "cdktf" ? [...c.args, out] : [...c.args];
      const t = await timed(c.command, args, PROJECT_ROOT, { ...env, CDKTF_OUTDIR: out }, scratch);
      if (stackSizesKb(out).length === 0) throw new Error(`${c.label} wrote no stack`);
      rmSync(out, { recursive: true, force: true });
      if (i > 0) times[c.key].push(t);
    }
    const last = (key: SynthCommandKey) => (i > 0 ? `${times[key][i - 1].wallS.toFixed(2)} s` : "warm-up");
    progress(`synth commands: run ${i}/${runsEach}: app ${last("app")}, npm ${last("npm")}, tsx ${last("tsx")}, cdktf ${last("cdktf")}`);
  }
  return SYNTH_COMMANDS.map((c) => ({ key: c.key, label: c.label, runs: times[c.key] }));
}

/** Measures section 1, `runsEach` runs per size and per command after one warm-up, in a temp folder it removes. */
export async function measureSynth(runsEach: number): Promise<SynthResult> {
  const scratch = mkdtempSync(join(tmpdir(), "keybuzz-bench-synth-"));
  try {
    const sizes = await synthAtScale(scratch, runsEach);
    const commands = await npmVsCdktf(scratch, runsEach);
    return { runsEach, sizes, commands };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}
