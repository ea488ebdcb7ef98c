import { Construct } from "constructs";
import { Token } from "cdktf";
import { Mount } from "@cdktf/provider-vault/lib/mount";

/** Props of {@link SecretsMount}. */
export interface SecretsMountProps {
  /** Where the engine is mounted; credentials are read at `<path>/creds/<role>`. @default "database" */
  readonly path?: string;
  /** Lease given when a role sets none, in seconds. @default 3600 */
  readonly defaultLeaseTtlSeconds?: number;
  /** Longest lease any role on this mount may give, in seconds. @default 86400 */
  readonly maxLeaseTtlSeconds?: number;
  /** @default "KeyBuzz dynamic PostgreSQL credentials" */
  readonly description?: string;
}

/**
 * Vault's database secrets engine, mounted once per environment.
 *
 * @see https://developer.hashicorp.com/vault/docs/secrets/databases
 * @see https://registry.terraform.io/providers/hashicorp/vault/5.6.0/docs/resources/mount
 */
export class SecretsMount extends Construct {
  /** The mount path, as a Terraform reference: using it orders resources after the mount. */
  public readonly mountPath: string;
  /** The mount path as written in config, for names and outputs. */
  public readonly path: string;
  /** The vault_mount resource. */
  public readonly resource: Mount;

  constructor(scope: Construct, id: string, props: SecretsMountProps = {}) {
    super(scope, id);
    this.path = props.path ?? "database";
    const defaultTtl = props.defaultLeaseTtlSeconds ?? 3600;
    const maxTtl = props.maxLeaseTtlSeconds ?? 86400;
    if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\/[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/.test(this.path)) {
      throw new Error(`path must be a Vault path without leading or trailing slash, got "${this.path}"`);
    }
    // values only known at apply time (tokens) are left to Vault to check.
    const known = (n: number) => !Token.isUnresolved(n);
    if ((known(defaultTtl) && !(defaultTtl > 0)) || (known(maxTtl) && !(maxTtl > 0))) {
      throw new Error(`lease TTLs must be positive, got default ${defaultTtl}s, max ${maxTtl}s`);
    }
    if (known(defaultTtl) && known(maxTtl) && defaultTtl > maxTtl) {
      throw new Error(`defaultLeaseTtlSeconds must not exceed maxLeaseTtlSeconds, got ${defaultTtl} > ${maxTtl}`);
    }
    this.resource = new Mount(this, "Resource", {
      path: this.path,
      type: "database",
      description: props.description ?? "KeyBuzz dynamic PostgreSQL credentials",
      defaultLeaseTtlSeconds: defaultTtl,
      maxLeaseTtlSeconds: maxTtl,
    });
    this.mountPath = this.resource.path;
  }
}
