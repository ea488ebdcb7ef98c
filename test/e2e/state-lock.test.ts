/**
 * Shared state with locking: the `local` stack configured with the `pg` backend (state in PostgreSQL,
 * OpenTofu's built-in backend, connection string from PG_CONN_STR only), deployed from two working
 * copies at once, as two engineers would.
 *
 * Engineer A runs `tofu apply` and sits at the "Enter a value:" prompt, holding the lock. Engineer B's
 * apply with -lock-timeout=0s fails at once, saying the workspace is locked, and writes nothing;
 * B's apply with a lock timeout waits, then finds A's work done (no changes). A deploy killed while it
 * holds the lock leaves neither lock nor damage. The state is whole afterwards: one row per workspace,
 * every resource present, and a plan from either copy is clean. What the state holds, once the last test
 * passes, goes to test-results/figures/state-lock.json for docs/reliability.md (fixture/figures.ts).
 */
import { spawn } from "node:child_process";
import { copyFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LocalDeployment } from "../../harness/deployment";
import { waitFor } from "../../harness/processes";
import { recordFigures } from "./fixture/figures";
import { e2eToolchain } from "./fixture/toolchain";

const toolchain = await e2eToolchain(import.meta.url);

/** A tofu process whose stdin stays open, so it can be answered at its prompt. */
interface Interactive {
  readonly output: () => string;
  readonly answer: (line: string) => void;
  readonly exited: Promise<number>;
  readonly kill: () => void;
}

