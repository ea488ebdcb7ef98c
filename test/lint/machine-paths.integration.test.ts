/**
 * (integration: it asks git for the committed files.) No committed file names a folder of the machine it was written on: the checkout's own absolute path (where a
 * pasted transcript would put it) or the home folder's tool cache. Examples in the documentation say `~/…` or
 * `$HOME/…` instead, so that they read the same on every machine.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = join(__dirname, "..", "..");

describe("committed files", () => {
  const files = execFileSync("git", ["ls-files", "-z"], { cwd: ROOT, encoding: "utf8" }).split("\0").filter(Boolean);
  // where this checkout is, and where tools/build.sh caches its tools on this machine.
  const machinePaths = [ROOT, join(homedir(), ".cache", "keybuzz-vault-cdktf")];

  it("are listed by git (the check reads them all)", () => {
    expect(files.length).toBeGreaterThan(100);
  });

  it.each(machinePaths)("never contain %s", (path) => {
    const found = files.filter((file) => {
      try {
        return readFileSync(join(ROOT, file), "utf8").includes(path);
      } catch {
        return false; // a file git lists but this checkout lacks (deleted, not yet committed)
      }
    });
    expect(found).toEqual([]);
  });
});
