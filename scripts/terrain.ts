/**
 * `npm run terrain [-- --keep <dir>]`: moves a copy of this app to CDK Terrain and checks that it synthesizes what
 * today's app does, for every environment (terrain/check.ts; docs/cdk-terrain.md). Builds or finds its tools
 * first (tools/build.sh: OpenTofu and both providers, Node.js 24 and CDK Terrain's packages). Exit 0 when every
 * stack and agent file is the same, 1 with the differences otherwise. `--keep <dir>` writes the moved app
 * into `<dir>` (which must not exist) and leaves it there, to read or to start the move from.
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { PROJECT_ROOT } from "../harness/stack";
import { buildTools } from "../harness/toolchain";
import { compareWithToday, generateAndTypecheck, writeTerrainApp } from "../terrain/check";

const log = (line: string) => process.stderr.write(`[terrain] ${line}\n`);

function parseArgs(argv: readonly string[]): { keep?: string } {
  if (argv.length === 0) return {};
  if (argv[0] === "--keep" && argv.length === 2) return { keep: resolve(argv[1]) };
  throw new Error(`usage: npm run terrain [-- --keep <dir>] (got: ${argv.join(" ")})`);
}

async function main(): Promise<number> {
  const { keep } = parseArgs(process.argv.slice(2));
  if (keep && existsSync(keep)) throw new Error(`--keep ${keep}: it exists already; give a folder that does not`);
  log("tools: OpenTofu, both providers (their mirror), Node.js 24, CDK Terrain (tools/build.sh; cached after the first run)");
  const manifest = await buildTools(["tofu", "provider-vault", "provider-postgresql", "cdktn"]);
  if (!manifest.tofu || !manifest.node24 || !manifest.cdktn)
    throw new Error(`tools/build.sh gave an incomplete manifest: ${JSON.stringify(manifest)}`);
  const tools = { node: manifest.node24, cdktn: manifest.cdktn, engine: manifest.tofu, cliConfig: manifest.cliConfig };
  const scratch = mkdtempSync(join(tmpdir(), "keybuzz-terrain-"));
  const app = keep ?? join(scratch, "app");
  try {
    const changed = writeTerrainApp(PROJECT_ROOT, app, tools.cdktn);
    log(`moved a copy of the app into ${app}: imports renamed in ${changed.length} files, cdktf.json with terraformProviders and targetVersions`);
    log("cdktn get (the providers' schemas through OpenTofu and the mirror, offline), then tsc --noEmit");
    await generateAndTypecheck(PROJECT_ROOT, app, tools);
    log("synthesizing every environment with today's app and with cdktn synth");
    const { differences, stacks } = await compareWithToday(app, tools, scratch);
    for (const d of differences) log(`DIFFERENT ${d.file}: ${d.what}`);
    if (differences.length) {
      log(`${differences.length} difference(s) between today's output and CDK Terrain's (${stacks.length} stacks)`);
      return 1;
    }
    log(
      `the same ${stacks.length} stacks (${stacks.join(", ")}) as today's app: cdk.tf.json equal but for its "//" block, agent files byte for byte`,
    );
    if (keep) log(`the moved app stays in ${keep} (its node_modules links to ${tools.cdktn})`);
    return 0;
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    log(err.message);
    process.exit(1);
  },
);
