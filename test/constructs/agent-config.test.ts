import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { App, TerraformStack } from "cdktf";
import { parse } from "yaml";
import { AgentConfig, INJECTOR_ANNOTATIONS, PER_SECRET_ANNOTATIONS, templateReads, type AgentConfigProps } from "../../constructs/agent-config";
import { addProviders, appPolicies, testApp } from "../helpers";

type Options = Partial<Omit<AgentConfigProps, "policy" | "application">>;

const POSTGRES = { host: "10.0.0.11", port: 5432, database: "keybuzz", sslmode: "verify-full" };
const APPROLE = { loginPath: "auth/approle/login", roleName: "api" };
const KUBERNETES = { loginPath: "auth/kubernetes/login", roleName: "api" };

/** The agent of application `api`, whose dynamic role is `api-db` (base role `app`). */
function agentOf(options: Options = {}, stackName = "keybuzz-test"): AgentConfig {
  const stack = new TerraformStack(testApp(), stackName);
  addProviders(stack);
  const policies = appPolicies(stack, [{ name: "api" }]);
  return new AgentConfig(stack, "api", {
    application: "api",
    policy: policies.api,
    vaultAddress: "https://vault.keybuzz.io:8200",
    postgres: POSTGRES,
    approle: APPROLE,
    ...options,
  });
}

/**
 * Whether the injector reads `key`: one of its constants (INJECTOR_ANNOTATIONS, held to vault-k8s 1.7.6's
 * source by injector-annotations.integration.test.ts), or a per-secret one for the secret `database`.
 */
