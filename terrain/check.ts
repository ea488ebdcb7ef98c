/**
 * The move to CDK Terrain, carried out on a copy of this app and checked: the app's files (APP_FILES) copied into
 * a folder with terrain/migrate.ts's changes applied, CDK Terrain's packages linked in (tools/build.sh cdktn),
 * `cdktn get` generating the provider bindings offline (through OpenTofu and the providers' filesystem mirror that
 * tools/build.sh builds, at the versions the prebuilt packages pin), the moved app type-checked, synthesized with
 * `cdktn synth`, and its output compared with what today's app writes. `npm run terrain` (scripts/terrain.ts)
 * and test/e2e/terrain.test.ts, which also plans the moved app against a stack deployed with today's toolchain.
 */
import { cpSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { isDeepStrictEqual } from "node:util";
import { run, runOk, type RunResult } from "../harness/processes";
import { APP, PROJECT_ROOT } from "../harness/stack";
import { PROVIDER_PACKAGES, providerPin, renameImports, terrainCdktfJson, type ProviderPin } from "./migrate";

/** The files of the app that the move touches or carries over: everything main.ts runs, and how cdktf runs it. */
export const APP_FILES = ["main.ts", "constructs", "stacks", "config", "scripts/app.mjs", "cdktf.json", "tsconfig.json"] as const;

/** What the check runs CDK Terrain with. */
export interface TerrainTools {
  /** A Node.js CDK Terrain supports (22.19 or later): tools/build.sh node-24's. */
  readonly node: string;
  /** The folder whose node_modules/ holds CDK Terrain and the app's other packages (tools/build.sh cdktn). */
  readonly cdktn: string;
  /** The Terraform engine `cdktn get` reads the providers' schemas with (`tofu`). */
  readonly engine: string;
  /** Its CLI config: the providers' filesystem mirror (tools/build.sh), so that no registry is asked. */
  readonly cliConfig?: string;
}

/** The providers the app's prebuilt packages were generated for (their package.json, under `root`'s node_modules). */
export function providerPins(root: string): ProviderPin[] {
  return PROVIDER_PACKAGES.map((name) =>
    providerPin(name, JSON.parse(readFileSync(join(root, "node_modules", `@cdktf/provider-${name}`, "package.json"), "utf8"))),
  );
}

function filesUnder(dir: string, from = ""): string[] {
  return readdirSync(join(dir, from)).flatMap((name) => {
    const path = join(from, name);
    return statSync(join(dir, path)).isDirectory() ? filesUnder(dir, path) : [path];
  });
}

/**
 * Writes the moved app into `dir` (an empty folder): APP_FILES of `root` with every TypeScript file's imports
 * renamed, cdktf.json with the providers and engines to target, tsconfig.json checking what main.ts imports, and
 * node_modules linked to CDK Terrain's. Returns the files whose imports changed. Throws naming the file when an
 * import cannot be renamed (terrain/migrate.ts), before anything is generated.
 */
export function writeTerrainApp(root: string, dir: string, cdktn: string): string[] {
  const changed: string[] = [];
  for (const entry of APP_FILES) cpSync(join(root, entry), join(dir, entry), { recursive: true });
  for (const file of filesUnder(dir).filter((f) => f.endsWith(".ts"))) {
    const source = readFileSync(join(dir, file), "utf8");
    const renamed = renameImports(source, file);
    if (renamed !== source) {
      writeFileSync(join(dir, file), renamed);
      changed.push(file);
    }
  }
  const cdktfJson = JSON.parse(readFileSync(join(root, "cdktf.json"), "utf8"));
  writeFileSync(join(dir, "cdktf.json"), `${JSON.stringify(terrainCdktfJson(cdktfJson, providerPins(root)), null, 2)}\n`);
  // the project's compiler options, for main.ts and what it imports (the generated bindings it uses, not all of them).
  const tsconfig = JSON.parse(readFileSync(join(root, "tsconfig.json"), "utf8"));
  writeFileSync(join(dir, "tsconfig.json"), `${JSON.stringify({ compilerOptions: tsconfig.compilerOptions, files: ["main.ts"] }, null, 2)}\n`);
  symlinkSync(join(cdktn, "node_modules"), join(dir, "node_modules"));
  return changed.sort();
}

/**
 * The environment CDK Terrain runs with in `dir`: the engine and mirror, no telemetry, `extra` added (credentials,
 * KEYBUZZ_CONFIG_DIR…), and its Node.js first on PATH, so that the app it starts runs on it too.
 */
export function terrainEnv(dir: string, tools: TerrainTools, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    HOME: dir,
    ...(tools.cliConfig ? { TF_CLI_CONFIG_FILE: tools.cliConfig } : {}),
    TERRAFORM_BINARY_NAME: tools.engine,
    CHECKPOINT_DISABLE: "1",
    CI: "1",
    FORCE_COLOR: "0",
    ...extra,
    PATH: `${dirname(tools.node)}:${extra.PATH ?? process.env.PATH}`,
  };
}

