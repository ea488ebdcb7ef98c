import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ConfigError, loadEnvironments, parseEnvironment } from "../../../stacks/environment";
import { CA_PEM, tempDir, type TfJson } from "../../helpers";
import { CONFIG_DIR, changed, DEV, k8sBinding, PROD, problem, problemsOf } from "./fixture";

/** The problems of loading the config folder `dir`, or none. */
function loadProblems(dir: string): readonly string[] {
  try {
    loadEnvironments(dir);
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
}

describe("parseEnvironment", () => {
  it("rejects text that is not JSON, naming the file", () => {
    expect(problemsOf("dev", "config/dev.json", "{ vault: ")).toEqual([expect.stringMatching(/^config\/dev\.json: not valid JSON: /)]);
  });
});

describe("loadEnvironments", () => {
  const dirs: Array<{ remove: () => void }> = [];
  afterAll(() => {
    for (const d of dirs) d.remove();
  });

  /** A temp folder holding the given files (names may include sub-folders). */
  function folder(files: Record<string, string>): string {
    const dir = tempDir("config");
    dirs.push(dir);
    for (const [name, text] of Object.entries(files)) {
      mkdirSync(dirname(join(dir.path, name)), { recursive: true });
      writeFileSync(join(dir.path, name), text);
    }
    return dir.path;
  }

  it("loads the committed environments in name order, skipping config/schema.json", () => {
    expect(existsSync(join(CONFIG_DIR, "schema.json"))).toBe(true);

    expect(loadEnvironments(CONFIG_DIR).map((e) => e.name)).toEqual(["dev", "local", "prod", "staging"]);
  });

  it("names each environment after its file, which it keeps relative to the working directory", () => {
    const dir = folder({ "qa-eu.json": DEV });

    const [env] = loadEnvironments(dir);
    expect(env.name).toBe("qa-eu");
    expect(env.file).toBe(relative(process.cwd(), join(dir, "qa-eu.json")));
  });

  it("ignores files that are not <env>.json", () => {
    const dir = folder({ "dev.json": DEV, "README.md": "#", "Dev.json": "{}", "dev.json.bak": "{}", "_x.json": "{}" });

    expect(loadEnvironments(dir).map((e) => e.name)).toEqual(["dev"]);
  });

  it("validates every file before returning any, listing the problems of each", () => {
    // GIVEN
    const badDev = changed(DEV, (c) => (c.postgres.port = 0));
    const badProd = changed(PROD, (c) => (c.postgres.sslmode = "require"));
    const dir = folder({ "dev.json": badDev, "prod.json": badProd, "staging.json": DEV });

    // WHEN
    let error: unknown;
    try {
      loadEnvironments(dir);
    } catch (err) {
      error = err;
    }

    // THEN
    expect(error).toBeInstanceOf(ConfigError);
    const shown = (f: string) => relative(process.cwd(), join(dir, f));
    expect((error as ConfigError).problems).toEqual([
      problem(shown("dev.json"), "postgres.port", "", "0"),
      problem(shown("prod.json"), "postgres.sslmode", "prod must verify the server certificate", '"require"'),
    ]);
  });

  it("loads only the environments asked for", () => {
    const dir = folder({ "dev.json": DEV, "prod.json": PROD, "staging.json": "not even JSON" });

    expect(loadEnvironments(dir, ["prod", "dev"]).map((e) => e.name)).toEqual(["dev", "prod"]);
  });

  it("fails when an environment asked for has no file", () => {
    const dir = folder({ "dev.json": DEV });

    expect(() => loadEnvironments(dir, ["dev", "qa"])).toThrow(`${join(dir, "qa.json")}: no such environment file`);
  });

  it("fails when the folder has no environment file", () => {
    const dir = folder({ "schema.json": "{}" });

    expect(() => loadEnvironments(dir)).toThrow(`${dir}: no environment files (<env>.json) found`);
  });

  describe("auth.kubernetes.caCertFile", () => {
    /** dev.json with Kubernetes auth trusting that CA file, beside a PEM and a file that is not one. */
    function withCaFile(caCertFile: string): { dir: string; shown: string } {
      const dev = changed(DEV, (c) => {
        k8sBinding(c);
        c.auth.kubernetes.caCertFile = caCertFile;
      });
      const dir = folder({ "dev.json": dev, "k8s/ca.pem": CA_PEM, "k8s/ca.txt": "not a certificate\n" });
      return { dir, shown: relative(process.cwd(), join(dir, "dev.json")) };
    }

    it("reads the PEM relative to the config file, not to the working directory", () => {
      // GIVEN a CA file that exists only beside the config file
      const { dir } = withCaFile("k8s/ca.pem");
      expect(existsSync(join(process.cwd(), "k8s/ca.pem"))).toBe(false);

      // WHEN
      const [env] = loadEnvironments(dir);

      // THEN
      expect(env.kubernetesCaCert).toBe(CA_PEM);
    });

    it("reads nothing when no CA file is configured", () => {
      const dir = folder({ "dev.json": changed(DEV, (c) => k8sBinding(c)) });

      const [env] = loadEnvironments(dir);
      expect(env.auth.kubernetes?.caCertFile).toBeUndefined();
      expect(env.kubernetesCaCert).toBeUndefined();
    });

    it("fails when the file is not a PEM certificate, naming the file, the field and the CA file", () => {
      const { dir, shown } = withCaFile("k8s/ca.txt");

      expect(loadProblems(dir)).toEqual([
        `${shown}: auth.kubernetes.caCertFile: "k8s/ca.txt" is not a PEM certificate (no -----BEGIN CERTIFICATE-----)`,
      ]);
    });

    it("fails when the file is missing, naming the file, the field and the CA file", () => {
      const { dir, shown } = withCaFile("k8s/missing.pem");

      expect(loadProblems(dir)).toEqual([`${shown}: auth.kubernetes.caCertFile: cannot read "k8s/missing.pem" (ENOENT)`]);
    });
  });
});

describe("loadEnvironments: postgres.caCertFile", () => {
  const dirs: Array<{ remove: () => void }> = [];
  afterAll(() => {
    for (const d of dirs) d.remove();
  });

  /** dev.json with sslmode and caCertFile set, beside a PEM, a file that is not one and a PEM with a key. */
  function withCaFile(caCertFile: string, sslmode = "verify-full"): { dir: string; shown: string } {
    const dir = tempDir("pg-ca");
    dirs.push(dir);
    const files: Record<string, string> = {
      "dev.json": changed(DEV, (c) => Object.assign(c.postgres, { sslmode, caCertFile })),
      "pg/ca.pem": CA_PEM,
      "pg/ca.txt": "not a certificate\n",
      "pg/truncated.pem": CA_PEM.slice(0, CA_PEM.indexOf("-----END CERTIFICATE-----")),
      "pg/bundle.pem": `${CA_PEM}-----BEGIN PRIVATE KEY-----\nTUlJ\n-----END PRIVATE KEY-----\n`,
    };
    for (const [name, text] of Object.entries(files)) {
      mkdirSync(dirname(join(dir.path, name)), { recursive: true });
      writeFileSync(join(dir.path, name), text);
    }
    return { dir: dir.path, shown: relative(process.cwd(), join(dir.path, "dev.json")) };
  }

  it.each(["verify-full", "verify-ca"])("reads the PEM and its absolute path, relative to the config file, with sslmode %s", (sslmode) => {
    // GIVEN a CA file that exists only beside the config file
    const { dir } = withCaFile("pg/ca.pem", sslmode);
    expect(existsSync(join(process.cwd(), "pg/ca.pem"))).toBe(false);

    // WHEN
    const [env] = loadEnvironments(dir);

    // THEN
    expect(env.postgresCaCert).toEqual({ pem: CA_PEM, path: join(dir, "pg/ca.pem") });
    expect(env.postgres.caCertFile).toBe("pg/ca.pem");
  });

  it("reads nothing when no CA file is configured", () => {
    expect(parseEnvironment("dev", "config/dev.json", DEV).postgresCaCert).toBeUndefined();
  });

  it("fails when the file is not a PEM certificate, naming the file, the field and the CA file", () => {
    const { dir, shown } = withCaFile("pg/ca.txt");

    expect(loadProblems(dir)).toEqual([`${shown}: postgres.caCertFile: "pg/ca.txt" is not a PEM certificate (no -----BEGIN CERTIFICATE-----)`]);
  });

  it("fails on a certificate cut short, as the constructs would, naming what is missing", () => {
    const { dir, shown } = withCaFile("pg/truncated.pem");

    expect(loadProblems(dir)).toEqual([`${shown}: postgres.caCertFile: "pg/truncated.pem" is not a PEM certificate (no -----END CERTIFICATE-----)`]);
  });

  it("fails when the file is missing, naming the file, the field and the CA file", () => {
    const { dir, shown } = withCaFile("pg/missing.pem");

    expect(loadProblems(dir)).toEqual([`${shown}: postgres.caCertFile: cannot read "pg/missing.pem" (ENOENT)`]);
  });

  it("fails when the file holds a private key too, which would be copied into the synthesized stack", () => {
    const { dir, shown } = withCaFile("pg/bundle.pem");

    expect(loadProblems(dir)).toEqual([
      `${shown}: postgres.caCertFile: "pg/bundle.pem" holds a private key: give the CA certificate alone, it is copied into the synthesized stack`,
    ]);
  });

  it("reports a bad PostgreSQL and a bad Kubernetes CA file at once", () => {
    // GIVEN
    const { dir, shown } = withCaFile("pg/missing.pem");
    const config = JSON.parse(readFileSync(join(dir, "dev.json"), "utf8")) as TfJson;
    k8sBinding(config);
    config.auth.kubernetes.caCertFile = "pg/ca.txt";
    writeFileSync(join(dir, "dev.json"), JSON.stringify(config));

    // THEN
    expect(loadProblems(dir)).toEqual([
      `${shown}: auth.kubernetes.caCertFile: "pg/ca.txt" is not a PEM certificate (no -----BEGIN CERTIFICATE-----)`,
      `${shown}: postgres.caCertFile: cannot read "pg/missing.pem" (ENOENT)`,
    ]);
  });
});