const readByInjector = (key: string) => {
  const name = key.replace(/^vault\.hashicorp\.com\//, "");
  return (INJECTOR_ANNOTATIONS as readonly string[]).includes(name) || PER_SECRET_ANNOTATIONS.some((p) => name === `${p}-database`);
};

/** The keys of the generated annotations file (`key: value` or `key: |2-` lines). */
function annotationKeys(yaml: string): string[] {
  return yaml
    .split("\n")
    .filter((l) => /^[a-z]/.test(l))
    .map((l) => l.slice(0, l.indexOf(": ")));
}

describe("AgentConfig", () => {
  it("writes an agent configuration, a systemd unit and pod annotations, holding no secret", () => {
    const agent = agentOf({ kubernetes: KUBERNETES, command: ["/usr/bin/pkill", "-HUP", "-x", "keybuzz-api"] });

    expect(agent.files).toMatchSnapshot();
  });

  it("writes its files into agent/<application>/ of the stack's folder when the app is synthesized", () => {
    // GIVEN
    const agent = agentOf({ kubernetes: KUBERNETES });
    const app = App.of(agent);

    // WHEN
    app.synth();

    // THEN
    const dir = join(app.outdir, "stacks", "keybuzz-test", "agent", "api");
    expect(readdirSync(dir).sort()).toEqual(["agent.hcl", "kubernetes-annotations.yaml", "vault-agent-api.service"]);
    for (const [name, text] of Object.entries(agent.files)) expect(readFileSync(join(dir, name), "utf8")).toBe(text);
    expect(existsSync(join(app.outdir, "stacks", "keybuzz-test", "cdk.tf.json"))).toBe(true);
  });

  it("renders a libpq service file that logs in with the base role, from the credentials path only", () => {
    const agent = agentOf({ postgres: { ...POSTGRES, caCertPath: "/etc/ssl/keybuzz/pg-ca.pem" } });
    const hcl = agent.files["agent.hcl"];

    expect(hcl).toContain(
      [
        "  contents             = <<EOT",
        '{{ with secret "database/creds/api-db" -}}',
        "[api]",
        "host=10.0.0.11",
        "port=5432",
        "dbname=keybuzz",
        "user={{ .Data.username }}",
        "password={{ .Data.password }}",
        "sslmode=verify-full",
        "sslrootcert=/etc/ssl/keybuzz/pg-ca.pem",
        "options=--role=app",
        "{{ end -}}",
        "EOT",
      ].join("\n"),
    );
    expect(templateReads(hcl)).toEqual(["database/creds/api-db"]);
    expect(agent.credentialsFile).toBe("pg_service.conf");
  });

  it("renders Chatwoot's POSTGRES_* variables, with libpq's sslmode and role options", () => {
    const hcl = agentOf({ format: "chatwoot" }).files["agent.hcl"];

    for (const line of [
      "POSTGRES_HOST=10.0.0.11",
      "POSTGRES_PORT=5432",
      "POSTGRES_DATABASE=keybuzz",
      "POSTGRES_USERNAME={{ .Data.username }}",
      "POSTGRES_PASSWORD={{ .Data.password }}",
      "PGSSLMODE=verify-full",
      "PGOPTIONS=--role=app",
    ]) {
      expect(hcl).toContain(`\n${line}\n`);
    }
    expect(hcl).toContain('destination          = "/run/vault-agent/api/chatwoot.env"');
  });

  it("renders n8n's DB_POSTGRESDB_* variables with its schema, and TLS verified with the CA", () => {
    const hcl = agentOf({ format: "n8n", schema: "n8n", postgres: { ...POSTGRES, caCertPath: "/etc/ssl/pg-ca.pem" } }).files["agent.hcl"];

    for (const line of [
      "DB_TYPE=postgresdb",
      "DB_POSTGRESDB_HOST=10.0.0.11",
      "DB_POSTGRESDB_USER={{ .Data.username }}",
      "DB_POSTGRESDB_PASSWORD={{ .Data.password }}",
      "DB_POSTGRESDB_SCHEMA=n8n",
      "DB_POSTGRESDB_SSL_CA=/etc/ssl/pg-ca.pem",
      "DB_POSTGRESDB_SSL_REJECT_UNAUTHORIZED=true",
      "PGOPTIONS=--role=app",
    ]) {
      expect(hcl).toContain(`\n${line}\n`);
    }
  });

  it("logs in with AppRole from files, keeps the token 0600 for the revocation, and exits when it cannot render", () => {
    const hcl = agentOf({ command: ["/bin/kill", "-HUP", "1"] }).files["agent.hcl"];

    expect(hcl).toContain('mount_path = "auth/approle"');
    expect(hcl).toContain('role_id_file_path                   = "/etc/vault-agent/api/role-id"');
    expect(hcl).toContain('path = "/run/vault-agent/api/.vault-token"');
    expect(hcl).toContain("mode = 384 # 0600");
    expect(hcl).toContain("exit_on_retry_failure = true");
    expect(hcl).toContain('perms                = "0600"');
    expect(hcl).toContain('command = ["/bin/kill", "-HUP", "1"]');
  });

  it("revokes the agent's token after the service stops, with the agent binary and Vault's address", () => {
    const unit = agentOf({ binary: "/usr/local/bin/bao", vaultCaCertPath: "/etc/ssl/vault-ca.pem" }).files["vault-agent-api.service"];

    expect(unit).toContain("ExecStart=/usr/local/bin/bao agent -config=/etc/vault-agent/api/agent.hcl");
    expect(unit).toContain(
      "ExecStopPost=-/usr/local/bin/bao token revoke -address=https://vault.keybuzz.io:8200 -ca-cert=/etc/ssl/vault-ca.pem -self",
    );
    expect(unit).toContain("Environment=HOME=/run/vault-agent/api");
    expect(unit).toContain("RuntimeDirectory=vault-agent/api\nRuntimeDirectoryMode=0700");
    expect(unit).toContain("User=api");
  });

  it("lets systemd manage the run folder only under /run", () => {
    const unit = agentOf({ runDirectory: "/var/lib/keybuzz-agent" }).files["vault-agent-api.service"];

    expect(unit).not.toContain("RuntimeDirectory");
    expect(unit).toContain("ReadWritePaths=/var/lib/keybuzz-agent/api");
  });

  it("uses only annotations the injector reads, and revokes on shutdown", () => {
    const yaml = agentOf({
      approle: undefined,
      kubernetes: KUBERNETES,
      command: ["kill", "-HUP", "1"],
      annotations: { "vault.hashicorp.com/agent-limits-mem": "64Mi" },
    }).files["kubernetes-annotations.yaml"];
    const keys = annotationKeys(yaml);

    expect(keys.filter((k) => !readByInjector(k))).toEqual([]);
    expect(keys).toEqual(expect.arrayContaining(["vault.hashicorp.com/agent-inject-secret-database", "vault.hashicorp.com/agent-limits-mem"]));
    expect(yaml).toContain('vault.hashicorp.com/agent-revoke-on-shutdown: "true"');
    expect(yaml).toContain('vault.hashicorp.com/agent-inject-secret-database: "database/creds/api-db"');
    expect(yaml).toContain('vault.hashicorp.com/auth-path: "auth/kubernetes"');
    expect(yaml).toContain('vault.hashicorp.com/agent-inject-command-database: "kill -HUP 1"');
  });

  it("writes annotations a YAML parser reads back as the same strings, templates included", () => {
    const agent = agentOf({ approle: undefined, kubernetes: KUBERNETES, format: "chatwoot" });
    const parsed = parse(agent.files["kubernetes-annotations.yaml"]) as Record<string, string>;

    expect(parsed["vault.hashicorp.com/agent-inject-template-database"]).toMatch(
      /^\{\{ with secret "database\/creds\/api-db" -\}\}\nPOSTGRES_HOST=10\.0\.0\.11\n[\s\S]*\{\{ end -\}\}\n$/,
    );
    expect(Object.values(parsed).every((v) => typeof v === "string")).toBe(true);
  });

  it("quotes the command's arguments for the shell the injected agent runs it with", () => {
    const yaml = agentOf({ kubernetes: KUBERNETES, command: ["/bin/sh", "-c", `kill -HUP "$(cat /run/app.pid)"`, "it's"] }).files[
      "kubernetes-annotations.yaml"
    ];
    const command = (parse(yaml) as Record<string, string>)["vault.hashicorp.com/agent-inject-command-database"];

    expect(command).toBe(`/bin/sh -c 'kill -HUP "$(cat /run/app.pid)"' 'it'\\''s'`);
  });

  it("writes nothing for Kubernetes when the application has no Kubernetes login", () => {
    expect(Object.keys(agentOf().files).sort()).toEqual(["agent.hcl", "vault-agent-api.service"]);
  });

  it("takes a template of your own that reads the application's credentials", () => {
    const template = '{{ with secret "database/creds/api-db" }}DATABASE_URL=postgres://{{ .Data.username }}:{{ .Data.password }}@db/keybuzz{{ end }}';

    expect(agentOf({ template }).files["agent.hcl"]).toContain(`<<EOT\n${template}\nEOT`);
  });

  it.each([
    [
      '{{ with secret "database/creds/chatwoot-db" }}{{ .Data.password }}{{ end }}',
      'template reads "database/creds/chatwoot-db": an application\'s template may read only its own credentials (database/creds/api-db)',
    ],
    ['{{ with secret "database/creds/api-db" }}{{ end }}{{ with secret "secret/data/stripe" }}{{ end }}', 'template reads "secret/data/stripe"'],
    ["user=static", 'template reads no secret: it must contain {{ with secret "database/creds/api-db" }}'],
    ['{{ with secret "database/creds/api-db" }}\nEOT\n{{ end }}', "must not contain a line EOT"],
  ])("fails when the template is %j", (template, message) => {
    expect(() => agentOf({ template })).toThrow(message);
  });

  it.each([
    [
      { "vault.hashicorp.com/role": "chatwoot" },
      '"vault.hashicorp.com/role" is set from the config (Vault, login, revocation); it cannot be overridden',
    ],
    [{ "vault.hashicorp.com/agent-revoke-on-shutdown": "false" }, "cannot be overridden"],
    [{ "vault.hashicorp.com/agent-inject-secret-extra": "database/creds/api-db" }, "would inject another secret"],
    [
      { "vault.hashicorp.com/agent-inject-default-template": "database/creds/n8n-db" },
      'names "database/creds/n8n-db": an application may read only its own credentials (database/creds/api-db)',
    ],
    [{ "example.com/foo": "bar" }, '"example.com/foo" is not a Vault Agent injector annotation'],
  ])("fails on the annotations %j", (annotations, message) => {
    expect(() => agentOf({ kubernetes: KUBERNETES, annotations })).toThrow(message);
  });

  it("fails on annotations without a Kubernetes login", () => {
    expect(() => agentOf({ annotations: { "vault.hashicorp.com/agent-limits-mem": "64Mi" } })).toThrow(
      'agent of "api": annotations need a Kubernetes login (auth.kubernetes binding)',
    );
  });

  it("fails without any login", () => {
    expect(() => agentOf({ approle: undefined })).toThrow('agent of "api": needs an AppRole or a Kubernetes login to render anything');
  });

  it.each([
    [{ runDirectory: "run/agent" }, 'runDirectory must be an absolute path of letters, digits and ._/-, got "run/agent"'],
    [{ binary: "/usr/bin/vault agent" }, 'binary must be an absolute path of letters, digits and ._/-, got "/usr/bin/vault agent"'],
    [{ vaultCaCertPath: '/etc/"ca' }, "vaultCaCertPath must be an absolute path"],
    [{ command: ["kill", "-HUP\n1"] }, "command arguments must be non-empty single lines"],
  ])("fails on %j", (options, message) => {
    expect(() => agentOf(options as Options)).toThrow(message);
  });

  it("fails when n8n would connect in clear: an encrypting sslmode needs a CA file for it", () => {
    expect(() => agentOf({ format: "n8n" })).toThrow(
      'agent of "api": n8n uses TLS only when given a CA: with postgres.sslmode "verify-full" set postgres.caCertPath, or n8n would connect in clear',
    );
  });
});
