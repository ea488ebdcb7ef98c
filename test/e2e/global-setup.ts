/**
 * Runs once before the real-server suite: builds (or finds in the cache) OpenBao, HashiCorp Vault,
 * OpenTofu, both providers and the Debian trixie root with PostgreSQL 17, and installs Patroni, etcd and
 * HAProxy from Debian's packages when missing, with one `tools/build.sh bao vault tofu provider-vault
 * provider-postgresql postgres-17 ha-topology`, and hands their paths
 * and the PostgreSQL servers to test against (the machine's own, then 17) to the tests. In CI (CI=true) a
 * missing piece fails the run; elsewhere the suite skips with a message naming what is missing.
 * KEYBUZZ_E2E_PG17=0 leaves PostgreSQL 17 out (it needs root and debootstrap); KEYBUZZ_E2E_HA=0 the
 * HA topology (installing its packages needs root), whose suite then skips. Then kube-apiserver, etcd and the
 * Vault Agent Injector for the Kubernetes suite (`tools/build.sh kube-apiserver etcd vault-k8s`).
 */
import type { TestProject } from "vitest/node";
import { prepareKubernetes, prepareToolchain, type KubernetesTools, type Toolchain } from "../../sandbox/toolchain";

declare module "vitest" {
  export interface ProvidedContext {
    toolchain: (Toolchain & { readonly kubernetes?: KubernetesTools }) | null;
    missing: string;
  }
}

export default async function setup(project: TestProject): Promise<void> {
  const { toolchain, missing } = await prepareToolchain({
    postgres17: process.env.KEYBUZZ_E2E_PG17 !== "0",
    ha: process.env.KEYBUZZ_E2E_HA !== "0",
  });
  if (!toolchain) {
    if (process.env.CI === "true") throw new Error(`the real-server suite cannot run in CI: missing ${missing}`);
    process.stderr.write(`[e2e] SKIPPING the real-server suite: missing ${missing}\n`);
  }
  // the Kubernetes suite's kube-apiserver, etcd and injector (the injector runs in a mount namespace: root).
  const kubernetes = !toolchain
    ? undefined
    : process.getuid?.() === 0
      ? await prepareKubernetes()
      : { missing: "root, for the injector's mount namespace" };
  if (kubernetes && !kubernetes.tools) {
    if (process.env.CI === "true") throw new Error(`the Kubernetes suite cannot run in CI: missing ${kubernetes.missing}`);
    process.stderr.write(`[e2e] SKIPPING the Kubernetes suite: missing ${kubernetes.missing}\n`);
  }
  project.provide("toolchain", toolchain ? { ...toolchain, kubernetes: kubernetes?.tools } : null);
  project.provide("missing", missing ?? "");
}