describe.skipIf(!toolchain)("state locking: two deploys at once against the pg backend", () => {
  let env: LocalDeployment;
  let connStr = "";
  const stateDb = "terraform_state";
  const stateUser = "terraform_state";
  const statePassword = randomBytes(18).toString("base64url");
  let dirA = "";
  let dirB = "";
  const running: Interactive[] = [];

  const tofuEnv = () => ({ PG_CONN_STR: connStr });
  const tofuIn = (dir: string, args: string[]) => env.terraform(args, { dir, env: tofuEnv() });

  function interactive(dir: string, args: string[]): Interactive {
    const child = spawn(toolchain!.tofu, [...args, "-no-color"], { cwd: dir, env: env.engineEnv(tofuEnv()), stdio: ["pipe", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (c: Buffer) => (output += c));
    child.stderr.on("data", (c: Buffer) => (output += c));
    return {
      output: () => output,
      answer: (line) => child.stdin.write(`${line}\n`),
      exited: new Promise((r) => child.on("close", (code) => r(code ?? 1))),
      kill: () => child.exitCode === null && child.kill("SIGKILL"),
    };
  }

  /** Advisory locks held in the state database: the pg backend's state lock. */
  const heldLocks = async () =>
    (
      await env.pg.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM pg_locks l JOIN pg_database d ON d.oid = l.database WHERE l.locktype = 'advisory' AND l.granted AND d.datname = $1",
        [stateDb],
      )
    )[0].n;

  beforeAll(async () => {
    env = await LocalDeployment.start({
      server: toolchain!.postgres[0],
      vaultBinary: toolchain!.vault,
      tools: { engine: toolchain!.tofu, cliConfig: toolchain!.cliConfig },
      log: "[e2e state-lock]",
      patchConfig: (config) => {
        config.backend = { type: "pg" };
      },
    });
    // The state lives in its own database, owned by a role that can do nothing else.
    await env.pg.query(`CREATE ROLE ${stateUser} LOGIN PASSWORD '${statePassword}'`);
    await env.pg.query(`CREATE DATABASE ${stateDb} OWNER ${stateUser}`);
    connStr = `postgres://${stateUser}:${statePassword}@127.0.0.1:${env.pg.port}/${stateDb}?sslmode=disable`;
    await env.synth();
    dirA = env.stackDir;
    dirB = join(env.dir, "copy-b");
    mkdirSync(dirB);
    copyFileSync(join(dirA, "cdk.tf.json"), join(dirB, "cdk.tf.json"));
    for (const dir of [dirA, dirB]) {
      const init = await tofuIn(dir, ["init", "-input=false"]);
      expect(init.code, init.output).toBe(0);
      expect(init.output).toMatch(/Successfully configured the backend "pg"/);
    }
  });

  afterAll(async () => {
    for (const p of running) p.kill();
    await env?.stop();
  });

  it("synthesizes a pg backend with no connection string in the JSON", () => {
    expect(env.tf.terraform.backend).toEqual({ pg: { schema_name: "terraform_remote_state" } });
    expect(JSON.stringify(env.tf)).not.toContain(statePassword);
  });

  it("B fails at once on A's lock, naming the workspace; B with a lock timeout waits and finds nothing to do", async () => {
    env.log("A: tofu apply, held at its confirmation prompt (holding the state lock)");
    const a = interactive(dirA, ["apply", "-input=true"]);
    running.push(a);
    await waitFor("A's plan and prompt", async () => /Enter a value:/.test(a.output()), 120_000);
    expect(await heldLocks()).toBeGreaterThan(0);

    env.log("B: tofu apply -lock-timeout=0s while A holds the lock");
    const b = await tofuIn(dirB, ["apply", "-auto-approve", "-input=false", "-lock-timeout=0s"]);
    env.log(
      `B exited ${b.code}: ${b.output
        .split("\n")
        .filter((l) => /Error|Lock Info|Operation|Who/.test(l))
        .join(" | ")}`,
    );
    expect(b.code).toBe(1);
    expect(b.output).toMatch(/Error acquiring the state lock/);
    // PostgreSQL advisory locks carry no holder info: the pg backend names the locked workspace, and the
    // Lock Info that follows is B's own request (docs/operations.md: how to find the holder in pg_stat_activity).
    expect(b.output).toMatch(/already locked.*: default/i);
    expect(b.output).not.toMatch(/Apply complete/);
    expect(b.output).not.toContain(statePassword);

    env.log("B again, with -lock-timeout=120s, while A still holds the lock");
    const bWaiting = tofuIn(dirB, ["apply", "-auto-approve", "-input=false", "-lock-timeout=120s"]);
    await new Promise((r) => setTimeout(r, 2000));
    env.log("A: answering yes");
    a.answer("yes");
    const aCode = await a.exited;
    expect(aCode, a.output()).toBe(0);
    expect(a.output()).toMatch(/Apply complete! Resources: \d+ added, 0 changed, 0 destroyed/);
    const b2 = await bWaiting;
    env.log(`B (waiting) exited ${b2.code}`);
    expect(b2.code, b2.output).toBe(0);
    expect(b2.output).toMatch(/No changes\./);
    expect(await heldLocks()).toBe(0);
  });

  it("a deploy killed while it holds the lock leaves no lock and the state as it was", async () => {
    const before = await tofuIn(dirA, ["state", "pull"]);
    expect(before.code, before.output).toBe(0);
    const policy = Object.keys(env.tf.resource.vault_policy)[0];
    env.log(`A: tofu apply -replace=vault_policy.${policy}, held at its prompt, then killed (SIGKILL)`);
    const a = interactive(dirA, ["apply", "-input=true", `-replace=vault_policy.${policy}`]);
    running.push(a);
    await waitFor("A's plan and prompt", async () => /Enter a value:/.test(a.output()), 120_000);
    expect(await heldLocks()).toBeGreaterThan(0);
    a.kill();
    await a.exited;
    await waitFor("PostgreSQL to end the killed deploy's session and its lock", async () => (await heldLocks()) === 0, 30_000);
    const plan = await tofuIn(dirB, ["plan", "-detailed-exitcode", "-input=false", "-lock-timeout=0s"]);
    expect(plan.code, plan.output).toBe(0);
    const after = await tofuIn(dirB, ["state", "pull"]);
    expect(JSON.parse(after.stdout).serial).toBe(JSON.parse(before.stdout).serial);
    env.log("B: the lock was free at once, the plan clean and the state serial unchanged");
  });

  it("the state is whole: one row, every resource, clean plans from both copies", async () => {
    const rows = await env.pg.query<{ name: string; size: number }>(
      "SELECT name, length(data)::int AS size FROM terraform_remote_state.states ORDER BY name",
      [],
      stateDb,
    );
    expect(rows.map((r) => r.name)).toEqual(["default"]);
    const pulled = await tofuIn(dirA, ["state", "pull"]);
    expect(pulled.code, pulled.output).toBe(0);
    const state = JSON.parse(pulled.stdout);
    const inState = (state.resources as { type: string; name: string }[]).map((r) => `${r.type}.${r.name}`).sort();
    const declared = Object.entries(JSON.parse(JSON.stringify(env.tf.resource)) as Record<string, Record<string, unknown>>)
      .flatMap(([type, byName]) => Object.keys(byName).map((name) => `${type}.${name}`))
      .sort();
    expect(inState).toEqual(declared);
    for (const secret of [env.adminPassword, env.vault.rootToken, env.pg.superuserPassword, statePassword]) {
      expect(pulled.stdout).not.toContain(secret);
    }
    for (const dir of [dirA, dirB]) {
      const plan = await tofuIn(dir, ["plan", "-detailed-exitcode", "-input=false"]);
      expect(plan.code, plan.output).toBe(0);
    }
    env.log(`state: serial ${state.serial}, ${inState.length} resources, ${rows[0].size} bytes in ${stateDb}.terraform_remote_state.states`);
    recordFigures("state-lock", {
      postgres: env.pg.serverVersion.split(" ").slice(0, 2).join(" "),
      server: env.vault.label,
      stateRows: rows.length,
      resourcesInState: inState.length,
      serial: state.serial,
      stateBytes: rows[0].size,
    });
  });
});
