/**
 * `npm run sandbox`: PostgreSQL and OpenBao on free loopback ports, the `local` stack deployed onto them
 * with `cdktf deploy`, and ready-to-paste commands on stdout. Progress goes to stderr. Ctrl-C (SIGINT) or
 * SIGTERM stops the servers and removes the sandbox's folder; the exit status is 0 then, 1 if setting
 * it up failed (after cleaning up). `--kubernetes` adds a kube-apiserver and the Vault Agent Injector,
 * `--monitoring` the alerting pipeline (mtail, Prometheus, Alertmanager).
 */
import { Sandbox, SandboxStopped } from "../sandbox/sandbox";

const USAGE = `usage: npm run sandbox [-- --kubernetes] [--monitoring]

Starts PostgreSQL and OpenBao (or Vault) on free 127.0.0.1 ports, deploys the local stack with
cdktf deploy, and prints the commands to read credentials, log in, renew and revoke. Programs on PATH
are used first (tofu or terraform >= 1.11, bao or vault, PostgreSQL's initdb and pg_ctl); what is
missing is built with tools/build.sh. Ctrl-C stops everything and removes the sandbox's folder.

  --kubernetes  also start etcd and kube-apiserver on 127.0.0.1 (no kubelet: Pods stay Pending), bind
                the stack's Kubernetes auth to them, and register the Vault Agent Injector (vault-k8s)
                as their webhook; then print KUBECONFIG and the commands to kubectl apply the
                synthesized manifests, create a Pod and see it mutated, and log in with its token.
                Needs root (the injector runs in a private mount namespace). kube-apiserver, etcd
                and vault-k8s come from tools/build.sh (the first build takes long); kubectl from
                PATH, else built.
  --monitoring  also start mtail on PostgreSQL's log (the synthesized monitoring/postgresql-log.mtail),
                the node exporter for the lease audit's textfile, Prometheus with the synthesized
                monitoring/alerts.yml and Alertmanager, on 127.0.0.1; print their addresses and a
                command that makes an alert fire, and each notification as it comes. Needs root
                (apt-get installs Debian's Alertmanager); the rest is taken out of Debian's packages.
`;

async function main(): Promise<number> {
  if (process.argv.slice(2).some((a) => a === "--help" || a === "-h")) {
    process.stdout.write(USAGE);
    return 0;
  }
  const args = process.argv.slice(2);
  const unknown = args.find((a) => a !== "--kubernetes" && a !== "--monitoring");
  if (unknown !== undefined) {
    process.stderr.write(`unknown argument ${unknown}\n${USAGE}`);
    return 1;
  }
  const progress = (line: string) => process.stderr.write(line.startsWith("[") ? `${line}\n` : `[sandbox] ${line}\n`);
  const sandbox = new Sandbox(progress, { kubernetes: args.includes("--kubernetes"), monitoring: args.includes("--monitoring") });
  let resolveStopped: () => void = () => undefined;
  const stopped = new Promise<void>((r) => (resolveStopped = r));
  const onSignal = (signal: NodeJS.Signals) => {
    progress(`${signal}: stopping`);
    sandbox.stop().then(resolveStopped, (err) => {
      progress(`stopping failed: ${(err as Error).message}`);
      process.exitCode = 1;
      resolveStopped();
    });
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  try {
    await sandbox.start();
  } catch (err) {
    if (!(err instanceof SandboxStopped)) {
      progress(`failed: ${(err as Error).message}`);
      await sandbox.stop();
      return 1;
    }
  }
  if (!sandbox.stopped) {
    process.stdout.write(sandbox.instructions());
    progress("ready (Ctrl-C to stop)");
  }
  await stopped;
  progress("stopped; nothing left behind");
  return Number(process.exitCode ?? 0);
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`[sandbox] ${(err as Error).stack ?? err}\n`);
    process.exit(1);
  },
);
