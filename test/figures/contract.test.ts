/**
 * figures/contract.ts: the figures files read into their typed shape, and a mismatch named by file and field.
 * The writer's side of the contract is the typecheck of the suites (test/e2e/fixture/figures.ts takes
 * {@link SuiteFigures}); the `@ts-expect-error` lines below fail `tsc` if the types stop holding it.
 */
import { describe, expect, it } from "vitest";
import { type FiguresFile, type IrrevocableFigures, parseFiguresFile, SUITES, type SuiteFigures, type SuiteName } from "../../figures/contract";
import { CHURN } from "./fixture";

const FILE = "test-results/figures/x.json";

/** A file as recordFigures writes it. */
function file<S extends SuiteName>(suite: S, figures: SuiteFigures<S>): FiguresFile<S> {
  return {
    suite,
    recordedAt: "2026-11-29T10:00:00.000Z",
    node: "v20.0.0",
    platform: "linux 6.1 x64",
    cpus: 2,
    cpuModel: "Test CPU",
    memoryGiB: 8,
    figures,
  };
}

/** Through JSON, as the files are. */
const json = (value: unknown): unknown => JSON.parse(JSON.stringify(value));

describe("parseFiguresFile", () => {
  it("reads a whole suite's figures under the suite's name, with when and where they were recorded", () => {
    const { record, problems } = parseFiguresFile(FILE, json(file("churn", CHURN)), "churn");
    expect(problems).toEqual([]);
    expect(record?.figures.churn).toEqual(CHURN);
    expect(record).toMatchObject({
      suite: "churn",
      recordedAt: "2026-11-29T10:00:00.000Z",
      cpus: 2,
      cpuModel: "Test CPU",
      platform: "linux 6.1 x64",
    });
  });

  it("reads each part of a suite under `<suite>/<part>`", () => {
    const outages: SuiteFigures<"outages"> = {
      deployVaultDown: { exitCode: 1, planAfterwards: 2, planInTheEnd: 0 },
      deployPostgresDown: { exitCode: 1, planWhileDown: 1, planAfterwards: 2, planInTheEnd: 0 },
    };
    const { record, problems } = parseFiguresFile(FILE, json(file("outages", outages)), "outages");
    expect(problems).toEqual([]);
    expect(record?.figures["outages/deployVaultDown"]).toEqual({ exitCode: 1, planAfterwards: 2, planInTheEnd: 0 });
    expect(record?.figures["outages/deployPostgresDown"]?.planWhileDown).toBe(1);
    expect(record?.figures["outages/restart"]).toBeUndefined();
  });

  it("leaves out a whole suite's figures that lack a field, naming the file, the field and what it got", () => {
    const { cycles: _, ...withoutCycles } = CHURN;
    const { record, problems } = parseFiguresFile(FILE, json(file("churn", withoutCycles as SuiteFigures<"churn">)), "churn");
    expect(record?.figures.churn).toBeUndefined();
    expect(record?.suite).toBe("churn");
    expect(problems).toEqual([`${FILE}: figures.cycles: missing, expected number (got missing)`]);
  });

  it("names a field of the wrong type deep inside, with its path and value", () => {
    const ha: SuiteFigures<"ha-sync"> = {
      server: "Vault 1.21.0",
      replication: "sync",
      orphanUsers: 0,
      nodes: 2,
      failedLogins: [{ event: "switchover", application: "unknown", reason: "server_unavailable", count: 2 }],
      recoveries: [
        { event: "crash of node1", issuanceBackSeconds: 4.1, longestGapSeconds: 4.1, healthySeconds: 5.8, failed: { issue: 1 }, made: { issue: 51 } },
      ],
    };
    const data = json(file("ha-sync", ha)) as { figures: { recoveries: { healthySeconds: unknown }[] } };
    data.figures.recoveries[0].healthySeconds = "5.8";
    const { record, problems } = parseFiguresFile(FILE, data, "ha-sync");
    expect(record?.figures["ha-sync"]).toBeUndefined();
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^test-results\/figures\/x\.json: figures\.recoveries\[0\]\.healthySeconds: .*expected number.* \(got "5\.8"\)$/);
  });

  it("leaves out only the part that does not match, and names a part the suite does not have", () => {
    const data = json(
      file("irrevocable", {
        bao: { server: "OpenBao 2.6.2", postgres: "PostgreSQL 15.20", gaveUpAfterSeconds: 612.4, lastError: "refused" },
        vault: { server: "Vault 1.21.0", gaveUpAfterSeconds: 600 } as IrrevocableFigures,
      }),
    ) as { figures: Record<string, unknown> };
    data.figures.consul = { server: "Consul" };
    const { record, problems } = parseFiguresFile(FILE, data, "irrevocable");
    expect(record?.figures["irrevocable/bao"]?.gaveUpAfterSeconds).toBe(612.4);
    expect(record?.figures["irrevocable/vault"]).toBeUndefined();
    expect(problems).toEqual([
      `${FILE}: figures.vault.postgres: missing, expected string (got missing)`,
      `${FILE}: figures.vault.lastError: missing, expected string (got missing)`,
      `${FILE}: figures.consul: not a part of irrevocable (expected bao, vault)`,
    ]);
  });

  it("quotes a part or key that is not an identifier", () => {
    const data = json(file("kubernetes", { OpenBao: undefined })) as { figures: Record<string, unknown> };
    data.figures["HashiCorp Vault"] = { server: "Vault 1.21.0" };
    const { problems } = parseFiguresFile(FILE, data, "kubernetes");
    expect(problems[0]).toBe(`${FILE}: figures["HashiCorp Vault"].deletedPodTokenAcceptedForS: missing, expected number (got missing)`);
  });

  it("keeps the record of a suite it does not know, without figures, and says so", () => {
    const data = { ...(json(file("churn", CHURN)) as object), suite: "consul" };
    const { record, problems } = parseFiguresFile(FILE, data, "consul");
    expect(record).toMatchObject({ suite: "consul", figures: {} });
    expect(problems).toEqual([`${FILE}: suite: "consul" is not a suite of the figures contract (figures/contract.ts: ${SUITES.join(", ")})`]);
  });

  it("takes the suite from the file's name when the file does not say", () => {
    const { suite: _, ...data } = file("churn", CHURN);
    expect(parseFiguresFile(FILE, json(data), "churn").record?.figures.churn?.cycles).toBe(5000);
  });

  it("leaves out a file whose date or machine is not as recordFigures writes them", () => {
    const data = { ...(json(file("churn", CHURN)) as object), recordedAt: "yesterday", cpus: "two" };
    const { record, problems } = parseFiguresFile(FILE, data, "churn");
    expect(record).toBeUndefined();
    expect(problems).toHaveLength(2);
    expect(problems[0]).toMatch(/^test-results\/figures\/x\.json: recordedAt: .* \(got "yesterday"\)$/);
    expect(problems[1]).toMatch(/^test-results\/figures\/x\.json: cpus: .*expected number.* \(got "two"\)$/);
  });

  it("knows every suite of test/e2e that records figures", () => {
    expect([...SUITES].sort()).toEqual(
      [
        "churn",
        "crash-loop",
        "ha-async",
        "ha-sync",
        "irrevocable",
        "kubernetes",
        "leases",
        "monitoring-pg15",
        "monitoring-pg17",
        "outages",
        "raft-bao",
        "raft-vault",
        "state-lock",
        "wiring",
      ].sort(),
    );
  });
});

describe("the writer's types", () => {
  it("hold a suite to its figures, and a suite in parts to its part names", () => {
    // @ts-expect-error a churn without its cycles is not churn's figures.
    const missing: SuiteFigures<"churn"> = { ...CHURN, cycles: undefined };
    // @ts-expect-error outages has no part `restarted`.
    const unknownPart: SuiteFigures<"outages"> = { restarted: {} };
    // @ts-expect-error `nightly` is not a suite.
    const unknownSuite: SuiteFigures<"nightly"> = {};
    const partial: SuiteFigures<"leases"> = {};
    expect([missing, unknownPart, unknownSuite, partial]).toHaveLength(4);
  });
});
