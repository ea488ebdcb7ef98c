/**
 * The way off CDK for Terraform 0.21 (its final release, archived) onto its continuation, CDK Terrain (`cdktn`), as
 * code: the one place that says what the move changes in this app, so that the check (terrain/check.ts, run by
 * `npm run terrain` and test/e2e/terrain.test.ts) and an engineer making the move apply the same changes.
 *
 * What changes is imports and cdktf.json, nothing else:
 * - `cdktf` becomes `cdktn` (same module layout: `cdktf/lib/…` becomes `cdktn/lib/…`);
 * - the prebuilt provider packages (`@cdktf/provider-vault`, `@cdktf/provider-postgresql`), which CDK Terrain does
 *   not publish, become the bindings `cdktn get` generates into `.gen/providers/<name>/` from the same provider
 *   versions: `@cdktf/provider-vault/lib/policy` becomes `<relative path>/.gen/providers/vault/policy`;
 * - cdktf.json (CDK Terrain still reads that name, and the CDKTF_* variables) gains `terraformProviders`, the
 *   versions the prebuilt packages were built for, and `targetVersions`: cdktn checks features against the engines
 *   a project declares, assumes Terraform 1.5.7 when it declares none, and refuses to synthesize the write-only
 *   attributes this app sends `vault_admin`'s password through, which need 1.11.
 *
 * Pure functions: no file is read or written here.
 */
import { dirname, posix, relative } from "node:path";
import { MIN_ENGINE_VERSION } from "../constructs/vocabulary";

/** A provider the app uses, as its prebuilt package names it (`cdktf.provider` in its package.json). */
export interface ProviderPin {
  /** The package's short name and the folder `cdktn get` generates: `vault`, `postgresql`. */
  readonly name: string;
  /** Registry source: `hashicorp/vault`. */
  readonly source: string;
  /** The provider version the prebuilt package was generated for, which the synthesized JSON pins. */
  readonly version: string;
}

/** The prebuilt provider packages this app imports, by short name. */
export const PROVIDER_PACKAGES = ["vault", "postgresql"] as const;

/**
 * The engines this app needs (Terraform and OpenTofu 1.11: the write-only attributes; the stacks' own
 * `required_version`), as cdktn's `targetVersions` (npm semver ranges).
 */
export const TARGET_VERSIONS = { terraform: `>=${MIN_ENGINE_VERSION}`, opentofu: `>=${MIN_ENGINE_VERSION}` } as const;

/**
 * The pin of a prebuilt provider package, from its package.json (`cdktf.provider.name` is
 * `registry.terraform.io/<namespace>/<type>`). Throws naming the package when the field is missing.
 */
export function providerPin(name: string, packageJson: { cdktf?: { provider?: { name?: string; version?: string } } }): ProviderPin {
  const provider = packageJson.cdktf?.provider;
  const source = provider?.name?.replace(/^registry\.terraform\.io\//, "");
  if (!source || !provider?.version) throw new Error(`@cdktf/provider-${name}/package.json has no cdktf.provider name and version`);
  return { name, source, version: provider.version };
}

/** An import of `from`, in a file of the app, that the move cannot rename. */
export class UnrenamedImportError extends Error {}

const IMPORT = /(\bfrom\s+|\bimport\s*\(\s*|\brequire\s*\(\s*)(["'])([^"']+)\2/g;

/**
 * Renames the cdktf imports of one TypeScript file of the app (`file`: its path relative to the app's root, which
 * holds `.gen/`). Throws {@link UnrenamedImportError}, naming the file and the import, for a `@cdktf/…` import the
 * move has no rename for (say the whole `@cdktf/provider-vault` index, which has no generated counterpart).
 */
export function renameImports(source: string, file: string): string {
  const gen = posix.join(relative(dirname(file), ".").split("\\").join("/") || ".", ".gen", "providers");
  return source.replace(IMPORT, (whole, keyword: string, quote: string, spec: string) => {
    const renamed = renameSpecifier(spec, gen);
    if (renamed === undefined) throw new UnrenamedImportError(`${file}: the import "${spec}" has no CDK Terrain counterpart`);
    return renamed === spec ? whole : `${keyword}${quote}${renamed}${quote}`;
  });
}

/** The specifier after the move (`gen`: `.gen/providers` relative to the file), itself when untouched, undefined when unknown. */
function renameSpecifier(spec: string, gen: string): string | undefined {
  if (spec === "cdktf" || spec.startsWith("cdktf/")) return `cdktn${spec.slice("cdktf".length)}`;
  const provider = /^@cdktf\/provider-([a-z0-9-]+)\/lib\/([a-z0-9-]+)$/.exec(spec);
  if (provider && (PROVIDER_PACKAGES as readonly string[]).includes(provider[1])) {
    const path = posix.join(gen, provider[1], provider[2]);
    return path.startsWith("../") ? path : `./${path}`;
  }
  if (spec.startsWith("@cdktf/")) return undefined;
  return spec;
}

/** cdktf.json after the move: today's, with the providers to generate and the engines the app targets. */
export function terrainCdktfJson(current: Readonly<Record<string, unknown>>, pins: readonly ProviderPin[]): Record<string, unknown> {
  return {
    ...current,
    terraformProviders: pins.map((p) => `${p.source}@${p.version}`),
    targetVersions: { ...TARGET_VERSIONS },
  };
}
