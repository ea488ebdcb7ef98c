/**
 * `npm run sandbox`: the one-command way to see the stack work. Starts PostgreSQL and OpenBao (or Vault)
 * on free loopback ports, deploys `local` onto them with `cdktf deploy`, prints ready-to-paste commands,
 * and on {@link Sandbox.stop} (Ctrl-C) stops both servers and removes its folder. Two sandboxes can run
 * at once: nothing is shared but the tool cache.
 */
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { LocalEnvironment } from "./environment";
import { LEASE_AUDIT_NAMES } from "../constructs/lease-audit";
import { cdktfCommand, localPaths, PROJECT_ROOT } from "./stack";
import { startProcess, type Started } from "./processes";
import { findTools, onPath, postgresMajor, type SandboxTools } from "./toolchain";

/** Thrown by {@link Sandbox.start} when {@link Sandbox.stop} was called while it was starting. */
export class SandboxStopped extends Error {
  constructor() {
    super("the sandbox was stopped while it was starting");
  }
}

/** A sandbox being set up, running, or stopped. */
export class Sandbox {
  private env?: LocalEnvironment;
  private deploying?: Started;
  private stopping = false;
  /** The step {@link start} is in, for {@link stop} to wait for. */
  private current: Promise<unknown> = Promise.resolve();
  private tools?: SandboxTools;
  private resources = 0;
  private deploySeconds = 0;

  constructor(private readonly progress: (line: string) => void) {}

  /** Runs one step of {@link start}; throws {@link SandboxStopped} once {@link stop} was called. */
  private async step<T>(work: () => Promise<T>): Promise<T> {
    if (this.stopping) throw new SandboxStopped();
    const p = work();
    this.current = p.catch(() => undefined);
    const result = await p;
    if (this.stopping) throw new SandboxStopped();
    return result;
  }

  /**
   * Finds or builds the tools, starts the servers and deploys `local`. Throws if a step fails (call
   * {@link stop} to clean up), or {@link SandboxStopped} when stopped meanwhile.
   */
  async start(): Promise<void> {
    const tools = await this.step(() => findTools((line) => this.progress(line)));
    this.tools = tools;
    for (const origin of tools.origins) this.progress(origin);
    // assigned inside the step, so that a stop() waiting for it finds the servers to stop.
    const env = await this.step(async () => {
      this.env = await LocalEnvironment.start({
        server: { major: postgresMajor(tools.pgBinDir), binDir: tools.pgBinDir },
        vaultBinary: tools.server,
        tools: { engine: tools.engine, cliConfig: tools.cliConfig },
        log: "[sandbox]",
      });
      return this.env;
    });
    this.progress("cdktf deploy keybuzz-local (synth, init, apply: about 20 s)");
    const started = Date.now();
    // the config for these servers' ports, and the synthesized outputs the instructions name; cdktf then
    // deploys that output as it is (--skip-synth) instead of synthesizing it a second time.
    await this.step(() => env.synth());
    const line = cdktfCommand("deploy", env.dir, env.credentials, ["--skip-synth"]);
    // progress, not the whole plan: what is being created, and anything that goes wrong.
    const progressLines = /Initializing|Plan:|Creation complete|Apply complete|Error|error|Warning/;
    this.deploying = startProcess(line.command, line.args, { cwd: line.cwd, env: line.env, echo: "[sandbox] cdktf |", echoOnly: progressLines });
    const deploying = this.deploying;
    const code = await this.step(() => deploying.exited);
    this.deploying = undefined;
    if (code !== 0) {
      const tail = deploying.output().trimEnd().split("\n").slice(-40).join("\n");
      throw new Error(`cdktf deploy keybuzz-local failed (exit ${code}); the end of its output:\n${tail}`);
    }
    this.resources = Number(/Apply complete! Resources: (\d+) added/.exec(deploying.output())?.[1] ?? 0);
    this.deploySeconds = (Date.now() - started) / 1000;
  }

  /** Whether {@link stop} was called. */
  get stopped(): boolean {
    return this.stopping;
  }

