/**
 * `npm run sandbox`, as a user runs it: two sandboxes started at once as child processes; each prints its
 * commands; the commands run in bash exactly as printed (credentials for every application, a login with
 * the issued user, renew, revoke, and a login refused afterwards); then one is stopped with Ctrl-C (SIGINT
 * to its process group, as a terminal sends it) and the other with SIGTERM to its own process only. Each
 * must exit 0 and leave no process, no listening port and no folder behind.
 *
 * Then `npm run sandbox -- --kubernetes` (when the Kubernetes tools are there): its Kubernetes commands run
 * as printed (kubectl apply of the synthesized manifests, a Pod the injector mutates, a login with a token
 * bound to it, its credentials read and another application's refused), and Ctrl-C leaves nothing behind.
 *
 * And `npm run sandbox -- --monitoring`: its monitoring commands run as printed (a wrong password, the lease
 * audit into the node exporter's folder, Prometheus's alerts), the sandbox prints the notification naming the
 * application (the monitoring suite bounds how soon), and Ctrl-C leaves no process, port or folder behind.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { connect } from "node:net";
import { afterAll, describe, expect, it } from "vitest";
import { PROJECT_ROOT } from "../../harness/stack";
import { run, startProcess, waitFor, type Started } from "../../harness/processes";
import { e2eToolchain } from "./fixture/toolchain";

const toolchain = await e2eToolchain(import.meta.url);

interface Running {
  readonly proc: Started;
  readonly stdout: () => string;
}

/** What a ready sandbox printed about itself. */
interface Printed {
  readonly folder: string;
  readonly pids: number[];
  readonly ports: number[];
  readonly commands: string[];
}

/** The printed commands: the indented lines that are not comments. */
function commandsIn(text: string): string[] {
  return text
    .split("\n")
    .filter((l) => l.startsWith("  ") && !l.trim().startsWith("#") && l.trim() !== "")
    .map((l) => l.trim());
}

function parse(text: string): Printed {
  const folder = /Folder (\S+) and processes/.exec(text)?.[1];
  const pids = [...(/processes (?:OpenBao|Vault) (\d+), PostgreSQL (\d+)/.exec(text) ?? [])].slice(1).map(Number);
  const ports = [...text.matchAll(/127\.0\.0\.1:(\d+)/g)].map((m) => Number(m[1]));
  const commands = commandsIn(text);
  if (!folder || pids.length !== 2) throw new Error(`cannot read the sandbox's folder and processes from:\n${text}`);
  return { folder, pids, ports: [...new Set(ports)], commands };
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

const listening = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = connect(port, "127.0.0.1");
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });

/** Runs the printed commands in one bash, each followed by a marker with its exit status; returns each one's output and status. */
async function runCommands(commands: readonly string[]): Promise<{ command: string; output: string; code: number }[]> {
  // each command in braces, so that its trailing `# comment` does not swallow the redirection.
  const script = commands.map((c, i) => `printf '\\n@@cmd %d\\n' ${i}\n{ ${c}\n} 2>&1\nprintf '\\n@@rc %d %d\\n' ${i} $?`).join("\n");
  const res = await run("bash", ["-c", script], { env: { PATH: process.env.PATH, HOME: process.env.HOME } });
  return commands.map((command, i) => {
    const m = new RegExp(`@@cmd ${i}\\n([\\s\\S]*?)\\n@@rc ${i} (\\d+)`).exec(res.stdout);
    if (!m) throw new Error(`no output for command ${i} (${command}):\n${res.stdout}\n${res.stderr}`);
    return { command, output: m[1], code: Number(m[2]) };
  });
}

/** Processes whose command line names `folder` (kube-apiserver, etcd and vault-k8s name theirs in their flags). */
function processesIn(folder: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, "utf8").includes(folder)) found.push(Number(entry));
    } catch {
      // gone meanwhile.
    }
  }
  return found;
}