/** Runs `cdktn <args>` in the moved app's folder; never throws. `output` is stdout and stderr together. */
export async function cdktn(
  dir: string,
  tools: TerrainTools,
  args: readonly string[],
  extraEnv: NodeJS.ProcessEnv = {},
): Promise<RunResult & { output: string }> {
  const cli = join(tools.cdktn, "node_modules", "cdktn-cli", "bin", "cdktn");
  const result = await run(tools.node, [cli, ...args], { cwd: dir, env: terrainEnv(dir, tools, extraEnv) });
  return { ...result, output: `${result.stdout}\n${result.stderr}` };
}

/**
 * Generates the provider bindings into `<dir>/.gen` with `cdktn get`, then type-checks the moved app with the
 * project's TypeScript (`root`'s): the rename compiles against CDK Terrain's types and the generated classes.
 */
export async function generateAndTypecheck(root: string, dir: string, tools: TerrainTools): Promise<void> {
  const get = await cdktn(dir, tools, ["get"]);
  if (get.code !== 0) throw new Error(`cdktn get exited ${get.code}:\n${get.output}`);
  await runOk(tools.node, [join(root, "node_modules", "typescript", "bin", "tsc"), "--noEmit", "-p", dir], { cwd: dir });
}

/**
 * Every environment of this project's config/, synthesized by today's app (`node scripts/app.mjs`) into `<scratch>/cdktf.out`
 * and by `cdktn synth` of the moved app in `dir` into `<scratch>/cdktn.out`, compared. Throws when cdktn synth fails;
 * `stderr` is what cdktn synth printed there (nothing, when all is well).
 */
export async function compareWithToday(
  dir: string,
  tools: TerrainTools,
  scratch: string,
): Promise<{ differences: OutputDifference[]; stacks: string[]; stderr: string }> {
  const today = join(scratch, "cdktf.out");
  const moved = join(scratch, "cdktn.out");
  await runOk(process.execPath, [APP], { cwd: PROJECT_ROOT, env: { ...process.env, CDKTF_OUTDIR: today } });
  const synth = await cdktn(dir, tools, ["synth", "--output", moved]);
  if (synth.code !== 0) throw new Error(`cdktn synth exited ${synth.code}:\n${synth.output}`);
  return { differences: compareOutputs(today, moved), stacks: stacksIn(moved), stderr: synth.stderr };
}

/** One way in which the two outputs differ: a file only one has, or a file whose content differs (and where). */
export interface OutputDifference {
  readonly file: string;
  readonly what: string;
}

/**
 * What Terraform, cdktf and cdktn leave in a stack's folder once it was planned or applied: providers, their lock
 * file, state and the saved plan (`diff` writes `plan`).
 */
const RUN_ARTIFACTS = /^stacks\/[^/]+\/(\.terraform\/|\.terraform\.lock\.hcl$|terraform\..*\.tfstate|plan$)/;

/** The first path at which two parsed JSON values differ, or undefined when they are equal. */
function firstDifference(a: unknown, b: unknown, path = ""): string | undefined {
  if (isDeepStrictEqual(a, b)) return undefined;
  if (a && b && typeof a === "object" && typeof b === "object" && Array.isArray(a) === Array.isArray(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    for (const key of keys) {
      const at = firstDifference((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key], `${path}/${key}`);
      if (at) return at;
    }
  }
  return `${path || "/"}: ${JSON.stringify(a)?.slice(0, 200)} vs ${JSON.stringify(b)?.slice(0, 200)}`;
}

/** A synthesized file as compared: cdk.tf.json without its top-level `//` block, manifest.json without the library's version. */
function comparable(file: string, text: string): unknown {
  if (file.endsWith("cdk.tf.json")) {
    const { "//": _metadata, ...rest } = JSON.parse(text);
    return rest;
  }
  if (file === "manifest.json") {
    const { version: _version, ...rest } = JSON.parse(text);
    return rest;
  }
  return text;
}

/**
 * Compares two synthesized output folders (today's cdktf.out and CDK Terrain's): the same files, every stack's
 * cdk.tf.json equal as parsed JSON but for its `//` block (which names the library's version), manifest.json but for
 * its `version`, every other file (the agent files) byte for byte. Terraform's own files in a stack's folder are
 * left out. Empty when they are the same.
 */
export function compareOutputs(today: string, terrain: string): OutputDifference[] {
  const list = (dir: string) => new Set(filesUnder(dir).filter((f) => !RUN_ARTIFACTS.test(f)));
  const a = list(today);
  const b = list(terrain);
  const differences: OutputDifference[] = [];
  for (const file of [...new Set([...a, ...b])].sort()) {
    if (!b.has(file)) differences.push({ file, what: `only in ${today}` });
    else if (!a.has(file)) differences.push({ file, what: `only in ${terrain}` });
    else {
      const at = firstDifference(
        comparable(file, readFileSync(join(today, file), "utf8")),
        comparable(file, readFileSync(join(terrain, file), "utf8")),
      );
      if (at) differences.push({ file, what: at });
    }
  }
  return differences;
}

/** How many stacks an output folder holds (its `stacks/` subfolders). */
export function stacksIn(outDir: string): string[] {
  const stacks = join(outDir, "stacks");
  return readdirSync(stacks)
    .filter((name) => statSync(join(stacks, name)).isDirectory())
    .sort();
}
