// `npm run review` against a git ref: needs git (the "integration" project, not "unit").
import { describe, expect, it } from "vitest";
import { review } from "./fixtures";

describe("npm run review --base <ref>", () => {
  it("compares the working tree with a git ref", () => {
    const r = review("--base", "HEAD");

    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/synthesized HEAD \([0-9a-f]{12}\) in/);
    expect(r.stderr).toContain("synthesized the working tree in");
  });
});
