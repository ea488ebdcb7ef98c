/**
 * The project's vocabulary: every name pattern, list of allowed values and rule that more than one place
 * checks, defined once. The constructs validate their own props from these (they are a library), the
 * config schema (stacks/environment/) builds its fields from them, and the review's risk rules
 * (review/risk.ts) rank changes with them, so the three cannot drift apart.
 */

// ---------------------------------------------------------------------------------------------- engines

/**
 * The oldest Terraform and OpenTofu that can deploy these constructs: `vault_admin`'s password is an ephemeral
 * variable sent through write-only attributes, which 1.11 introduced. The stacks state it
 * (`terraform.required_version`), the sandbox checks the engine it finds against it, and CDK Terrain's
 * `targetVersions` (terrain/migrate.ts) declare it.
 */
export const MIN_ENGINE_VERSION = "1.11.0";

// ---------------------------------------------------------------------------------------------- names

/** A Vault path segment (a role, policy, connection, auth or mount name): `keybuzz-api-db`. */
export const VAULT_NAME = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;
/** The longest Vault name the config accepts. */
export const VAULT_NAME_MAX_LENGTH = 64;
/** What {@link VAULT_NAME} means, for messages. */
export const VAULT_NAME_RULE = "a Vault path segment: lower-case letters, digits and -, starting and ending with a letter or digit";

/** A Vault path of one or more {@link VAULT_NAME} segments, without leading or trailing slash: `kv/keybuzz`. */
export const VAULT_PATH = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\/[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/;

/**
 * What a name of a role, schema or database this project creates must be: a lower-case identifier (no
 * quoting needed anywhere), at most 63 bytes, and not `pg_…`, which PostgreSQL reserves for its own roles
 * (CREATE ROLE refuses it). {@link pgIdentifierProblem} checks them in this order; the config schema
 * declares the same three.
 */
export const PG_IDENTIFIER_RULES = {
  pattern: /^[a-z_][a-z0-9_]*$/,
  patternMessage:
    "must be a lower-case PostgreSQL identifier: letters a-z, digits and _, not starting with a digit (no quotes, semicolons, spaces or upper case)",
  maxBytes: 63,
  maxMessage: "must be at most 63 bytes, PostgreSQL's identifier limit",
  reservedPrefix: "pg_",
  reservedMessage: "must not start with pg_, which PostgreSQL reserves for its own roles",
} as const;

/** Why `value` breaks {@link PG_IDENTIFIER_RULES}, or undefined when it can name a role, schema or database. */
export function pgIdentifierProblem(value: string): string | undefined {
  const r = PG_IDENTIFIER_RULES;
  if (!r.pattern.test(value)) return r.patternMessage;
  if (Buffer.byteLength(value) > r.maxBytes) return r.maxMessage;
  if (value.startsWith(r.reservedPrefix)) return r.reservedMessage;
  return undefined;
}

/** Vault's username prefix (its default username template, `v-<display>-<role>-<random>-<time>`); the SQL and the audit rely on it. */
export const ISSUED_USER_PREFIX = "v-";

// ---------------------------------------------------------------------------------------------- TLS

/** libpq's sslmodes, from the weakest to the strongest. */
export const SSL_MODES = ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] as const;
/** A libpq sslmode. */
export type SslMode = (typeof SSL_MODES)[number];

/** The sslmodes that check the server's certificate against a CA (and so use one). */
export const VERIFYING_SSLMODES: ReadonlySet<string> = new Set<SslMode>(["verify-ca", "verify-full"]);
/** The sslmodes that promise encryption. */
export const ENCRYPTING_SSLMODES: ReadonlySet<string> = new Set<string>(["require", ...VERIFYING_SSLMODES]);

/** Why a CA file is pointless with `sslmode`, or undefined: only a verifying sslmode checks the server against it. */
export function caWithSslmodeProblem(sslmode: string): string | undefined {
  return VERIFYING_SSLMODES.has(sslmode)
    ? undefined
    : `is used only with sslmode "verify-full" or "verify-ca"; with sslmode "${sslmode}" nothing would check the server against it`;
}

/** Whether `text` holds a PEM certificate. */
export function isPemCertificate(text: string): boolean {
  return /-----BEGIN CERTIFICATE-----[\s\S]+-----END CERTIFICATE-----/.test(text);
}

/** Whether `text` holds a PEM private key (never to be copied into a synthesized stack). */
export function holdsPrivateKey(text: string): boolean {
  return /-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text);
}

// ---------------------------------------------------------------------------------------------- privileges

/** Table privileges PostgreSQL knows. */
export const TABLE_PRIVILEGES = ["SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER"] as const;
export type TablePrivilege = (typeof TABLE_PRIVILEGES)[number];
/** Sequence privileges PostgreSQL knows. */
export const SEQUENCE_PRIVILEGES = ["USAGE", "SELECT", "UPDATE"] as const;
export type SequencePrivilege = (typeof SEQUENCE_PRIVILEGES)[number];

