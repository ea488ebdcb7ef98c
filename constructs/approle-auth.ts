import { Construct } from "constructs";
import { ApproleAuthBackendRole } from "@cdktf/provider-vault/lib/approle-auth-backend-role";
import { AuthBackend } from "@cdktf/provider-vault/lib/auth-backend";
import type { AppPolicy } from "./app-policy";
import { isCidr, VAULT_NAME } from "./vocabulary";

/** What {@link AppRoleAuth} gives when its props say nothing; the config's defaults are these. */
export const APPROLE_AUTH_DEFAULTS = {
  path: "approle",
  description: "Applications outside Kubernetes",
  /** A day. */
  secretIdTtlSeconds: 86400,
} as const;

/** Props of {@link AppRoleAuth}. */
export interface AppRoleAuthProps {
  /** Where the method is mounted; applications log in at `auth/<path>/login`. @default "approle" */
  readonly path?: string;
  /** What Vault shows for the method. @default "Applications outside Kubernetes" */
  readonly description?: string;
}

/** One application's AppRole. */
export interface AppRoleOptions {
  /** The AppRole name; its role ID is read at `auth/<path>/role/<name>/role-id`. */
  readonly name: string;
  /** The only policy its tokens carry (Vault's `default` policy is left out). */
  readonly policy: AppPolicy;
  /** @default - the credentials' default TTL */
  readonly tokenTtlSeconds?: number;
  /** @default - the credentials' max TTL */
  readonly tokenMaxTtlSeconds?: number;
  /** Lifetime of a secret ID. @default 86400 */
  readonly secretIdTtlSeconds?: number;
  /** CIDR blocks that may log in and use the token. @default - any address */
  readonly cidrs?: readonly string[];
}

/** What callers need to know of an AppRole. */
export interface AppRoleRef {
  readonly roleName: string;
  readonly loginPath: string;
  readonly resource: ApproleAuthBackendRole;
}

/**
 * The AppRole auth method, for the workers and anything outside Kubernetes: one role per application,
 * whose tokens carry only that application's policy.
 *
 * @see https://developer.hashicorp.com/vault/docs/auth/approle
 * @see https://registry.terraform.io/providers/hashicorp/vault/5.6.0/docs/resources/approle_auth_backend_role
 */
export class AppRoleAuth extends Construct {
  /** The mount path (`approle`). */
  public readonly path: string;
  /** The vault_auth_backend resource. */
  public readonly resource: AuthBackend;
  private readonly rolesScope: Construct;
  private readonly roles = new Map<string, AppRoleRef>();

  constructor(scope: Construct, id: string, props: AppRoleAuthProps = {}) {
    super(scope, id);
    this.path = props.path ?? APPROLE_AUTH_DEFAULTS.path;
    if (!VAULT_NAME.test(this.path)) throw new Error(`path must be a Vault path segment, got "${this.path}"`);
    this.resource = new AuthBackend(this, "Resource", {
      type: "approle",
      path: this.path,
      description: props.description ?? APPROLE_AUTH_DEFAULTS.description,
    });
    this.rolesScope = new Construct(this, "Roles");
    this.node.addValidation({ validate: () => (this.roles.size ? [] : [`AppRole auth at "${this.path}" has no role: call addRole()`]) });
  }

  /** Adds one application's AppRole; its name is its construct ID. */
  public addRole(options: AppRoleOptions): AppRoleRef {
    const what = `AppRole "${options.name}"`;
    if (!VAULT_NAME.test(options.name)) throw new Error(`${what}: name must be a Vault path segment`);
    if (this.roles.has(options.name)) throw new Error(`${what} is defined twice`);
    const { ttl, maxTtl } = options.policy.tokenTtls(what, options.tokenTtlSeconds, options.tokenMaxTtlSeconds);
    const secretIdTtl = options.secretIdTtlSeconds ?? APPROLE_AUTH_DEFAULTS.secretIdTtlSeconds;
    if (!Number.isInteger(secretIdTtl) || secretIdTtl <= 0) throw new Error(`${what}: secretIdTtlSeconds must be positive, got ${secretIdTtl}`);
    const cidrs = [...(options.cidrs ?? [])];
    const bad = cidrs.find((c) => !isCidr(c));
    if (bad !== undefined) throw new Error(`${what}: cidrs must be IPv4 CIDR blocks such as 10.0.0.0/24, got "${bad}"`);

    const resource = new ApproleAuthBackendRole(this.rolesScope, options.name, {
      backend: this.resource.path,
      roleName: options.name,
      tokenPolicies: [options.policy.resource.name],
      tokenNoDefaultPolicy: true,
      tokenTtl: ttl,
      tokenMaxTtl: maxTtl,
      secretIdTtl,
      ...(cidrs.length ? { secretIdBoundCidrs: cidrs, tokenBoundCidrs: cidrs } : {}),
    });
    const ref = { roleName: options.name, loginPath: `auth/${this.path}/login`, resource };
    this.roles.set(options.name, ref);
    return ref;
  }
}