  /** What to paste into another terminal, once {@link start} has finished. */
  instructions(): string {
    const env = this.env!;
    const tools = this.tools!;
    const cli = env.vault.cli;
    const prefix = cli.toUpperCase();
    const onPathAlready = onPath(cli) === tools.server;
    const psql = onPath("psql") || !existsSync(join(tools.pgBinDir, "psql")) ? "psql" : join(tools.pgBinDir, "psql");
    const helper = join(PROJECT_ROOT, "sandbox", "creds-env.mjs");
    const apps = (env.tf.output.applications.value ?? {}) as Record<string, { credentials_path: string; base_role?: string }>;
    const apiBase = apps["keybuzz-api"]?.base_role ?? "keybuzz_api";
    const lines = [
      `Sandbox ready: ${env.vault.label} on ${env.vault.address}, PostgreSQL ${env.pg.serverVersion.split(" ")[1]} on 127.0.0.1:${env.pg.port};`,
      `keybuzz-local deployed with cdktf (${this.resources} resources, ${this.deploySeconds.toFixed(0)} s).`,
      `Folder ${env.dir} and processes ${env.vault.product} ${env.vault.pid}, PostgreSQL ${env.pg.pid}: all removed when you stop it.`,
      "",
      "Paste into another terminal:",
      "",
      `  export ${prefix}_ADDR=${env.vault.address} ${prefix}_TOKEN=${env.vault.rootToken}   # this throwaway server's root token`,
      ...(onPathAlready ? [] : [`  export PATH="${dirname(tools.server)}:$PATH"   # the ${cli} built for the sandbox`]),
      `  export PGHOST=127.0.0.1 PGPORT=${env.pg.port} PGDATABASE=${env.databaseName}`,
      "",
      "  # credentials for each application: a new PostgreSQL user in its base role, with a 1 h lease",
      ...Object.values(apps).map((a) => `  ${cli} read ${a.credentials_path}`),
      "",
      "  # one keybuzz-api credential into PGUSER, PGPASSWORD and LEASE_ID; log in; renew; revoke",
      `  eval "$(${cli} read -format=json ${apps["keybuzz-api"]?.credentials_path ?? "database/creds/keybuzz-api-db"} | node ${helper})"`,
      `  PGOPTIONS='-c role=${apiBase}' ${psql} -c 'SELECT session_user, current_user'   # role set at login: what it creates is ${apiBase}'s`,
      `  ${cli} lease renew "$LEASE_ID"`,
      `  ${cli} lease revoke "$LEASE_ID"`,
      `  ${psql} -c 'SELECT 1'   # refused now: the revocation dropped the user`,
      "",
      "  # the lease audit: Vault's leases held against PostgreSQL's users, with a token that may only audit",
      `  KEYBUZZ_CONFIG_DIR=${localPaths(env.dir).configDir} VAULT_TOKEN="$(${cli} token create -policy=${LEASE_AUDIT_NAMES.auditPolicy} -no-default-policy -ttl=1h -field=token)" npm --prefix ${PROJECT_ROOT} run --silent leases -- --env local`,
      "",
      "Stop with Ctrl-C.",
    ];
    return `${lines.join("\n")}\n`;
  }

  /**
   * Stops everything and removes the folder; safe at any point, and twice. A deploy under way is
   * interrupted as Ctrl-C would (SIGINT to its process group), then killed if it does not stop in 20 s.
   */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    const deploying = this.deploying;
    if (deploying) {
      this.progress("interrupting cdktf deploy");
      deploying.signal("SIGINT");
      const killer = setTimeout(() => deploying.signal("SIGKILL"), 20_000);
      await deploying.exited.catch(() => undefined);
      clearTimeout(killer);
    }
    // a step under way (finding tools, starting servers) ends before its results are cleaned up.
    await this.current;
    if (this.env) {
      this.progress(`stopping ${this.env.vault?.product ?? "the server"} and PostgreSQL, removing ${this.env.dir}`);
      await this.env.stop();
    }
  }
}