describe.skipIf(!toolchain)("npm run sandbox", () => {
  const started: Running[] = [];

  afterAll(() => {
    for (const s of started) s.proc.signal("SIGKILL");
  });

  function startSandbox(label: string, args: readonly string[] = []): Running {
    const proc = startProcess(process.execPath, ["--import", "tsx", "scripts/sandbox.ts", ...args], {
      cwd: PROJECT_ROOT,
      env: { ...process.env, CHECKPOINT_DISABLE: "1" },
      echo: `[e2e sandbox ${label}]`,
    });
    let stdout = "";
    proc.child.stdout!.on("data", (c: Buffer) => (stdout += c));
    const running = { proc, stdout: () => stdout };
    started.push(running);
    return running;
  }

  it("two at once: each prints working commands, and stops leaving nothing behind", async () => {
    const a = startSandbox("a");
    const b = startSandbox("b");
    for (const s of [a, b]) {
      await waitFor("the sandbox to be ready", async () => /Stop with Ctrl-C\./.test(s.stdout()) || s.proc.child.exitCode !== null, 600_000);
      expect(s.stdout(), s.proc.output()).toMatch(/^Sandbox ready: OpenBao 2\.6\.2 on http:\/\/127\.0\.0\.1:\d+/);
    }
    const [pa, pb] = [parse(a.stdout()), parse(b.stdout())];
    expect(pa.folder).not.toBe(pb.folder);
    expect(pa.ports.filter((p) => pb.ports.includes(p))).toEqual([]);
    for (const p of [pa, pb]) {
      expect(existsSync(p.folder)).toBe(true);
      expect(p.pids.every(alive)).toBe(true);
    }

    for (const [label, p] of [
      ["a", pa],
      ["b", pb],
    ] as const) {
      process.stderr.write(`[e2e sandbox ${label}] running the ${p.commands.length} printed commands in bash\n`);
      const results = await runCommands(p.commands);
      const by = (re: RegExp) => results.filter((r) => re.test(r.command));
      for (const r of by(/^bao read database\/creds\//)) {
        expect(r.code, `${r.command}\n${r.output}`).toBe(0);
        expect(r.output).toMatch(/username\s+v-/);
        expect(r.output).toMatch(/lease_duration\s+1h/);
      }
      expect(by(/^bao read database\/creds\//)).toHaveLength(4);
      const [login, refused] = by(/psql/);
      expect(login.code, login.output).toBe(0);
      expect(login.output).toMatch(/v-\S+ \| keybuzz_api/);
      const [renew] = by(/lease renew/);
      expect(renew.code, renew.output).toBe(0);
      const [revoke] = by(/lease revoke/);
      expect(revoke.code, revoke.output).toBe(0);
      expect(refused.code).not.toBe(0);
      expect(refused.output).toMatch(/password authentication failed/);
      const [audit] = by(/run --silent leases/);
      expect(audit.code, audit.output).toBe(0);
      expect(audit.output).toMatch(/health: ok, Vault issued and revoked a probe credential/);
      expect(audit.output).toMatch(/^chatwoot\s+chatwoot-db\s+1\s/m);
      expect(audit.output).toContain("findings: none");
    }

    process.stderr.write("[e2e sandbox] stopping a with Ctrl-C (SIGINT to its process group), b with SIGTERM to its process\n");
    a.proc.signal("SIGINT");
    b.proc.child.kill("SIGTERM");
    expect(await a.proc.exited, a.proc.output()).toBe(0);
    expect(await b.proc.exited, b.proc.output()).toBe(0);
    for (const p of [pa, pb]) {
      expect(existsSync(p.folder), p.folder).toBe(false);
      await waitFor("the sandbox's processes to be gone", async () => !p.pids.some(alive), 10_000);
      for (const port of p.ports) expect(await listening(port), `port ${port}`).toBe(false);
    }
    expect(a.proc.output()).toMatch(/stopped; nothing left behind/);
  });

  it.skipIf(!toolchain?.kubernetes)(
    "--kubernetes: kubectl applies the manifests, the Pod comes back mutated, its token logs in; Ctrl-C leaves nothing",
    async () => {
      const k = startSandbox("k8s", ["--kubernetes"]);
      await waitFor("the sandbox to be ready", async () => /Stop with Ctrl-C\./.test(k.stdout()) || k.proc.child.exitCode !== null, 600_000);
      const text = k.stdout();
      expect(text, k.proc.output()).toMatch(/^Kubernetes: kube-apiserver on https:\/\/127\.0\.0\.1:\d+ .*folder (\S+);$/m);
      const p = parse(text);
      const apiFolder = /^Kubernetes: .*folder (\S+);$/m.exec(text)![1];
      const kubeconfig = /export KUBECONFIG=(\S+)/.exec(text)![1];
      expect(kubeconfig.startsWith(apiFolder)).toBe(true);
      // the servers' exports, then the Kubernetes section as printed.
      const [before, after] = text.split(/^Kubernetes: /m);
      const commands = [...commandsIn(before).filter((c) => c.startsWith("export ")), ...commandsIn(after)];
      process.stderr.write(`[e2e sandbox k8s] running the ${commands.length} printed commands in bash\n`);
      const results = await runCommands(commands);
      const one = (re: RegExp) => {
        const found = results.filter((r) => re.test(r.command));
        expect(found, String(re)).toHaveLength(1);
        return found[0];
      };
      const applies = results.filter((r) => /^kubectl apply -f \S+\/kubernetes\.yaml$/.test(r.command));
      expect(applies).toHaveLength(4);
      for (const r of applies) {
        expect(r.code, `${r.command}\n${r.output}`).toBe(0);
        expect(r.output).toMatch(/serviceaccount\/\S+ created/);
      }
      const pod = one(/^kubectl apply -f \S+-pod\.yaml$/);
      expect(pod.code, pod.output).toBe(0);
      expect(pod.output).toMatch(/pod\/keybuzz-api-0 created/);
      const containers = one(/^kubectl get pod keybuzz-api-0/);
      expect(containers.code, containers.output).toBe(0);
      expect(containers.output.trim().split("\n").pop()).toBe("vault-agent-init app vault-agent");
      const jwt = one(/^JWT=/);
      expect(jwt.code, jwt.output).toBe(0);
      const login = one(/^bao write auth\/kubernetes\/login/);
      expect(login.code, login.output).toBe(0);
      expect(login.output).toMatch(/^token_policies\s+\[.*\bkeybuzz-api-db\b.*\]$/m);
      const read = one(/^BAO_TOKEN="\$APP_TOKEN" bao read database\/creds\/keybuzz-api-db$/);
      expect(read.code, read.output).toBe(0);
      expect(read.output).toMatch(/username\s+v-/);
      const refused = one(/^BAO_TOKEN="\$APP_TOKEN" bao read database\/creds\/chatwoot-db/);
      expect(refused.code).not.toBe(0);
      expect(refused.output).toMatch(/permission denied/);

      k.proc.signal("SIGINT");
      expect(await k.proc.exited, k.proc.output()).toBe(0);
      expect(k.proc.output()).toMatch(/stopped; nothing left behind/);
      for (const folder of [p.folder, apiFolder]) {
        expect(existsSync(folder), folder).toBe(false);
        await waitFor(`no process in ${folder}`, async () => processesIn(folder).length === 0, 10_000);
      }
      await waitFor("the sandbox's processes to be gone", async () => !p.pids.some(alive), 10_000);
      for (const port of p.ports) expect(await listening(port), `port ${port}`).toBe(false);
    },
    // kubectl is built when it is not on PATH: the first time, minutes.
    900_000,
  );

  it.skipIf(!toolchain?.monitoring)(
    "--monitoring: a wrong password is notified, naming the application; Ctrl-C leaves nothing",
    { timeout: 600_000 },
    async () => {
      const m = startSandbox("monitoring", ["--monitoring"]);
      await waitFor("the sandbox to be ready", async () => /Stop with Ctrl-C\./.test(m.stdout()) || m.proc.child.exitCode !== null, 600_000);
      const text = m.stdout();
      expect(text, m.proc.output()).toMatch(/^Monitoring: Prometheus http:\/\/127\.0\.0\.1:\d+ .*Alertmanager http:\/\/127\.0\.0\.1:\d+,$/m);
      const p = parse(text);
      const [before, after] = text.split(/^Monitoring: /m);
      const commands = [...commandsIn(before).filter((c) => c.startsWith("export ")), ...commandsIn(after)];
      const sent = Date.now();
      const results = await runCommands(commands);
      const one = (re: RegExp) => {
        const found = results.filter((r) => re.test(r.command));
        expect(found, String(re)).toHaveLength(1);
        return found[0];
      };
      const wrong = one(/^PGPASSWORD=wrong psql/);
      expect(wrong.code).not.toBe(0);
      expect(wrong.output).toMatch(/password authentication failed for user "v-token-chatwoot-/);
      const audit = one(/--format prometheus --output \S+\/keybuzz_leases\.prom$/);
      expect(audit.code, audit.output).toBe(0);
      expect(one(/^curl -s http:\/\/127\.0\.0\.1:\d+\/api\/v1\/alerts/).code).toBe(0);
      const notified = /notified: firing KeybuzzApplicationLoginFailing\{application=chatwoot,environment=local,reason=wrong_password/;
      await waitFor("the sandbox to print the notification", async () => notified.test(m.proc.output()), 90_000);
      process.stderr.write(`[e2e sandbox monitoring] notified ${((Date.now() - sent) / 1000).toFixed(1)} s after the wrong password\n`);

      m.proc.signal("SIGINT");
      expect(await m.proc.exited, m.proc.output()).toBe(0);
      expect(m.proc.output()).toMatch(/stopped; nothing left behind/);
      expect(existsSync(p.folder), p.folder).toBe(false);
      await waitFor(`no process in ${p.folder}`, async () => processesIn(p.folder).length === 0, 10_000);
      for (const port of p.ports) expect(await listening(port), `port ${port}`).toBe(false);
    },
  );
});
