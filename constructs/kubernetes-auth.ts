import { Construct } from "constructs";
import { AuthBackend } from "@cdktf/provider-vault/lib/auth-backend";
import { KubernetesAuthBackendConfig } from "@cdktf/provider-vault/lib/kubernetes-auth-backend-config";
import { KubernetesAuthBackendRole } from "@cdktf/provider-vault/lib/kubernetes-auth-backend-role";
import type { AppPolicy } from "./app-policy";
import { isPemCertificate, KUBERNETES_HOST, VAULT_NAME, WILDCARD, wildcardBindingProblem } from "./vocabulary";

/** What {@link KubernetesAuth} gives when its props say nothing; the config's defaults are these. */
export const KUBERNETES_AUTH_DEFAULTS = {
  path: "kubernetes",
  description: "Kubernetes pods",
} as const;

/** Props of {@link KubernetesAuth}. */
export interface KubernetesAuthProps {
  /** The cluster's API server, e.g. `https://10.0.0.50:6443`. */
  readonly kubernetesHost: string;
  /** PEM of the CA that signed the API server's certificate. @default - Vault's own trust store */
  readonly kubernetesCaCert?: string;
  /** Where the method is mounted; pods log in at `auth/<path>/login`. @default "kubernetes" */
  readonly path?: string;
  /** What Vault shows for the method. @default "Kubernetes pods" */
  readonly description?: string;
  /**
   * Refuse `*` as a service account or namespace (prod).
   * @default false
   */
  readonly forbidWildcards?: boolean;
}

/** One application's Kubernetes binding. */
export interface KubernetesRoleOptions {
  /** The role name pods log in with. */
  readonly name: string;
  /** The only policy its tokens carry (Vault's `default` policy is left out). */
  readonly policy: AppPolicy;
  /** Service account names allowed to log in; at least one. */
  readonly serviceAccounts: readonly string[];
  /** Namespaces those service accounts live in; at least one. */
  readonly namespaces: readonly string[];
  /** @default - the credentials' default TTL */
  readonly tokenTtlSeconds?: number;
  /** @default - the credentials' max TTL */
  readonly tokenMaxTtlSeconds?: number;
  /** Required `aud` claim of the service-account token. @default - none */
  readonly audience?: string;
}

/** What callers need to know of a Kubernetes auth role. */
export interface KubernetesRoleRef {
  readonly roleName: string;
  readonly loginPath: string;
  readonly resource: KubernetesAuthBackendRole;
  /** The service accounts, namespaces and audience it binds. */
  readonly serviceAccounts: readonly string[];
  readonly namespaces: readonly string[];
  readonly audience?: string;
}

/**
 * The Kubernetes auth method for pods: one role per application, bound to its service accounts and
 * namespaces, whose tokens carry only that application's policy.
 *
 * No token-reviewer JWT is configured: Vault reviews each login with the pod's own service-account token,
 * so no long-lived reviewer secret sits in config or in Terraform state (provider 5.6.0 has no write-only
 * attribute for it). Each application's service account therefore needs the `system:auth-delegator`
 * ClusterRole.
 *
 * @see https://developer.hashicorp.com/vault/docs/auth/kubernetes#use-the-vault-client-s-jwt-as-the-reviewer-jwt
 * @see https://registry.terraform.io/providers/hashicorp/vault/5.6.0/docs/resources/kubernetes_auth_backend_role
 */
export class KubernetesAuth extends Construct {
  /** The mount path (`kubernetes`). */
  public readonly path: string;
  /** The vault_auth_backend resource. */
  public readonly resource: AuthBackend;
  /** The vault_kubernetes_auth_backend_config resource. */
  public readonly config: KubernetesAuthBackendConfig;
  private readonly forbidWildcards: boolean;
  private readonly rolesScope: Construct;
  private readonly roles = new Map<string, KubernetesRoleRef>();

  constructor(scope: Construct, id: string, props: KubernetesAuthProps) {
    super(scope, id);
    this.path = props.path ?? KUBERNETES_AUTH_DEFAULTS.path;
    this.forbidWildcards = props.forbidWildcards ?? false;
    if (!VAULT_NAME.test(this.path)) throw new Error(`path must be a Vault path segment, got "${this.path}"`);
    if (!KUBERNETES_HOST.test(props.kubernetesHost)) {
      throw new Error(`kubernetesHost must be an https URL such as https://10.0.0.50:6443, got "${props.kubernetesHost}"`);
    }
    if (props.kubernetesCaCert !== undefined && !isPemCertificate(props.kubernetesCaCert)) {
      throw new Error("kubernetesCaCert must be a PEM certificate (-----BEGIN CERTIFICATE-----)");
    }
    this.resource = new AuthBackend(this, "Resource", {
      type: "kubernetes",
      path: this.path,
      description: props.description ?? KUBERNETES_AUTH_DEFAULTS.description,
    });
    this.config = new KubernetesAuthBackendConfig(this, "Config", {
      backend: this.resource.path,
      kubernetesHost: props.kubernetesHost,
      ...(props.kubernetesCaCert ? { kubernetesCaCert: props.kubernetesCaCert } : {}),
      // the pod's own JWT reviews its login: no reviewer secret anywhere.
      disableLocalCaJwt: true,
    });
    this.rolesScope = new Construct(this, "Roles");
    this.node.addValidation({ validate: () => (this.roles.size ? [] : [`Kubernetes auth at "${this.path}" has no role: call addRole()`]) });
  }

  /** Adds one application's binding; its name is its construct ID. */
  public addRole(options: KubernetesRoleOptions): KubernetesRoleRef {
    const what = `Kubernetes role "${options.name}"`;
    if (!VAULT_NAME.test(options.name)) throw new Error(`${what}: name must be a Vault path segment`);
    if (this.roles.has(options.name)) throw new Error(`${what} is defined twice`);
    for (const [field, list] of [
      ["serviceAccounts", options.serviceAccounts],
      ["namespaces", options.namespaces],
    ] as const) {
      if (list.length === 0) throw new Error(`${what}: ${field} must name at least one, got none`);
      const empty = list.find((v) => v.trim() === "" || v !== v.trim());
      if (empty !== undefined) throw new Error(`${what}: ${field} must not contain an empty or space-padded name, got "${empty}"`);
      if (this.forbidWildcards && list.includes(WILDCARD)) throw new Error(`${what}: ${field} must not be the wildcard "${WILDCARD}" here`);
    }
    const wildcards = wildcardBindingProblem(options.serviceAccounts, options.namespaces);
    if (wildcards) throw new Error(`${what}: ${wildcards}`);
    const { ttl, maxTtl } = options.policy.tokenTtls(what, options.tokenTtlSeconds, options.tokenMaxTtlSeconds);
    const resource = new KubernetesAuthBackendRole(this.rolesScope, options.name, {
      backend: this.resource.path,
      roleName: options.name,
      boundServiceAccountNames: [...options.serviceAccounts],
      boundServiceAccountNamespaces: [...options.namespaces],
      tokenPolicies: [options.policy.resource.name],
      tokenNoDefaultPolicy: true,
      tokenTtl: ttl,
      tokenMaxTtl: maxTtl,
      ...(options.audience ? { audience: options.audience } : {}),
      dependsOn: [this.config],
    });
    const ref: KubernetesRoleRef = {
      roleName: options.name,
      loginPath: `auth/${this.path}/login`,
      resource,
      serviceAccounts: [...options.serviceAccounts],
      namespaces: [...options.namespaces],
      audience: options.audience,
    };
    this.roles.set(options.name, ref);
    return ref;
  }
}
