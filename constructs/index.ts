export * from "./base-roles";
export * from "./vault-admin";
export * from "./secrets-mount";
export * from "./connection";
export * from "./dynamic-role";
