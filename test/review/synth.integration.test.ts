// review/synth.ts with a git ref as the base: needs git (the "integration" project, not "unit").
import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { loadStacks } from "../../review/compare";
import { synthesizeBase } from "../../review/synth";

describe("synth of a git ref", () => {
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
    expect(() => synthesizeBase("no-such-ref-or-folder")).toThrow("--base no-such-ref-or-folder: neither a folder nor a git ref of this repository");
  });
});
