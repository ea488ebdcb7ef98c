/**
 * Credentials delivered by the agent, while they rotate: the `local` stack deployed by OpenTofu with both
 * providers (PostgreSQL 15), leases of 20 s that renew up to a 60 s maximum, and for every application the
 * synthesized `agent.hcl` and systemd unit run as a host would run them — `bao agent` against OpenBao and
 * `vault agent` against HashiCorp Vault, AppRole auto-auth with a role ID and a secret ID written as
 * provisioning would. A small application (fixture/rotating-app.mjs) queries PostgreSQL every 250 ms with
 * the rendered libpq service file and switches when the agent's command signals it.
 *
 * Checked, on both servers: the queries keep succeeding across rotations (failed queries and the longest
 * gap are reported, and bounded); the agent renews a lease before replacing it; every replaced user is
 * dropped by its lease's end and can no longer log in; the token carries the application's policy only;
 * the env files of Chatwoot and n8n and the service file log in as their base roles through libpq and
 * node-postgres; and once the units stop (ExecStopPost revokes the token) no issued user or lease is left.
 */
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { LocalDeployment } from "../../harness/deployment";
import { run, startProcess, waitFor, type Started } from "../../harness/processes";
import { envFile, provisionHost, type UnitCommands } from "./fixture/agent-unit";
import { e2eToolchain } from "./fixture/toolchain";

const toolchain = await e2eToolchain(import.meta.url);

/** How long the application runs while credentials rotate: more than two max TTLs. */
const RUN_SECONDS = Number(process.env.KEYBUZZ_AGENT_SECONDS ?? 150);
const DEFAULT_TTL = 20;
const MAX_TTL = 60;
const APPS = ["keybuzz-api", "chatwoot", "n8n", "workers"] as const;
const APP_SCRIPT = join(__dirname, "fixture", "rotating-app.mjs");

/** user and password of the `[section]` of a libpq service file. */
function serviceCredentials(path: string): { user: string; password: string } {
  const text = readFileSync(path, "utf8");
  return { user: /^user=(.*)$/m.exec(text)![1], password: /^password=(.*)$/m.exec(text)![1] };
}

interface Figures {
  server: string;
  queries: number;
  failed: number;
  longestGapMs: number;
  users: number;
  renewedLeases: number;
  longestUserLifeS: number;
}

const SERVERS = toolchain
  ? [
      { label: "OpenBao", binary: toolchain.bao },
      { label: "HashiCorp Vault", binary: toolchain.vault },
    ]
  : [];

