import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  caWithSslmodeProblem,
  closedDatabaseProblem,
  exceedsProblem,
  idlePoolProblem,
  tokenCutsLeasesProblem,
  ENCRYPTING_SSLMODES,
  holdsPrivateKey,
  isCidr,
  isPemCertificate,
  pgIdentifierProblem,
  SSL_MODES,
  VAULT_NAME,
  VAULT_PATH,
  VERIFYING_SSLMODES,
  wildcardBindingProblem,
} from "../../constructs/vocabulary";
import { CA_PEM, ROOT } from "../helpers";

describe("vocabulary", () => {
  it.each([
    ["keybuzz_api", undefined],
    ["_x", undefined],
    ["a".repeat(63), undefined],
    ["Keybuzz", "must be a lower-case PostgreSQL identifier"],
    ["1abc", "must be a lower-case PostgreSQL identifier"],
    ['a"b', "must be a lower-case PostgreSQL identifier"],
    ["a".repeat(64), "must be at most 63 bytes"],
    ["pg_monitor", "must not start with pg_"],
  ])("pgIdentifierProblem(%j) → %j", (value, problem) => {
    const found = pgIdentifierProblem(value);
    if (problem === undefined) expect(found).toBeUndefined();
    else expect(found).toContain(problem);
  });

  it("names Vault path segments and paths", () => {
    expect(["keybuzz-api-db", "a", "a1"].every((n) => VAULT_NAME.test(n))).toBe(true);
    expect(["-a", "a-", "A", "a_b", "a/b", ""].some((n) => VAULT_NAME.test(n))).toBe(false);
    expect(VAULT_PATH.test("kv/keybuzz")).toBe(true);
    expect(["/kv", "kv/", "kv//x"].some((p) => VAULT_PATH.test(p))).toBe(false);
  });

  it("orders sslmodes from the weakest to the strongest, and says which verify and which encrypt", () => {
    expect(SSL_MODES).toEqual(["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]);
    expect([...VERIFYING_SSLMODES].sort()).toEqual(["verify-ca", "verify-full"]);
    expect([...ENCRYPTING_SSLMODES].sort()).toEqual(["require", "verify-ca", "verify-full"]);
    expect(caWithSslmodeProblem("verify-ca")).toBeUndefined();
    expect(caWithSslmodeProblem("require")).toContain('with sslmode "require" nothing would check the server against it');
  });

  it("recognizes a PEM certificate and a private key beside it", () => {
    expect(isPemCertificate(CA_PEM)).toBe(true);
    expect(isPemCertificate("-----BEGIN CERTIFICATE-----")).toBe(false);
    expect(holdsPrivateKey(`${CA_PEM}\n-----BEGIN EC PRIVATE KEY-----\nx\n-----END EC PRIVATE KEY-----\n`)).toBe(true);
    expect(holdsPrivateKey(CA_PEM)).toBe(false);
  });

  it("refuses the wildcard for both service accounts and namespaces, and only then", () => {
    expect(wildcardBindingProblem(["*"], ["*"])).toContain('must not both be the wildcard "*"');
    expect(wildcardBindingProblem(["*"], ["keybuzz"])).toBeUndefined();
  });

  it.each([
    ["10.0.0.0/24", true],
    ["0.0.0.0/0", true],
    ["10.0.0.1/32", true],
    ["10.0.0.0/33", false],
    ["010.0.0.0/8", false],
    ["10.0.0.0", false],
  ])("isCidr(%j) is %s", (value, ok) => {
    expect(isCidr(value)).toBe(ok);
  });

  it("holds a lifetime to its ceiling, and a token to the leases it reads, naming the fields it is given", () => {
    expect(exceedsProblem(3600, 3600, "maxTtl")).toBeUndefined();
    expect(exceedsProblem(3601, 3600, "maxTtl")).toBe("must not exceed maxTtl: 3601s > 3600s");
    expect(tokenCutsLeasesProblem(3600, 3600, "the lease")).toBeUndefined();
    expect(tokenCutsLeasesProblem(1800, 3600, "the lease")).toBe(
      "must be at least the lease (3600s): Vault revokes credentials with the token that read them, so the token would cut every lease short",
    );
  });

  it("keeps a pool's idle connections within its open ones, and the application database open", () => {
    expect(idlePoolProblem(4, 4)).toBeUndefined();
    expect(idlePoolProblem(5, 4)).toBe("must not exceed maxOpenConnections (4)");
    expect(closedDatabaseProblem("postgres", "keybuzz", "databaseName")).toBeUndefined();
    expect(closedDatabaseProblem("keybuzz", "keybuzz", "databaseName")).toBe(
      'must not name the application database (databaseName "keybuzz"), which issued users log in to',
    );
  });

  // a construct's default written inline is one a config or a reader cannot import: each lives in the
  // construct's exported XXX_DEFAULTS object (and the config schema takes it from there).
  it("has every construct's default values in its DEFAULTS object, none inline", () => {
    const inline = readdirSync(join(ROOT, "constructs"))
      .filter((f) => f.endsWith(".ts"))
      .flatMap((file) =>
        readFileSync(join(ROOT, "constructs", file), "utf8")
          .split("\n")
          .filter((line) => /\?\? (?:-?\d|"|true\b)/.test(line))
          .map((line) => `${file}: ${line.trim()}`),
      );
    expect(inline).toEqual([]);
  });

  // the point of one vocabulary: a rule written out again elsewhere drifts. These are the literals the
  // copies had; only constructs/vocabulary.ts may hold them.
  it("is the only place that spells out the shared patterns and lists", () => {
    const copies = [
      '"verify-ca", "verify-full"',
      "[a-z0-9]([a-z0-9-]*[a-z0-9])?",
      "^https:\\/\\/",
      '"SELECT", "INSERT"',
      '"USAGE", "SELECT"',
      "PRIVATE KEY-----/",
      "[A-Za-z0-9._/-]",
      '.startsWith("pg_")',
      "(?:25[0-5]",
    ];
    const sources = (dir: string): string[] =>
      readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) =>
        e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : [],
      );
    const found = ["constructs", "stacks", "review", "leases", "scripts"]
      .flatMap(sources)
      .filter((file) => file !== join("constructs", "vocabulary.ts"))
      .flatMap((file) => {
        const text = readFileSync(join(ROOT, file), "utf8");
        return copies.filter((c) => text.includes(c)).map((c) => `${file}: ${c}`);
      });

    expect(found).toEqual([]);
  });
});
