/**
 * The injector annotations the constructs accept are exactly those Vault Agent's injector reads: the
 * constants of hashicorp/vault-k8s 1.7.6 (`agent-inject/agent/annotations.go`), read from the pinned source
 * archive that tools/build.sh builds the injector from (integration project: it needs that archive and tar).
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { INJECTOR_ANNOTATIONS, PARAMETER_ANNOTATIONS, PER_SECRET_ANNOTATIONS } from "../../constructs/agent-config";
import { ROOT } from "../helpers";

/** The third-party folder, where tools/build.sh looks for it (see its third_party_dir). */
function thirdPartyDir(): string {
  if (process.env.KEYBUZZ_THIRD_PARTY) return process.env.KEYBUZZ_THIRD_PARTY;
  const beside = join(ROOT, "..", "shared", "third_party");
  if (existsSync(beside)) return beside;
  const origin = execFileSync("git", ["-C", ROOT, "config", "--get", "remote.origin.url"], { encoding: "utf8" })
    .trim()
    .replace(/^file:\/\//, "");
  return join(dirname(origin), "shared", "third_party");
}

const source = execFileSync("tar", ["-xzOf", join(thirdPartyDir(), "vault-k8s-1.7.6.tar.gz"), "vault-k8s-1.7.6/agent-inject/agent/annotations.go"], {
  encoding: "utf8",
});

describe("the Vault Agent injector's annotations", () => {
  it("are the constants of vault-k8s 1.7.6, no more and no fewer", () => {
    const constants = [...source.matchAll(/= "vault\.hashicorp\.com\/([a-z-]+)"/g)].map((m) => m[1]);

    expect(constants.length).toBeGreaterThan(60);
    expect([...INJECTOR_ANNOTATIONS].sort()).toEqual([...constants].sort());
  });

  it("take a suffix exactly where the injector reads one", () => {
    // per secret: annotationsSecretValue(<constant>, secret.RawName, …) and preserveSecretCase's `%s-%s`.
    const perSecret = [...source.matchAll(/annotationsSecretValue\((Annotation\w+),/g)].map((m) => m[1]);
    const constantOf = (name: string) => new RegExp(`(\\w+)\\s*=\\s*"vault\\.hashicorp\\.com/${name}"`).exec(source)?.[1];

    expect([...perSecret, "AnnotationPreserveSecretCase"].sort()).toEqual(PER_SECRET_ANNOTATIONS.map(constantOf).sort());
    // parameters: the prefixes of telemetryConfig and authConfig.
    const withParameter = [...source.matchAll(/prefix := fmt\.Sprintf\("%s-", (Annotation\w+)\)/g)].map((m) => m[1]);
    expect(withParameter.sort()).toEqual(PARAMETER_ANNOTATIONS.map(constantOf).sort());
  });
});
