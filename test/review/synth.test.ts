import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadStacks } from "../../review/compare";
import { PROJECT_ROOT, synthesize, synthesizeBase } from "../../review/synth";

const tmp = mkdtempSync(join(tmpdir(), "keybuzz-synth-test-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("synth", () => {
  it("synthesizes a project root into the given folder", () => {
    const out = join(tmp, "head");
    synthesize(PROJECT_ROOT, out, "the working tree");

    expect([...loadStacks(out).keys()]).toEqual(["keybuzz-dev", "keybuzz-local", "keybuzz-prod", "keybuzz-staging"]);
  });

  it("takes a folder base as an existing synth output, without copying it", () => {
    const out = join(tmp, "head");
    const base = synthesizeBase(out);

    expect(base.outDir).toBe(out);
    base.cleanup();
    expect(existsSync(out)).toBe(true);
  });

  it("checks out a git ref into a temporary worktree, synthesizes it, and removes the worktree", () => {
    const base = synthesizeBase("HEAD");
    try {
      expect(base.label).toMatch(/^HEAD \([0-9a-f]{12}\)$/);
      expect(loadStacks(base.outDir).size).toBe(4);
    } finally {
      base.cleanup();
    }
    expect(existsSync(base.outDir)).toBe(false);
  });

  it("fails clearly on a base that is neither a folder nor a ref", () => {
    expect(() => synthesizeBase("no-such-ref-or-folder")).toThrow(
      "--base no-such-ref-or-folder: neither a folder nor a git ref of this repository",
    );
    expect(() => synthesizeBase(tmp)).toThrow(`--base ${tmp}: a folder must be a synth output (with stacks/ inside)`);
  });
});
