import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CROSS_FIELD_RULES, PRODUCTION_RULES, type Rule } from "../../../stacks/environment/rules";
import { environmentFields, type EnvironmentConfig, type ParsedEnvironment } from "../../../stacks/environment/schema";
import { parseEnvironment } from "../../../stacks/environment";
import { ROOT, type TfJson } from "../../helpers";
import { PROD_RULES, RULES } from "./cases/rules";
import { changed, DEV, PROD, problem, problemsOf } from "./fixture";

const read = (env: string) => JSON.parse(readFileSync(join(ROOT, "config", `${env}.json`), "utf8")) as TfJson;

/** The committed file after `change`, read by the schema's fields only (no cross-field rule yet). */
function parsed(env: string, change: (c: TfJson) => void = () => undefined): ParsedEnvironment {
  const config = read(env);
  change(config);
  return environmentFields.parse(config);
}

const asProd = (env: ParsedEnvironment): EnvironmentConfig => ({ ...env, name: "prod", file: "config/prod.json" });

/** For each row of a table, by what it protects: a change that only that row refuses, and the path it names. */
const CROSS_FIELD_CASES: Record<string, [(c: TfJson) => void, (string | number)[]]> = {
  "issued users can log in": [(c) => (c.postgres.closeDatabases = ["keybuzz"]), ["postgres", "closeDatabases", 0]],
  "one application per name": [(c) => (c.applications[1].vaultRole = c.applications[0].vaultRole), ["applications", 1, "vaultRole"]],
  "the lease audit's own roles": [(c) => (c.applications[1].baseRole = "keybuzz_leases_audit"), ["applications", 1, "baseRole"]],
  "lease durations": [(c) => (c.applications[0].defaultTtl = "48h"), ["applications", 0, "defaultTtl"]],
  "additional base roles": [(c) => (c.applications[0].additionalBaseRoles = ["nobody"]), ["applications", 0, "additionalBaseRoles", 0]],
  "each auth binding": [(c) => (c.auth.approle.bindings[0].application = "nobody"), ["auth", "approle", "bindings", 0, "application"]],
  "an agent delivers only": [
    (c) => (c.applications[0].agent = { template: '{{ with secret "database/creds/n8n-db" }}{{ end }}' }),
    ["applications", 0, "agent", "template"],
  ],
  "the pods of the Kubernetes manifests": [
    (c) =>
      (c.auth.kubernetes = {
        host: "https://10.0.0.50:6443",
        bindings: [{ application: "keybuzz-api", serviceAccounts: ["keybuzz-api"], namespaces: ["keybuzz"], workload: { namespace: "default" } }],
      }),
    ["auth", "kubernetes", "bindings", 0, "workload", "namespace"],
  ],
  "a CA file is only given": [(c) => Object.assign(c.postgres, { sslmode: "require", caCertFile: "ca.pem" }), ["postgres", "caCertFile"]],
  "Vault's pool": [(c) => (c.connection.maxIdleConnections = 9), ["connection", "maxIdleConnections"]],
};

const PRODUCTION_CASES: Record<string, [(c: TfJson) => void, (string | number)[]]> = {
  "TLS to PostgreSQL": [(c) => (c.postgres.sslmode = "require"), ["postgres", "sslmode"]],
  "a SUPERUSER vault_admin": [(c) => (c.vaultAdmin.superuser = true), ["vaultAdmin", "superuser"]],
  "Vault's token travels over TLS": [(c) => (c.vault.address = "http://10.0.0.160:8200"), ["vault", "address"]],
  "pods that may log in are named": [
    (c) =>
      (c.auth.kubernetes = {
        host: "https://10.0.0.50:6443",
        bindings: [{ application: "keybuzz-api", serviceAccounts: ["*"], namespaces: ["keybuzz"], workload: { serviceAccount: "keybuzz-api" } }],
      }),
    ["auth", "kubernetes", "bindings", 0, "serviceAccounts", 0],
  ],
};

