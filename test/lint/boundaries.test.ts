/**
 * The import boundaries in biome.json (`noRestrictedImports` in its `overrides`): nothing outside test/ imports
 * from test/, and constructs/ imports nothing from stacks/, review/, leases/, harness/, sandbox/ or scripts/. Runs the
 * project's pinned Biome on a few files laid out like the project in a temporary folder, whose biome.json only
 * extends the project's (Biome resolves `includes` and `overrides` globs from the folder of the configuration it
 * is given, so the project's file, given as is, would select nothing there).
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const ROOT = join(__dirname, "..", "..");
const BIOME = join(ROOT, "node_modules", ".bin", "biome");
const RULE = "lint/style/noRestrictedImports";

const FILES: Record<string, string> = {
  "constructs/names.ts": 'export const NAME = "x";\n',
  "stacks/stack.ts": 'export const STACK = "y";\n',
  "test/helpers.ts": 'export const HELPER = "z";\n',
  // the violations
  "constructs/violation.ts": 'import { STACK } from "../stacks/stack";\n\nexport const V = STACK;\n',
  "sandbox/violation.ts": 'import { HELPER } from "../test/helpers";\n\nexport const V = HELPER;\n',
  "bench/violation.ts": 'import { HELPER } from "../test/helpers";\n\nexport const V = HELPER;\n',
  "figures/violation.ts": 'import { HELPER } from "../test/helpers";\n\nexport const V = HELPER;\n',
  // the controls: imports each folder may make
  "constructs/control.ts": 'import { NAME } from "./names";\n\nexport const C = NAME;\n',
  "sandbox/control.ts": 'import { NAME } from "../constructs/names";\nimport { STACK } from "../stacks/stack";\n\nexport const C = [NAME, STACK];\n',
  "bench/control.ts": 'import { NAME } from "../constructs/names";\nimport { STACK } from "../stacks/stack";\n\nexport const C = [NAME, STACK];\n',
  "test/control.ts": 'import { STACK } from "../stacks/stack";\nimport { HELPER } from "./helpers";\n\nexport const C = [STACK, HELPER];\n',
};

interface Diagnostic {
  category: string;
  message: string;
  location: { path: string; start: { line: number } };
}

describe("biome.json's import boundaries", () => {
  let dir: string;
  let result: { status: number | null; summary: Record<string, number>; diagnostics: Diagnostic[]; stderr: string };

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "biome-boundaries-"));
    writeFileSync(join(dir, "biome.json"), JSON.stringify({ extends: [join(ROOT, "biome.json")] }));
    for (const [path, text] of Object.entries(FILES)) {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), text);
    }
    const r = spawnSync(BIOME, ["lint", `--config-path=${join(dir, "biome.json")}`, "--reporter=json", "--max-diagnostics=none", "."], {
      cwd: dir,
      encoding: "utf8",
    });
    const report = JSON.parse(r.stdout) as { summary: Record<string, number>; diagnostics: Diagnostic[] };
    result = { status: r.status, summary: report.summary, diagnostics: report.diagnostics, stderr: r.stderr };
  });

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("lints every file it was given", () => {
    expect(result.summary.unchanged + result.summary.changed, result.stderr).toBeGreaterThanOrEqual(Object.keys(FILES).length);
  });

  it("reports the violations, each naming its file and the rule, and nothing else", () => {
    const found = result.diagnostics.map((d) => `${d.location.path}:${d.location.start.line} ${d.category}`).sort();
    expect(found, result.stderr).toEqual([
      `bench/violation.ts:1 ${RULE}`,
      `constructs/violation.ts:1 ${RULE}`,
      `figures/violation.ts:1 ${RULE}`,
      `sandbox/violation.ts:1 ${RULE}`,
    ]);
    expect(result.status).toBe(1);
  });

  it("says which boundary each import crosses", () => {
    const message = (path: string) => result.diagnostics.find((d) => d.location.path === path)?.message;
    expect(message("constructs/violation.ts")).toMatch(/constructs\/ must not import from stacks\//);
    expect(message("sandbox/violation.ts")).toMatch(/Only files in test\/ may import from test\//);
    expect(message("bench/violation.ts")).toMatch(/Only files in test\/ may import from test\//);
    expect(message("figures/violation.ts")).toMatch(/Only files in test\/ may import from test\//);
  });

  it("leaves the controls clean", () => {
    const paths = result.diagnostics.map((d) => d.location.path);
    for (const control of ["constructs/control.ts", "sandbox/control.ts", "bench/control.ts", "test/control.ts"])
      expect(paths).not.toContain(control);
  });
});
