import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { join } from "node:path";
import { run } from "../../harness/processes";
import { quietCdktfDeprecations } from "../../stacks/cdktf-warnings";

describe("quietCdktfDeprecations", () => {
  let restore: (() => void) | undefined;
  let seen: string[];
  let emit: typeof process.emitWarning;
  // what reaches Node's own emitWarning is recorded instead of printed: the filter wraps this recorder.
  beforeEach(() => {
    seen = [];
    emit = process.emitWarning;
    process.emitWarning = ((warning: string, typeOrOptions?: string | { type?: string; code?: string }, code?: string) => {
      const c = typeof typeOrOptions === "object" ? typeOrOptions.code : code;
      seen.push(`${c ?? typeOrOptions ?? "Warning"}: ${warning}`);
    }) as typeof process.emitWarning;
  });
  afterEach(() => {
    restore?.();
    restore = undefined;
    process.emitWarning = emit;
  });

  /** Emits DEP0044 from a function of cdktf's name, as TerraformOutput does on Node.js 22 and later. */
  function isITerraformAddressable(): void {
    process.emitWarning("The `util.isArray` API is deprecated.", "DeprecationWarning", "DEP0044");
  }

  it("drops DEP0044 when cdktf's isITerraformAddressable raises it", () => {
    restore = quietCdktfDeprecations();
    isITerraformAddressable();
    expect(seen).toEqual([]);
  });

  it("prints DEP0044 raised by any other code, in either form of emitWarning", () => {
    restore = quietCdktfDeprecations();
    process.emitWarning("elsewhere", "DeprecationWarning", "DEP0044");
    process.emitWarning("elsewhere too", { type: "DeprecationWarning", code: "DEP0044" });
    expect(seen).toEqual(["DEP0044: elsewhere", "DEP0044: elsewhere too"]);
  });

  it("prints every other warning, from cdktf's function too", () => {
    restore = quietCdktfDeprecations();
    (function isITerraformAddressable() {
      process.emitWarning("another deprecation", "DeprecationWarning", "DEP0005");
    })();
    process.emitWarning("a plain warning");
    expect(seen).toEqual(["DEP0005: another deprecation", "Warning: a plain warning"]);
  });

  it("is undone by the function it returns", () => {
    quietCdktfDeprecations()();
    isITerraformAddressable();
    expect(seen).toEqual(["DEP0044: The `util.isArray` API is deprecated."]);
  });

  it("leaves a synth with an output quiet on Node.js 22 and later, where cdktf raises DEP0044", async () => {
    // a process of its own: Node.js prints a deprecation once per process.
    const synth = (quiet: boolean) =>
      run(process.execPath, ["--import", "tsx", "-e", SYNTH_WITH_OUTPUT(quiet)], { cwd: ROOT, env: { ...process.env, NODE_OPTIONS: "" } });
    const [loud, quiet] = await Promise.all([synth(false), synth(true)]);
    expect(loud.code, loud.stderr).toBe(0);
    if (Number(process.versions.node.split(".")[0]) >= 22) expect(loud.stderr).toMatch(/\[DEP0044\] DeprecationWarning: The `util\.isArray` API/);
    expect(quiet.code, quiet.stderr).toBe(0);
    expect(quiet.stderr).toBe("");
  });
});

const ROOT = join(__dirname, "..", "..");
/** A script that synthesizes a stack with one output (into a temp folder), with or without the filter. */
const SYNTH_WITH_OUTPUT = (quiet: boolean) => `
  const { App, TerraformOutput, TerraformStack } = require("cdktf");
  const { mkdtempSync } = require("node:fs");
  const { quietCdktfDeprecations } = require("./stacks/cdktf-warnings");
  ${quiet ? "quietCdktfDeprecations();" : ""}
  const app = new App({ outdir: mkdtempSync(require("node:os").tmpdir() + "/keybuzz-warnings-") });
  new TerraformOutput(new TerraformStack(app, "s"), "o", { value: ["a"] });
  app.synth();
`;
