import { Construct } from "constructs";
import { TerraformStack } from "cdktf";
import { writeAgentFiles } from "./stack-files";
import { INJECTOR_ANNOTATION_PREFIX } from "./agent-config";
import { K8S_MIN_TOKEN_EXPIRATION_SECONDS, k8sNameProblem, VAULT_NAME, WILDCARD } from "./vocabulary";

/** The Vault role the pods log in with, as {@link KubernetesAuth.addRole} bound it. */
export interface KubernetesWorkloadRole {
  readonly serviceAccounts: readonly string[];
  readonly namespaces: readonly string[];
  /** The `aud` claim the role requires, if any. */
  readonly audience?: string;
}

/** Props of {@link KubernetesWorkload}. */
export interface KubernetesWorkloadProps {
  /** The application; its files go to `agent/<application>/` in the stack's output folder. */
  readonly application: string;
  /** The Vault role its pods log in with. */
  readonly role: KubernetesWorkloadRole;
  /** The injector annotations of its pods (see {@link AgentConfig.annotations}). */
  readonly annotations: Readonly<Record<string, string>>;
  /** The namespace its pods run in; one of the role's. @default - the role's first namespace that is not the wildcard */
  readonly namespace?: string;
  /** The ServiceAccount its pods run as; one of the role's. @default - the role's first service account that is not the wildcard */
  readonly serviceAccount?: string;
  /** The audience of the pods' projected token; it must be the role's. @default - the role's audience */
  readonly audience?: string;
  /** Lifetime of the projected token (the kubelet renews it at 80 %); at least 600. @default 3600 */
  readonly tokenExpirationSeconds?: number;
  /** The `app.kubernetes.io/managed-by` label of every object written. @default "cdktf" */
  readonly managedBy?: string;
}

/** One problem of a workload's props: the prop at fault, its value and what is wrong. */
export interface WorkloadProblem {
  readonly field: "namespace" | "serviceAccount" | "audience" | "tokenExpirationSeconds";
  readonly value: string | number;
  readonly message: string;
}

/** What a workload's pods are: their namespace, ServiceAccount, token audience and lifetime. */
export interface WorkloadChoice {
  readonly namespace?: string;
  readonly serviceAccount?: string;
  readonly audience?: string;
  readonly tokenExpirationSeconds?: number;
}

/** What a {@link KubernetesWorkload} writes when its props say nothing; the config's defaults are these. */
export const KUBERNETES_WORKLOAD_DEFAULTS = {
  /** An hour: the lifetime of the pods' projected token. */
  tokenExpirationSeconds: 3600,
  managedBy: "cdktf",
} as const;
/** The projected token's volume in the pod template, named in the injector's annotation. */
export const TOKEN_VOLUME = "vault-token";

const concrete = (list: readonly string[]) => list.find((v) => v !== WILDCARD);

/**
 * Why the pods chosen in `choice` could not log in with `role` (or could not be created at all), one problem
 * per field; empty when they can. The config's rules (stacks/environment/rules.ts) report the same problems
 * at the config's paths.
 */
export function workloadProblems(role: KubernetesWorkloadRole, choice: WorkloadChoice): WorkloadProblem[] {
  const problems: WorkloadProblem[] = [];
  const check = (field: "namespace" | "serviceAccount", list: readonly string[], kind: "namespace" | "object", what: string) => {
    const value = choice[field] ?? concrete(list);
    if (value === undefined) {
      problems.push({ field, value: WILDCARD, message: `must be named: the role binds any ${what} ("${WILDCARD}"), so there is no default` });
      return;
    }
    // a name taken from the role's list is that list's to check (KubernetesAuth, or the config's field).
    const bad = choice[field] === undefined ? undefined : k8sNameProblem(value, kind);
    if (bad) problems.push({ field, value, message: bad });
    else if (!list.includes(value) && !list.includes(WILDCARD)) {
      problems.push({
        field,
        value,
        message: `is not one of the role's ${what}s (${list.join(", ")}): Vault would refuse the pods' login`,
      });
    }
  };
  check("namespace", role.namespaces, "namespace", "namespace");
  check("serviceAccount", role.serviceAccounts, "object", "service account");
  if (choice.audience !== undefined && choice.audience !== role.audience) {
    problems.push({
      field: "audience",
      value: choice.audience,
      message: role.audience
        ? `differs from the role's audience "${role.audience}": Vault would refuse the pods' token`
        : "is set, but the role requires no audience: set the binding's audience instead, so that Vault checks it",
    });
  }
  const expiration = choice.tokenExpirationSeconds ?? KUBERNETES_WORKLOAD_DEFAULTS.tokenExpirationSeconds;
  if (!Number.isInteger(expiration) || expiration < K8S_MIN_TOKEN_EXPIRATION_SECONDS) {
    problems.push({
      field: "tokenExpirationSeconds",
      value: expiration,
      message: `must be at least ${K8S_MIN_TOKEN_EXPIRATION_SECONDS} seconds (the API server refuses a shorter projected token)`,
    });
  }
  return problems;
}

