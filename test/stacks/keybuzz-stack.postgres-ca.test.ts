import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { isAbsolute, join, relative, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { App, Testing } from "cdktf";
import { loadEnvironments } from "../../stacks/environment";
import { KeybuzzStack, stackName } from "../../stacks/keybuzz-stack";
import { CA_PEM, connectionBlock, synthEnvironments, tempDir, type TfJson } from "../helpers";
import { CONFIG_DIR, synthVariant } from "./keybuzz-stack.fixture";

describe("KeybuzzStack, verifying PostgreSQL against a CA file", () => {
  // local.json with verify-full and the CA beside the config (tls/ca.pem), synthesized as main.ts does.
  const config = tempDir("pg-ca-config");
  const out = tempDir("pg-ca-out");
  let json: TfJson;
  const stackFolder = () => join(out.path, "stacks", "keybuzz-local");
  beforeAll(() => {
    const data = JSON.parse(readFileSync(join(CONFIG_DIR, "local.json"), "utf8")) as TfJson;
    Object.assign(data.postgres, { sslmode: "verify-full", caCertFile: "tls/ca.pem" });
    // where the hosts keep that CA: n8n's agent file needs it to use TLS at all.
    data.agent = { postgresCaCertPath: "/etc/ssl/keybuzz/postgres-ca.pem" };
    mkdirSync(join(config.path, "tls"));
    writeFileSync(join(config.path, "local.json"), JSON.stringify(data));
    writeFileSync(join(config.path, "tls", "ca.pem"), CA_PEM);
    json = JSON.parse(synthEnvironments(config.path, out.path).local) as TfJson;
  });
  afterAll(() => {
    config.remove();
    out.remove();
  });

  it("gives Vault the CA's PEM as tls_ca, with sslmode verify-full in connection_url", () => {
    expect(connectionBlock(json)).toMatchObject({
      tls_ca: CA_PEM,
      connection_url: expect.stringMatching(/\?sslmode=verify-full$/),
    });
  });

  it("gives the postgresql provider the CA file's path relative to the stack's folder, where Terraform runs", () => {
    const provider = json.provider.postgresql[0];

    expect(provider).toMatchObject({ sslmode: "verify-full", sslrootcert: expect.stringMatching(/^\.\.\/.*\/tls\/ca\.pem$/) });
    expect(isAbsolute(provider.sslrootcert)).toBe(false);
    expect(resolve(stackFolder(), provider.sslrootcert)).toBe(join(config.path, "tls", "ca.pem"));
    expect(readFileSync(resolve(stackFolder(), provider.sslrootcert), "utf8")).toBe(CA_PEM);
  });

  it("writes the same relative path with an outdir relative to the working directory, as main.ts's cdktf.out", () => {
    // GIVEN
    const [env] = loadEnvironments(config.path);
    const app = new App({ outdir: relative(process.cwd(), out.path) });

    // WHEN
    const stack = new KeybuzzStack(app, stackName(env.name), { config: env });

    // THEN
    expect(JSON.parse(Testing.synth(stack)).provider.postgresql[0].sslrootcert).toBe(json.provider.postgresql[0].sslrootcert);
  });

  it("leaves sslrootcert and tls_ca out without a CA file", () => {
    const { json: plain } = synthVariant((c) => {
      c.postgres.sslmode = "verify-full";
      c.agent = { postgresCaCertPath: "/etc/ssl/keybuzz/postgres-ca.pem" };
    });

    expect(plain.provider.postgresql[0]).not.toHaveProperty("sslrootcert");
    expect(connectionBlock(plain)).not.toHaveProperty("tls_ca");
  });
});