describe.skipIf(!toolchain)("Vault Agent delivers rotating credentials to a running application", () => {
  it.concurrent.each(SERVERS)(
    "$label: the application stays connected while its credentials rotate, and nothing is left",
    async ({ label, binary }) => {
      const work = mkdtempSync(join(tmpdir(), "keybuzz-agent-"));
      chmodSync(work, 0o711);
      const etc = join(work, "etc");
      const runDir = join(work, "run");
      const pidFile = join(work, "app.pid");
      const agents: Started[] = [];
      let app: Started | undefined;
      let env: LocalDeployment | undefined;
      // printed in `finally`, so that a failed bound still shows what was measured.
      let f: Figures | undefined;
      try {
        env = await LocalDeployment.start({
          server: toolchain!.postgres[0],
          vaultBinary: binary,
          tools: { engine: toolchain!.tofu, cliConfig: toolchain!.cliConfig },
          log: `[e2e agent ${label}]`,
          patchConfig: (config) => {
            config.agent = { configDirectory: etc, runDirectory: runDir, binary };
            for (const a of config.applications) {
              a.defaultTtl = `${DEFAULT_TTL}s`;
              a.maxTtl = `${MAX_TTL}s`;
              if (a.name === "keybuzz-api") a.agent = { command: ["/bin/sh", "-c", `[ ! -f ${pidFile} ] || kill -HUP "$(cat ${pidFile})"`] };
            }
          },
        });
        const e = env;
        await e.deploy();

        // provisioning: each host gets its agent.hcl, role ID and secret ID; the unit's run folder exists.
        const units: Record<string, UnitCommands> = {};
        for (const name of APPS) units[name] = await provisionHost(e, name, { etc, runDir });
        for (const name of APPS) {
          const u = units[name];
          agents.push(startProcess(u.start[0], u.start.slice(1), { env: { PATH: process.env.PATH, HOME: u.home } }));
        }
        const file = (name: string, f: string) => join(runDir, name, f);
        await waitFor(
          "every agent's first render",
          async () =>
            existsSync(file("keybuzz-api", "pg_service.conf")) &&
            existsSync(file("workers", "pg_service.conf")) &&
            existsSync(file("chatwoot", "chatwoot.env")) &&
            existsSync(file("n8n", "n8n.env")),
          60_000,
        ).catch((err) => {
          throw new Error(`${(err as Error).message}\n${agents.map((a) => a.output()).join("\n---\n")}`);
        });

        // the rendered files log in as the base roles: the service file through libpq (psql), Chatwoot's env
        // file through libpq's PG* variables, n8n's through node-postgres, as those programs read them.
        const psql = join(toolchain!.postgres[0].binDir, "psql");
        const viaService = await run(psql, ["-X", "-At", "-c", "SELECT session_user || ' ' || current_user"], {
          env: { PATH: process.env.PATH, PGSERVICEFILE: file("workers", "pg_service.conf"), PGSERVICE: "workers" },
        });
        expect(viaService.stderr).toBe("");
        expect(viaService.stdout.trim()).toMatch(/^v-\S+ keybuzz_workers$/);
        const cw = envFile(file("chatwoot", "chatwoot.env"));
        const viaChatwoot = await run(
          psql,
          [
            "-X",
            "-At",
            "-h",
            cw.POSTGRES_HOST,
            "-p",
            cw.POSTGRES_PORT,
            "-U",
            cw.POSTGRES_USERNAME,
            "-d",
            cw.POSTGRES_DATABASE,
            "-c",
            "SELECT current_user",
          ],
          {
            env: { PATH: process.env.PATH, PGPASSWORD: cw.POSTGRES_PASSWORD, PGSSLMODE: cw.PGSSLMODE, PGOPTIONS: cw.PGOPTIONS },
          },
        );
        expect(viaChatwoot.stderr).toBe("");
        expect(viaChatwoot.stdout.trim()).toBe("chatwoot");
        const n8n = envFile(file("n8n", "n8n.env"));
        const viaN8n = await run(
          process.execPath,
          [
            "-e",
            `const { Client } = require("pg"); const e = process.env;
           const c = new Client({ host: e.DB_POSTGRESDB_HOST, port: +e.DB_POSTGRESDB_PORT, database: e.DB_POSTGRESDB_DATABASE, user: e.DB_POSTGRESDB_USER, password: e.DB_POSTGRESDB_PASSWORD });
           c.connect().then(() => c.query("SELECT current_user AS u, current_schemas(false)::text AS s")).then((r) => { console.log(r.rows[0].u); return c.end(); });`,
          ],
          { cwd: join(__dirname, "..", ".."), env: { PATH: process.env.PATH, ...n8n } },
        );
        expect(viaN8n.stderr).toBe("");
        expect(viaN8n.stdout.trim()).toBe("n8n");

        // the token is the application's policy and nothing else: no default policy, no other credentials.
        const token = readFileSync(file("keybuzz-api", ".vault-token"), "utf8").trim();
        const self = await e.v("GET", "auth/token/lookup-self", undefined, token);
        expect(self.body.data.policies).toEqual(["keybuzz-api-db"]);
        const other = await e.v("GET", "database/creds/chatwoot-db", undefined, token);
        expect(other.status).toBe(403);

        // the application, and what the catalog and Vault say while it runs.
        app = startProcess(process.execPath, [APP_SCRIPT], {
          env: { PATH: process.env.PATH, PGSERVICEFILE: file("keybuzz-api", "pg_service.conf"), PGSERVICE: "keybuzz-api", APP_PID_FILE: pidFile },
        });
        const rendered = new Map<string, { password: string; at: number }>();
        const alive = new Map<string, { first: number; last: number }>();
        const renewed = new Set<string>();
        const deadline = Date.now() + RUN_SECONDS * 1000;
        e.log(`the application runs ${RUN_SECONDS} s; leases ${DEFAULT_TTL} s, max ${MAX_TTL} s`);
        while (Date.now() < deadline) {
          const creds = serviceCredentials(file("keybuzz-api", "pg_service.conf"));
          if (!rendered.has(creds.user)) rendered.set(creds.user, { password: creds.password, at: Date.now() });
          const users = await e.pg.query<{ rolname: string }>(
            `SELECT r.rolname FROM pg_roles r JOIN pg_auth_members m ON m.member = r.oid JOIN pg_roles b ON b.oid = m.roleid
           WHERE b.rolname = 'keybuzz_api' AND r.rolname LIKE 'v-%'`,
          );
          const now = Date.now();
          for (const { rolname } of users) {
            const seen = alive.get(rolname);
            alive.set(rolname, { first: seen?.first ?? now, last: now });
          }
          for (const id of await e.outstandingLeases("keybuzz-api-db")) {
            const lease = await e.v("PUT", "sys/leases/lookup", { lease_id: `database/creds/keybuzz-api-db/${id}` });
            if (lease.status === 200 && lease.body.data.last_renewal) renewed.add(id);
          }
          await new Promise((r) => setTimeout(r, 1000));
        }
        // a render of the last second: let the application act on it before reading what it did.
        await new Promise((r) => setTimeout(r, 2000));
        const endedAt = Date.now();

        const events = app
          .output()
          .split("\n")
          .filter((l) => l.startsWith("{"))
          .map((l) => JSON.parse(l) as { t: number; event: string; ok?: boolean; user?: string; role?: string; error?: string });
        const queries = events.filter((ev) => ev.event === "query");
        const okTimes = queries.filter((q) => q.ok).map((q) => q.t);
        const longestGapMs = Math.max(...okTimes.slice(1).map((t, i) => t - okTimes[i]));
        const failed = queries.filter((q) => !q.ok);
        // users whose lease has ended by now (rendered when issued; Vault drops them at the latest at max TTL).
        const ended = [...rendered.entries()].filter(([, r]) => r.at + (MAX_TTL + 5) * 1000 < endedAt).map(([user]) => user);
        const lives = [...alive.values()].map((l) => (l.last - l.first) / 1000);
        f = {
          server: e.vault.label,
          queries: queries.length,
          failed: failed.length,
          longestGapMs,
          users: rendered.size,
          renewedLeases: renewed.size,
          longestUserLifeS: Math.max(...lives),
        };

        // rotation happened more than once, after renewals, and the application followed every time.
        expect(rendered.size).toBeGreaterThanOrEqual(3);
        expect(renewed.size).toBeGreaterThanOrEqual(1);
        const connectedUsers = new Set(events.filter((ev) => ev.event === "connected").map((ev) => ev.user));
        for (const user of rendered.keys()) expect(connectedUsers).toContain(user);
        expect(queries.filter((q) => q.ok).every((q) => q.role === "keybuzz_api")).toBe(true);
        expect(failed.map((q) => `${new Date(q.t).toISOString()} ${q.user}: ${q.error}`)).toEqual([]);
        expect(longestGapMs).toBeLessThan(2000);

        // every user whose lease has ended was dropped by then, and can no longer log in.
        expect(ended.length).toBeGreaterThanOrEqual(1);
        for (const user of ended) {
          const roles = await e.pg.query("SELECT 1 FROM pg_roles WHERE rolname = $1", [user]);
          const life = alive.get(user);
          expect({ user, exists: roles.length }).toEqual({ user, exists: 0 });
          expect(life && (life.last - life.first) / 1000).toBeLessThanOrEqual(MAX_TTL + 5);
          const login = e.pg.client(e.databaseName, user, rendered.get(user)!.password);
          await expect(login.connect()).rejects.toThrow(/password authentication failed|does not exist|not permitted to log in/);
          await login.end().catch(() => undefined);
        }

        // stop: the units' ExecStopPost revokes each agent's token, and with it every credential it read.
        app.signal("SIGTERM");
        await app.exited;
        for (const a of agents) a.signal("SIGTERM");
        await Promise.all(agents.map((a) => a.exited));
        for (const name of APPS) {
          const u = units[name];
          const revoked = await run(u.stopPost[0], u.stopPost.slice(1), { env: { PATH: process.env.PATH, HOME: u.home } });
          expect(revoked.code, `${name}: ${revoked.stdout}${revoked.stderr}`).toBe(0);
        }
        await waitFor("no issued user left", async () => (await e.dynamicRoles()).length === 0, 15_000).catch(() => undefined);
        expect(await e.dynamicRoles()).toEqual([]);
        for (const name of APPS) expect(await e.outstandingLeases(`${name}-db`)).toEqual([]);
        expect(await e.irrevocableLeases()).toBe(0);
      } finally {
        app?.signal("SIGKILL");
        for (const a of agents) a.signal("SIGKILL");
        await env?.stop();
        rmSync(work, { recursive: true, force: true });
        if (f) {
          process.stderr.write(
            [
              "",
              `[e2e agent] ── ${f.server}, ${RUN_SECONDS} s, leases ${DEFAULT_TTL} s / max ${MAX_TTL} s ──`,
              `[e2e agent] queries: ${f.queries}, failed: ${f.failed}, longest gap between successful queries: ${f.longestGapMs} ms`,
              `[e2e agent] users the application used: ${f.users}; leases renewed before replacement: ${f.renewedLeases}; longest user life: ${f.longestUserLifeS.toFixed(0)} s`,
              "",
            ].join("\n"),
          );
        }
      }
    },
    600_000,
  );
});
