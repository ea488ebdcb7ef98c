/**
 * (integration: it asks git for the committed files and npm for the packages.) The operator tools run on an install
 * without development packages: `npm ci --omit=dev` of this project (its files as git lists them, this working
 * tree's content), then `npm run leases -- --help` and `npm run review -- --help`, which load every module they
 * run with (pg, microdiff, tsx and the stack's constructs).
 */
import { execFileSync, spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const ROOT = join(__dirname, "..", "..");

describe("npm ci --omit=dev", () => {
  let dir: string;
  let install: ReturnType<typeof spawnSync>;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "omit-dev-"));
    const files = execFileSync("git", ["ls-files", "-z"], { cwd: ROOT, encoding: "utf8" }).split("\0").filter(Boolean);
    for (const file of files) {
      if (!existsSync(join(ROOT, file))) continue;
      mkdirSync(dirname(join(dir, file)), { recursive: true });
      cpSync(join(ROOT, file), join(dir, file));
    }
    // the packages come from npm's cache when the project's own install put them there.
    install = spawnSync("npm", ["ci", "--omit=dev", "--prefer-offline", "--no-audit", "--no-fund"], { cwd: dir, encoding: "utf8" });
  }, 120_000);

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("installs no development package", () => {
    expect(install.status, String(install.stderr)).toBe(0);
    for (const dev of ["vitest", "typescript", "cdktf-cli", "@biomejs/biome"]) expect(existsSync(join(dir, "node_modules", dev)), dev).toBe(false);
  });

  it.each([
    ["leases", /^usage: npm run leases -- --env <name>/],
    ["review", /^usage: npm run review -- --base <git ref or folder>/],
  ])("runs npm run %s", (tool, usage) => {
    const run = spawnSync("npm", ["run", "--silent", tool, "--", "--help"], { cwd: dir, encoding: "utf8" });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout + run.stderr).toMatch(usage);
  });
});
