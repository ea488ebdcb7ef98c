import { Construct } from "constructs";
import { AgentConfig, type AgentConfigProps } from "./agent-config";
import { AppPolicy } from "./app-policy";
import type { AppRoleAuth, AppRoleOptions } from "./approle-auth";
import type { BaseRole } from "./base-roles";
import type { Connection } from "./connection";
import type { CredentialFunctions } from "./credential-functions";
import { DynamicRole } from "./dynamic-role";
import type { KubernetesAuth, KubernetesRoleOptions, KubernetesRoleRef } from "./kubernetes-auth";
import { KubernetesWorkload, type KubernetesWorkloadProps } from "./kubernetes-workload";

/** Where an application logs in to Vault: the auth method's login path and the role to name. */
export interface ApplicationLogin {
  readonly path: string;
  readonly role: string;
}

/** What a person or a program needs to know about one application, as the stack's `applications` output holds it. */
export interface ApplicationOutputs {
  readonly vault_role: string;
  readonly credentials_path: string;
  readonly base_role: string;
  readonly policy: string;
  readonly auth: { readonly approle?: ApplicationLogin; readonly kubernetes?: ApplicationLogin };
}

/** The props of {@link KubernetesWorkload} an application chooses: the rest are its own. */
export type ApplicationWorkload = Omit<KubernetesWorkloadProps, "application" | "role" | "annotations">;

/** Props of {@link Application}. */
export interface ApplicationProps {
  /** The connection whose `allowed_roles` its Vault role joins. */
  readonly connection: Connection;
  /** The functions its Vault role's statements call. */
  readonly functions: CredentialFunctions;
  /** The Vault role name; credentials are read at `<mount>/creds/<vaultRole>`. */
  readonly vaultRole: string;
  /**
   * Its base role (see {@link BaseRoles}, which creates every application's together, since one may be
   * granted another's schema): issued users log in as it and it owns what they create.
   */
  readonly baseRole: BaseRole;
  /** Other base roles granted to each issued user besides its own. @default [] */
  readonly additionalBaseRoles?: readonly BaseRole[];
  /** @default 3600 */
  readonly defaultTtlSeconds?: number;
  /** @default 86400 */
  readonly maxTtlSeconds?: number;
  /** @default 20 */
  readonly connectionLimit?: number;
  /** Its AppRole login, in that method: the options but the name and policy, which are the application's. */
  readonly approle?: { readonly auth: AppRoleAuth } & Omit<AppRoleOptions, "name" | "policy">;
  /**
   * Its Kubernetes login, in that method, likewise; with an agent, `workload` chooses the pods the
   * cluster's manifests are for (see {@link KubernetesWorkload}).
   */
  readonly kubernetes?: { readonly auth: KubernetesAuth; readonly workload?: ApplicationWorkload } & Omit<KubernetesRoleOptions, "name" | "policy">;
  /**
   * Its Vault Agent files, written when it has a login: the props of {@link AgentConfig} but those the
   * application fills in (its name, policy and logins).
   */
  readonly agent?: Omit<AgentConfigProps, "application" | "policy" | "approle" | "kubernetes">;
}

/**
 * One application, the unit people add, remove and review: its Vault dynamic role, the policy that reads
 * only its credentials, its logins (an AppRole and/or a Kubernetes role, in the auth methods the stack
 * mounts once) and its agent's files, with typed {@link ApplicationOutputs}. The construct ID is the
 * application's name: renaming it replaces its resources.
 */
export class Application extends Construct {
  /** The application's name (its construct ID). */
  public readonly name: string;
  public readonly role: DynamicRole;
  public readonly policy: AppPolicy;
  /** Its agent's files, when it has a login. */
  public readonly agent?: AgentConfig;
  /** What the cluster needs for its pods, when it has a Kubernetes login and an agent. */
  public readonly workload?: KubernetesWorkload;
  public readonly outputs: ApplicationOutputs;

  constructor(scope: Construct, id: string, props: ApplicationProps) {
    super(scope, id);
    this.name = id;
    this.role = new DynamicRole(this, "DynamicRole", {
      connection: props.connection,
      functions: props.functions,
      name: props.vaultRole,
      baseRoles: [props.baseRole, ...(props.additionalBaseRoles ?? [])],
      defaultTtlSeconds: props.defaultTtlSeconds,
      maxTtlSeconds: props.maxTtlSeconds,
      connectionLimit: props.connectionLimit,
    });
    this.policy = new AppPolicy(this, "Policy", { role: this.role });

    const auth: { approle?: ApplicationLogin; kubernetes?: ApplicationLogin } = {};
    let kubernetesRole: KubernetesRoleRef | undefined;
    if (props.approle) {
      const { auth: method, ...options } = props.approle;
      const r = method.addRole({ ...options, name: id, policy: this.policy });
      auth.approle = { path: r.loginPath, role: r.roleName };
    }
    if (props.kubernetes) {
      const { auth: method, workload: _, ...options } = props.kubernetes;
      kubernetesRole = method.addRole({ ...options, name: id, policy: this.policy });
      auth.kubernetes = { path: kubernetesRole.loginPath, role: kubernetesRole.roleName };
    }
    if (props.agent && (auth.approle || auth.kubernetes)) {
      const login = (l?: ApplicationLogin) => l && { loginPath: l.path, roleName: l.role };
      this.agent = new AgentConfig(this, "Agent", {
        ...props.agent,
        application: id,
        policy: this.policy,
        approle: login(auth.approle),
        kubernetes: login(auth.kubernetes),
      });
      if (kubernetesRole && this.agent.annotations) {
        this.workload = new KubernetesWorkload(this, "Workload", {
          ...props.kubernetes?.workload,
          application: id,
          role: kubernetesRole,
          annotations: this.agent.annotations,
        });
      }
    }
    this.outputs = {
      vault_role: this.role.roleName,
      credentials_path: this.role.credentialsPath,
      base_role: this.role.baseRole,
      policy: this.policy.policyName,
      auth,
    };
  }
}
