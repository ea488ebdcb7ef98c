/**
 * tools/build.sh, where it refuses to build from a source archive: the archive folder missing, and an
 * archive that is not the one the script pins. Both stop before anything is unpacked or built, with an
 * ERROR line that names the archive and says what to do. (Building for real is what the real-server
 * suites' global setup does.)
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ROOT } from "../helpers";

const BUILD = join(ROOT, "tools", "build.sh");
const scratch = mkdtempSync(join(tmpdir(), "keybuzz-build-sh-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Runs build.sh with its own empty tool cache and the given third-party folder. */
function build(tool: string, thirdParty: string) {
  const cache = mkdtempSync(join(scratch, "cache-"));
  const res = spawnSync("bash", [BUILD, tool], {
    env: { PATH: process.env.PATH, HOME: scratch, KEYBUZZ_TOOLS_CACHE: cache, KEYBUZZ_THIRD_PARTY: thirdParty },
    encoding: "utf8",
  });
  const built = existsSync(join(cache, "bin")) ? readdirSync(join(cache, "bin")).flatMap((d) => readdirSync(join(cache, "bin", d))) : [];
  return { ...res, built };
}

describe("tools/build.sh, building from a pinned source archive", () => {
  it("pins a SHA-256 for every archive it builds from", () => {
    const script = readFileSync(BUILD, "utf8");
    const pins = [...script.matchAll(/T_SRC(?:_EXTRA)?_SHA256=([0-9a-f]*)/g)].map((m) => m[1]).filter(Boolean);
    expect(pins).toHaveLength(4);
    for (const pin of pins) expect(pin).toMatch(/^[0-9a-f]{64}$/);
  });

  it("fails when the archive folder is missing, naming the archive and KEYBUZZ_THIRD_PARTY, and builds nothing", () => {
    const missing = join(scratch, "no-such-folder");
    const res = build("provider-postgresql", missing);

    expect(res.status).toBe(1);
    expect(res.stderr).toContain(
      `ERROR: terraform-provider-postgresql v1.26.0 is built from source: ${missing}/terraform-provider-postgresql-1.26.0.tar.gz is missing`,
    );
    expect(res.stderr).toContain("set KEYBUZZ_THIRD_PARTY to the folder that holds terraform-provider-postgresql-1.26.0.tar.gz");
    expect(res.stdout).toBe("");
    expect(res.built).toEqual([]);
  });

  it("fails when the archive is not the pinned one, naming both checksums, and builds nothing", () => {
    const folder = join(scratch, "tampered");
    mkdirSync(folder, { recursive: true });
    writeFileSync(join(folder, "terraform-provider-postgresql-1.26.0.tar.gz"), "not the upstream tag\n");
    const res = build("provider-postgresql", folder);

    expect(res.status).toBe(1);
    expect(res.stderr).toMatch(
      /ERROR: \S+terraform-provider-postgresql-1\.26\.0\.tar\.gz has SHA-256 [0-9a-f]{64}, but tools\/build\.sh pins f994f0fe[0-9a-f]{56}: not the archive this project was checked with; nothing was built/,
    );
    expect(res.built).toEqual([]);
  });
});