function caseOf<E>(rule: Rule<E>, cases: Record<string, unknown>): string {
  const keys = Object.keys(cases).filter((k) => rule.protects.startsWith(k));
  expect(keys, `exactly one case for the rule "${rule.protects}"`).toHaveLength(1);
  return keys[0];
}

describe("environment rules", () => {
  it("every row says what it protects, and has a case below", () => {
    for (const rule of CROSS_FIELD_RULES) caseOf(rule, CROSS_FIELD_CASES);
    for (const rule of PRODUCTION_RULES) caseOf(rule, PRODUCTION_CASES);
    expect(Object.keys(CROSS_FIELD_CASES)).toHaveLength(CROSS_FIELD_RULES.length);
    expect(Object.keys(PRODUCTION_CASES)).toHaveLength(PRODUCTION_RULES.length);
  });

  it("no row finds anything in the committed files", () => {
    for (const env of ["dev", "local", "staging", "prod"]) {
      expect(
        CROSS_FIELD_RULES.flatMap((r) => r.check(parsed(env))),
        env,
      ).toEqual([]);
    }
    expect(PRODUCTION_RULES.flatMap((r) => r.check(asProd(parsed("prod"))))).toEqual([]);
  });

  it.each(CROSS_FIELD_RULES.map((rule) => [rule.protects, rule] as const))("%s: its case is refused by it alone, at the field's path", (_, rule) => {
    const [change, path] = CROSS_FIELD_CASES[caseOf(rule, CROSS_FIELD_CASES)];
    const env = parsed("dev", change);

    expect(rule.check(env).map((p) => p.path)).toEqual([path]);
    expect(CROSS_FIELD_RULES.filter((r) => r !== rule).flatMap((r) => r.check(env))).toEqual([]);
  });

  it.each(PRODUCTION_RULES.map((rule) => [rule.protects, rule] as const))("%s: its case is refused by it alone, at the field's path", (_, rule) => {
    const [change, path] = PRODUCTION_CASES[caseOf(rule, PRODUCTION_CASES)];
    const env = asProd(parsed("prod", change));

    expect(rule.check(env).map((p) => p.path)).toEqual([path]);
    expect(PRODUCTION_RULES.filter((r) => r !== rule).flatMap((r) => r.check(env))).toEqual([]);
  });
});

describe("parseEnvironment", () => {
  it.each(RULES)("rejects $rule, naming the file, the field and the value", ({ change, field, says, got }) => {
    // WHEN
    const problems = problemsOf("dev", "config/dev.json", changed(DEV, change));

    // THEN
    expect(problems).toContainEqual(problem("config/dev.json", field, says, got));
  });

  it.each(PROD_RULES)("rejects $rule in prod, naming the file, the field and the value", ({ change, field, says, got }) => {
    const problems = problemsOf("prod", "config/prod.json", changed(PROD, change));

    expect(problems).toContainEqual(problem("config/prod.json", field, says, got));
  });

  it.each(PROD_RULES)("rejects $rule in a prod-<region> environment too", ({ change, says }) => {
    const problems = problemsOf("prod-eu", "config/prod-eu.json", changed(PROD, change));

    expect(problems.join("\n")).toContain(says);
  });

  it.each(PROD_RULES)("accepts $rule outside prod", ({ change }) => {
    expect(problemsOf("staging", "config/staging.json", changed(PROD, change))).toEqual([]);
  });

  it.each(["verify-full", "verify-ca"])("accepts sslmode %s in prod", (mode) => {
    expect(
      problemsOf(
        "prod",
        "config/prod.json",
        changed(PROD, (c) => (c.postgres.sslmode = mode)),
      ),
    ).toEqual([]);
  });

  it("accepts a SUPERUSER vault_admin in prod with acknowledgeSuperuserInProd: true", () => {
    const text = changed(PROD, (c) => Object.assign(c.vaultAdmin, { superuser: true, acknowledgeSuperuserInProd: true }));

    const env = parseEnvironment("prod", "config/prod.json", text);
    expect(env.vaultAdmin).toMatchObject({ superuser: true, acknowledgeSuperuserInProd: true });
  });
});
