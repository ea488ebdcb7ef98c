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

  it("refuses a folder that is not a synth output", () => {
    expect(() => synthesizeBase(tmp)).toThrow(`--base ${tmp}: a folder must be a synth output (with stacks/ inside)`);
  });

  it("takes a folder base as an existing synth output, without copying it", () => {
    const out = join(tmp, "head");
    const base = synthesizeBase(out);

    expect(base.outDir).toBe(out);
    base.cleanup();
    expect(existsSync(out)).toBe(true);
  });
});
