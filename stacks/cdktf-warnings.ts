/**
 * cdktf 0.21, the final release of CDK for Terraform, calls `util.isArray` in `TerraformOutput`
 * (`isITerraformAddressable`), which Node.js 22 and later deprecate at run time: every synth on them
 * printed `[DEP0044] DeprecationWarning: The util.isArray API is deprecated` on stderr, a warning no user
 * caused and none can act on (the library will not change; moving to its continuation, CDK Terrain, is the
 * way off it).
 *
 * {@link quietCdktfDeprecations} drops exactly that warning, and only when cdktf's `isITerraformAddressable`
 * raised it: every other warning, and DEP0044 raised by any other code, is printed as before. The app calls it
 * before synthesizing.
 */

/** The deprecation codes cdktf raises, each with the cdktf function it comes from (a frame of the stack). */
export const CDKTF_DEPRECATIONS: Readonly<Record<string, RegExp>> = {
  DEP0044: /\bisITerraformAddressable\b/,
};

/** The code of a warning, in either form `process.emitWarning` takes (or of an Error with a `code`). */
function codeOf(warning: string | Error, rest: readonly unknown[]): unknown {
  if (typeof warning === "object" && warning !== null && "code" in warning) return warning.code;
  const [typeOrOptions, code] = rest;
  return typeof typeOrOptions === "object" && typeOrOptions !== null ? (typeOrOptions as { code?: unknown }).code : code;
}

/** Silences cdktf's known deprecations (see the file's comment); returns a function that undoes it. */
export function quietCdktfDeprecations(): () => void {
  const original = process.emitWarning;
  const quiet = function emitWarning(this: unknown, warning: string | Error, ...rest: unknown[]): void {
    const code = codeOf(warning, rest);
    const from = typeof code === "string" ? CDKTF_DEPRECATIONS[code] : undefined;
    if (from?.test(new Error().stack ?? "")) return;
    (original as (...args: unknown[]) => void).call(process, warning, ...rest);
  };
  process.emitWarning = quiet as typeof process.emitWarning;
  return () => {
    if (process.emitWarning === quiet) process.emitWarning = original;
  };
}