/**
 * What a cluster needs for one application's pods to log in to Vault, as plain YAML files written with the
 * stack beside its agent files (`<outdir>/stacks/<stack>/agent/<application>/`), holding no secret:
 * - `kubernetes.yaml`, for `kubectl apply -f`: the application's ServiceAccount in each bound namespace, and
 *   a ClusterRoleBinding to `system:auth-delegator` per namespace. Vault's Kubernetes method is configured
 *   without a reviewer token, so it reviews each login with the pod's own token, which must therefore be
 *   allowed to create TokenReviews.
 * - `deployment-patch.yaml`, merged into the application's Deployment (`kubectl patch deployment <name>
 *   --patch-file`): `serviceAccountName`, a projected token
 *   bound to the pod with the audience the Vault role requires (the injector's agent logs in with it), and
 *   the injector's annotations (init container + sidecar that renews the lease and revokes its token when the
 *   pod stops). Vault reviews the login with that same token (no reviewer token is configured), so its
 *   audience must be one the API server accepts (`--api-audiences`); without one it is the API server's own.
 *   The pod's default ServiceAccount token stays mounted: the persistent cache the injector gives its init
 *   container and sidecar (`agent-cache-enable`) reads it and fails without it (found by the real-server
 *   suite); the account may do nothing but have tokens reviewed.
 * - `job-patch.yaml`, the same for Jobs and CronJobs, with `agent-pre-populate-only`: the init container
 *   renders the credentials and exits, so no sidecar keeps the Job from completing. Nothing renews or revokes
 *   them then: they end with their lease (the role's default TTL).
 *
 * Validated like the rest: a namespace or service account outside the role's, or an audience other than the
 * role's, is an error naming the field and the value, and nothing is written.
 *
 * @see https://developer.hashicorp.com/vault/docs/auth/kubernetes#use-the-vault-client-s-jwt-as-the-reviewer-jwt
 * @see https://developer.hashicorp.com/vault/docs/platform/k8s/injector/annotations
 * @see https://kubernetes.io/docs/concepts/storage/projected-volumes/#serviceaccounttoken
 */
export class KubernetesWorkload extends Construct {
  /** The namespace its pods run in. */
  public readonly namespace: string;
  /** The ServiceAccount its pods run as. */
  public readonly serviceAccount: string;
  /** File name → contents, as written under `agent/<application>/`. */
  public readonly files: Readonly<Record<string, string>>;

  constructor(scope: Construct, id: string, props: KubernetesWorkloadProps) {
    super(scope, id);
    const what = `Kubernetes workload of "${props.application}"`;
    if (!VAULT_NAME.test(props.application)) throw new Error(`${what}: application must be a Vault path segment`);
    const problems = workloadProblems(props.role, props);
    if (problems.length > 0) {
      throw new Error(problems.map((p) => `${what}: ${p.field} ${JSON.stringify(p.value)} ${p.message}`).join("\n"));
    }
    // workloadProblems found both.
    this.namespace = (props.namespace ?? concrete(props.role.namespaces)) as string;
    this.serviceAccount = (props.serviceAccount ?? concrete(props.role.serviceAccounts)) as string;
    const audience = props.role.audience;
    const expirationSeconds = props.tokenExpirationSeconds ?? KUBERNETES_WORKLOAD_DEFAULTS.tokenExpirationSeconds;

    const header = `generated by \`cdktf synth\` for ${props.application} (${TerraformStack.of(this).node.id}); holds no secret`;
    const labels = {
      "app.kubernetes.io/name": props.application,
      "app.kubernetes.io/managed-by": props.managedBy ?? KUBERNETES_WORKLOAD_DEFAULTS.managedBy,
    };
    const objects: object[] = [];
    // every named namespace and account of the role, and the chosen ones where the role has the wildcard.
    const named = (list: readonly string[], chosen: string) => [...new Set([...list.filter((v) => v !== WILDCARD), chosen])];
    const accounts = named(props.role.serviceAccounts, this.serviceAccount);
    for (const namespace of named(props.role.namespaces, this.namespace)) {
      for (const name of accounts) {
        objects.push({ apiVersion: "v1", kind: "ServiceAccount", metadata: { name, namespace, labels } });
      }
      objects.push({
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "ClusterRoleBinding",
        metadata: { name: `vault-tokenreview-${namespace}-${props.application}`, labels },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "system:auth-delegator" },
        subjects: accounts.map((name) => ({ kind: "ServiceAccount", name, namespace })),
      });
    }

