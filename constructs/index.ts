export * from "./base-roles";
export * from "./vault-admin";
export * from "./secrets-mount";
export * from "./connection";
export * from "./dynamic-role";
export * from "./app-policy";
export * from "./approle-auth";
export * from "./kubernetes-auth";