// ---------------------------------------------------------------------------------------------- auth

/** The https URL of a Kubernetes API server, without a path: `https://10.0.0.50:6443`. */
export const KUBERNETES_HOST = /^https:\/\/[^\s/]+(:\d+)?\/?$/;

/** Kubernetes' wildcard for "any service account" or "any namespace". */
export const WILDCARD = "*";

/** Why a binding's service accounts and namespaces are refused together, or undefined. */
export function wildcardBindingProblem(serviceAccounts: readonly string[], namespaces: readonly string[]): string | undefined {
  return serviceAccounts.includes(WILDCARD) && namespaces.includes(WILDCARD)
    ? `serviceAccounts and namespaces must not both be the wildcard "${WILDCARD}" (Vault refuses it: any pod could log in)`
    : undefined;
}

/** A Kubernetes namespace name (a DNS-1123 label): `keybuzz`. */
export const K8S_NAMESPACE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** The longest namespace name Kubernetes accepts. */
export const K8S_NAMESPACE_MAX_LENGTH = 63;
/** A Kubernetes object name such as a ServiceAccount's (a DNS-1123 subdomain): `keybuzz-api`. */
export const K8S_OBJECT_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** The longest object name Kubernetes accepts. */
export const K8S_OBJECT_NAME_MAX_LENGTH = 253;

/** Why `value` cannot name a Kubernetes namespace (`"namespace"`) or object (`"object"`), or undefined. */
export function k8sNameProblem(value: string, kind: "namespace" | "object"): string | undefined {
  const [pattern, max] = kind === "namespace" ? [K8S_NAMESPACE, K8S_NAMESPACE_MAX_LENGTH] : [K8S_OBJECT_NAME, K8S_OBJECT_NAME_MAX_LENGTH];
  if (!pattern.test(value)) {
    return kind === "namespace"
      ? "must be a Kubernetes namespace name: lower-case letters, digits and -, starting and ending with a letter or digit"
      : "must be a Kubernetes object name: lower-case letters, digits, - and ., starting and ending with a letter or digit";
  }
  return value.length > max ? `must be at most ${max} characters` : undefined;
}

/**
 * The shortest lifetime Kubernetes gives a projected service-account token (`expirationSeconds`): the API
 * server refuses less than 10 minutes.
 */
export const K8S_MIN_TOKEN_EXPIRATION_SECONDS = 600;

// octets 0-255 and a prefix 0-32, without leading zeros (which Vault's parser refuses).
const OCTET = "(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)";
const CIDR = new RegExp(`^${OCTET}(?:\\.${OCTET}){3}\\/(?:3[0-2]|[12]?\\d)$`);

/** Whether `value` is an IPv4 CIDR block such as `10.0.0.0/24`. */
export function isCidr(value: string): boolean {
  return CIDR.test(value);
}

// ---------------------------------------------------------------------------------------------- hosts

/** An absolute path on an application's host: letters, digits and `._/-` (it goes into HCL and unit files). */
export const HOST_PATH = /^\/[A-Za-z0-9._/-]*$/;

// ---------------------------------------------------------------------------------------------- lifetimes
// Each rule below is checked by the construct that owns the thing (against its props) and by the config's
// rules (against its fields): the caller names the fields, the rule says what is wrong, once.

/** Why `value` seconds breaks its ceiling `limit`, which the message calls `limitName`, or undefined. */
export function exceedsProblem(value: number, limit: number, limitName: string): string | undefined {
  return value > limit ? `must not exceed ${limitName}: ${value}s > ${limit}s` : undefined;
}

/**
 * Why a token living at most `tokenMaxTtl` seconds would cut short the leases it reads (`leaseTtl`, which the
 * message calls `leaseName`), or undefined: Vault revokes a credential with the token that read it.
 */
export function tokenCutsLeasesProblem(tokenMaxTtl: number, leaseTtl: number, leaseName: string): string | undefined {
  return tokenMaxTtl < leaseTtl
    ? `must be at least ${leaseName} (${leaseTtl}s): Vault revokes credentials with the token that read them, so the token would cut every lease short`
    : undefined;
}

// ---------------------------------------------------------------------------------------------- pools and databases

/** Why a pool keeping `maxIdle` idle connections of at most `maxOpen` is refused, or undefined. */
export function idlePoolProblem(maxIdle: number, maxOpen: number): string | undefined {
  return maxIdle > maxOpen ? `must not exceed maxOpenConnections (${maxOpen})` : undefined;
}

/**
 * Why `name` may not be among the databases closed to PUBLIC, or undefined: issued users log in to the
 * application database (`database`, which the message calls `databaseName`).
 */
export function closedDatabaseProblem(name: string, database: string, databaseName: string): string | undefined {
  return name === database ? `must not name the application database (${databaseName} "${name}"), which issued users log in to` : undefined;
}