    const podTemplate = (variant: Record<string, string>) => ({
      spec: {
        template: {
          metadata: {
            annotations: {
              ...props.annotations,
              [`${INJECTOR_ANNOTATION_PREFIX}agent-service-account-token-volume-name`]: TOKEN_VOLUME,
              ...variant,
            },
          },
          spec: {
            serviceAccountName: this.serviceAccount,
            // the agent logs in with the projected token (bound to the pod, short-lived, for the role's audience
            // or else the API server's own). The pod keeps its default token: the injected agents' shared cache
            // (agent-cache-enable) reads it, and fails to start without it.
            volumes: [
              {
                name: TOKEN_VOLUME,
                projected: { sources: [{ serviceAccountToken: { ...(audience ? { audience } : {}), expirationSeconds, path: "token" } }] },
              },
            ],
          },
        },
      },
    });
    const files: Record<string, string> = {
      "kubernetes.yaml": yamlDocuments(
        [
          `# ${header}.`,
          `# kubectl apply -f kubernetes.yaml: the ServiceAccount of ${props.application}'s pods, and the right of their`,
          "# tokens to be reviewed (system:auth-delegator), which Vault's login needs. The namespaces must exist.",
        ],
        objects,
      ),
      "deployment-patch.yaml": yamlDocuments(
        [
          `# ${header}.`,
          `# Merge into ${props.application}'s Deployment: kubectl patch deployment <name> -n ${this.namespace} --patch-file deployment-patch.yaml`,
          "# The injector adds an init container and a sidecar that renders /vault/secrets, renews the lease and",
          "# revokes its token, and so the credentials, when the pod stops.",
        ],
        [podTemplate({})],
      ),
      "job-patch.yaml": yamlDocuments(
        [
          `# ${header}.`,
          `# Merge into a Job's spec (a CronJob's spec.jobTemplate) of ${props.application}: the init container renders`,
          "# /vault/secrets and exits, so the Job can complete; the credentials end with their lease (no sidecar renews them).",
        ],
        [podTemplate({ [`${INJECTOR_ANNOTATION_PREFIX}agent-pre-populate-only`]: "true" })],
      ),
    };
    this.files = files;

    writeAgentFiles(this, props.application, () => this.files);
  }
}

/** YAML documents (`---` between them) behind a comment header. */
function yamlDocuments(header: readonly string[], documents: readonly object[]): string {
  return `${header.join("\n")}\n${documents.map((d) => yaml(d, 0).join("\n")).join("\n---\n")}\n`;
}

/**
 * A small YAML writer for the plain objects above: maps, lists, strings (double-quoted, as JSON, or a literal
 * block when multi-line), numbers and booleans. Keys are written bare when they are plain, else quoted.
 */
function yaml(value: unknown, indent: number): string[] {
  const pad = " ".repeat(indent);
  const key = (k: string) => (/^[A-Za-z0-9_./-]+$/.test(k) ? k : JSON.stringify(k));
  if (Array.isArray(value)) {
    return value.flatMap((item) => {
      const [first, ...rest] = yaml(item, indent + 2);
      return [`${pad}- ${first.trimStart()}`, ...rest];
    });
  }
  if (value !== null && typeof value === "object") {
    return Object.entries(value).flatMap(([k, v]) => {
      if (v !== null && typeof v === "object" && Object.keys(v).length > 0) return [`${pad}${key(k)}:`, ...yaml(v, indent + 2)];
      if (typeof v === "string" && v.includes("\n")) {
        const lines = v.replace(/\n$/, "").split("\n");
        return [`${pad}${key(k)}: |2${v.endsWith("\n") ? "" : "-"}`, ...lines.map((l) => (l ? `${pad}  ${l}` : ""))];
      }
      return [`${pad}${key(k)}: ${scalar(v)}`];
    });
  }
  return [`${pad}${scalar(value)}`];
}

function scalar(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  if (Array.isArray(v)) return "[]";
  if (v !== null && typeof v === "object") return "{}";
  throw new Error(`cannot write ${String(v)} as YAML`);
}
