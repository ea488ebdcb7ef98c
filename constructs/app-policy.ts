import { Construct } from "constructs";
import { Token } from "cdktf";
import { Policy } from "@cdktf/provider-vault/lib/policy";
import type { DynamicRole } from "./dynamic-role";
import { exceedsProblem, tokenCutsLeasesProblem, VAULT_NAME } from "./vocabulary";

/** Props of {@link AppPolicy}. */
export interface AppPolicyProps {
  /** The dynamic role whose credentials the application may read. */
  readonly role: DynamicRole;
  /** The policy name. @default - the Vault role's name (`keybuzz-api-db`) */
  readonly name?: string;
}

/**
 * The policy text for one application: read its own credentials, renew and revoke its own leases, renew,
 * look up and revoke its own token, and nothing else.
 *
 * The auth roles set `token_no_default_policy`, so the token's own endpoints must be granted here:
 * without `auth/token/renew-self` a token dies at its TTL, and Vault revokes every credential it read with
 * it, whatever their leases say.
 *
 * Revocation is granted on the lease-in-path endpoint only (`sys/leases/revoke/<lease_id>`): the body form
 * cannot be limited to a prefix, so one application cannot revoke another's lease. Renewal is granted in
 * both forms: Vault Agent (and Vault's Go client, `Sys().Renew`) renews with `lease_id` in the body of
 * `sys/leases/renew`, and without it an agent re-fetches credentials at every lease instead of renewing
 * them (the agent suite saw 11 to 129 users in 150 s instead of 3). Vault's own `default` policy grants the
 * same to every token; a renewal gives no access and never extends a lease past its max TTL.
 *
 * @see https://developer.hashicorp.com/vault/api-docs/system/leases#renew-lease
 * @see https://developer.hashicorp.com/vault/api-docs/auth/token#renew-a-token-self
 * @see https://developer.hashicorp.com/vault/api-docs/auth/token#revoke-a-token-self
 */
export function policyDocument(credentialsPath: string): string {
  return [
    `# ${credentialsPath}: these credentials, and nothing else.`,
    `path "${credentialsPath}" {`,
    `  capabilities = ["read"]`,
    `}`,
    ``,
    `# renew and revoke only its own leases, with the lease ID in the path.`,
    `path "sys/leases/renew/${credentialsPath}/*" {`,
    `  capabilities = ["update"]`,
    `}`,
    ``,
    `path "sys/leases/revoke/${credentialsPath}/*" {`,
    `  capabilities = ["update"]`,
    `}`,
    ``,
    `# renew with the lease ID in the body, as Vault Agent does (as Vault's default policy allows; never past max TTL).`,
    `path "sys/leases/renew" {`,
    `  capabilities = ["update"]`,
    `}`,
    ``,
    `# keep its own token alive up to its max TTL, and read what it carries.`,
    `path "auth/token/renew-self" {`,
    `  capabilities = ["update"]`,
    `}`,
    ``,
    `path "auth/token/lookup-self" {`,
    `  capabilities = ["read"]`,
    `}`,
    ``,
    `# end its own token, and with it every credential it read (the agent's service does at stop).`,
    `path "auth/token/revoke-self" {`,
    `  capabilities = ["update"]`,
    `}`,
    ``,
  ].join("\n");
}

/**
 * A Vault policy per application, generated from its dynamic role, never written by hand.
 * Auth roles ({@link AppRoleAuth}, {@link KubernetesAuth}) attach it to the tokens they issue.
 *
 * @see https://registry.terraform.io/providers/hashicorp/vault/5.6.0/docs/resources/policy
 */
export class AppPolicy extends Construct {
  /** The policy name. */
  public readonly policyName: string;
  /** The dynamic role it opens. */
  public readonly role: DynamicRole;
  /** The vault_policy resource. */
  public readonly resource: Policy;

  constructor(scope: Construct, id: string, props: AppPolicyProps) {
    super(scope, id);
    this.role = props.role;
    this.policyName = props.name ?? props.role.roleName;
    if (!VAULT_NAME.test(this.policyName)) {
      throw new Error(`name must be a lower-case Vault policy name (a-z, 0-9, -), got "${this.policyName}"`);
    }
    if (this.policyName === "root" || this.policyName === "default") {
      throw new Error(`name must not be Vault's built-in "${this.policyName}" policy`);
    }
    this.resource = new Policy(this, "Resource", {
      name: this.policyName,
      // the text names the credentials, not the application, so renaming an application keeps it.
      policy: policyDocument(props.role.credentialsPath),
    });
  }

  /**
   * Checks the TTLs of a token that carries this policy: positive, TTL within max TTL, neither above the
   * credentials' max TTL (a token outliving every credential it may read only widens exposure), and a max
   * TTL not below the credentials' default TTL (the token's end revokes what it read, cutting leases short).
   * Returns the TTLs, defaulted to the credentials' own default TTL (capped at the max TTL given) and max
   * TTL. Values only known at apply time (tokens) are left to Vault to check.
   */
  public tokenTtls(what: string, ttl?: number, maxTtl?: number): { ttl: number; maxTtl: number } {
    const credentialsMax = this.role.maxTtlSeconds;
    const m = maxTtl ?? credentialsMax;
    if ([m, credentialsMax, this.role.defaultTtlSeconds, ...(ttl === undefined ? [] : [ttl])].some((v) => Token.isUnresolved(v))) {
      return { ttl: ttl ?? this.role.defaultTtlSeconds, maxTtl: m };
    }
    // a default TTL never exceeds the max TTL it is given with.
    const t = ttl ?? Math.min(this.role.defaultTtlSeconds, m);
    for (const [field, v] of [
      ["tokenMaxTtlSeconds", m],
      ["tokenTtlSeconds", t],
    ] as const) {
      if (!Number.isInteger(v) || v <= 0) throw new Error(`${what}: ${field} must be positive whole seconds, got ${v}`);
      const tooLong = exceedsProblem(v, credentialsMax, "the credentials' max TTL");
      if (tooLong) throw new Error(`${what}: ${field} ${tooLong}`);
    }
    const order = exceedsProblem(t, m, "tokenMaxTtlSeconds");
    if (order) throw new Error(`${what}: tokenTtlSeconds ${order}`);
    const cuts = tokenCutsLeasesProblem(m, this.role.defaultTtlSeconds, "the credentials' default TTL");
    if (cuts) throw new Error(`${what}: tokenMaxTtlSeconds ${cuts}`);
    return { ttl: t, maxTtl: m };
  }
}
