import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { PROVIDER_PACKAGES, providerPin, renameImports, TARGET_VERSIONS, terrainCdktfJson, UnrenamedImportError } from "../../terrain/migrate";

const ROOT = join(__dirname, "..", "..");

describe("renameImports", () => {
  it("renames cdktf to cdktn, its lib paths included, and leaves every other import as it was", () => {
    const source = [
      'import { App, type ISynthesisSession } from "cdktf";',
      'import { addCustomSynthesis } from "cdktf/lib/synthesize/synthesizer";',
      'import { Construct } from "constructs";',
      'import { z } from "zod";',
      'import { join } from "node:path";',
      'import { stackName } from "./stacks/keybuzz-stack";',
      'const { TerraformOutput } = require("cdktf");',
      "",
    ].join("\n");
    expect(renameImports(source, "main.ts")).toBe(
      [
        'import { App, type ISynthesisSession } from "cdktn";',
        'import { addCustomSynthesis } from "cdktn/lib/synthesize/synthesizer";',
        'import { Construct } from "constructs";',
        'import { z } from "zod";',
        'import { join } from "node:path";',
        'import { stackName } from "./stacks/keybuzz-stack";',
        'const { TerraformOutput } = require("cdktn");',
        "",
      ].join("\n"),
    );
  });

  it("points a provider import at the generated binding, relative to the importing file", () => {
    const source = 'import { Policy } from "@cdktf/provider-vault/lib/policy";\nimport { Role } from "@cdktf/provider-postgresql/lib/role";\n';
    expect(renameImports(source, "constructs/app-policy.ts")).toBe(
      'import { Policy } from "../.gen/providers/vault/policy";\nimport { Role } from "../.gen/providers/postgresql/role";\n',
    );
    expect(renameImports(source, "main.ts")).toContain('from "./.gen/providers/vault/policy"');
    expect(renameImports(source, "stacks/environment/load.ts")).toContain('from "../../.gen/providers/postgresql/role"');
  });

  it("leaves a file without cdktf imports byte for byte", () => {
    const source = '// cdktf is mentioned here, "cdktf" too\nexport const x = 1;\n';
    expect(renameImports(source, "stacks/x.ts")).toBe(source);
  });

  it("refuses a @cdktf import it has no rename for, naming the file and the import", () => {
    expect(() => renameImports('import * as vault from "@cdktf/provider-vault";\n', "constructs/x.ts")).toThrow(UnrenamedImportError);
    expect(() => renameImports('import { X } from "@cdktf/provider-aws/lib/x";\n', "constructs/y.ts")).toThrow(
      'constructs/y.ts: the import "@cdktf/provider-aws/lib/x" has no CDK Terrain counterpart',
    );
  });

  it("renames every cdktf import of the app's own files into one that exists after the move", () => {
    // the app's files, as the check copies them: each import is cdktn, a generated binding or untouched.
    for (const file of ["main.ts", "constructs/stack-files.ts", "constructs/base-roles.ts", "stacks/keybuzz-stack.ts"]) {
      const renamed = renameImports(readFileSync(join(ROOT, file), "utf8"), file);
      expect(renamed, file).not.toMatch(/["']cdktf(\/[^"']*)?["']|["']@cdktf\//);
    }
  });
});

describe("providerPin", () => {
  it("reads the provider a prebuilt package was generated for", () => {
    expect(providerPin("vault", { cdktf: { provider: { name: "registry.terraform.io/hashicorp/vault", version: "5.6.0" } } })).toEqual({
      name: "vault",
      source: "hashicorp/vault",
      version: "5.6.0",
    });
  });

  it("matches the versions tools/build.sh builds the providers at", () => {
    const build = readFileSync(join(ROOT, "tools", "build.sh"), "utf8");
    for (const name of PROVIDER_PACKAGES) {
      const pin = providerPin(name, JSON.parse(readFileSync(join(ROOT, "node_modules", `@cdktf/provider-${name}`, "package.json"), "utf8")));
      expect(build, `${pin.source} ${pin.version}`).toContain(`T_PROVIDER="${pin.source}"\n      T_PROVIDER_VERSION="${pin.version}"`);
    }
  });

  it("names the package whose package.json has no provider", () => {
    expect(() => providerPin("vault", {})).toThrow("@cdktf/provider-vault/package.json has no cdktf.provider name and version");
  });
});

describe("terrainCdktfJson", () => {
  it("keeps every field of cdktf.json and adds the providers to generate and the engines to target", () => {
    const current = JSON.parse(readFileSync(join(ROOT, "cdktf.json"), "utf8"));
    const pins = [
      { name: "vault", source: "hashicorp/vault", version: "5.6.0" },
      { name: "postgresql", source: "cyrilgdn/postgresql", version: "1.26.0" },
    ];
    const moved = terrainCdktfJson(current, pins);
    expect(moved).toEqual({
      ...current,
      terraformProviders: ["hashicorp/vault@5.6.0", "cyrilgdn/postgresql@1.26.0"],
      targetVersions: TARGET_VERSIONS,
    });
  });
});
