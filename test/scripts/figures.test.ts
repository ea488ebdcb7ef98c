/**
 * scripts/figures.ts, the entry point of `npm run figures`: its exit status and messages. What it writes is
 * tested with the modules that write it (test/figures/).
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { project, removeProjects } from "../figures/fixture";
import { ROOT } from "../helpers";

afterAll(removeProjects);

describe("npm run figures (scripts/figures.ts)", () => {
  it("without test-results/vitest.json: a clear error, exit 1, nothing written", () => {
    const { results, output } = project();
    const cli = spawnSync(process.execPath, ["--import", "tsx", join(ROOT, "scripts", "figures.ts")], {
      cwd: ROOT,
      env: { ...process.env, KEYBUZZ_TEST_RESULTS: results, KEYBUZZ_RELIABILITY_OUT: output },
      encoding: "utf8",
    });
    expect(cli.status).toBe(1);
    expect(cli.stderr).toContain(`[figures] ${join(results, "vitest.json")} is missing: run the tests first`);
    expect(existsSync(output)).toBe(false);
  });
});
