import { Construct } from "constructs";
import type { TerraformStack } from "cdktf";
import { describe, expect, it } from "vitest";
import { AppPolicy } from "../../constructs/app-policy";
import { Application } from "../../constructs/application";
import { Connection } from "../../constructs/connection";
import { DynamicRole } from "../../constructs/dynamic-role";
import { movedFrom } from "../../stacks/moved";
import { dependency, fixture, synthStack } from "../helpers";

/** The fixture and a connection on it: what a dynamic role needs. */
function connected(stack: TerraformStack) {
  const f = fixture(stack);
  return {
    ...f,
    connection: new Connection(stack, "Connection", { mount: f.mount, admin: f.admin, host: "10.0.0.11", port: 5432, database: "keybuzz" }),
  };
}

/** An application `api` under `Applications/`, as KeybuzzStack builds it, with the stack's two moved blocks. */
function synthMoved() {
  return synthStack((stack) => {
    const { connection, ...f } = connected(stack);
    const app = new Application(new Construct(stack, "Applications"), "api", {
      connection,
      functions: f.functions,
      vaultRole: "api-db",
      baseRole: f.baseRoles.role("app"),
    });
    movedFrom(app.role.resource, ["DynamicRoles", "api", "Resource"]);
    movedFrom(app.policy.resource, ["Policies", "api", "Resource"]);
    return app;
  });
}

describe("movedFrom", () => {
  it("writes one moved block per call, from the address the old construct path had to the resource's own", () => {
    const { json, built: app } = synthMoved();
    // the layout before: the stack put each application's role and policy in these two scopes.
    const before = synthStack((stack) => {
      const { connection, ...f } = connected(stack);
      const role = new DynamicRole(new Construct(stack, "DynamicRoles"), "api", {
        connection,
        functions: f.functions,
        name: "api-db",
        baseRoles: [f.baseRoles.role("app")],
      });
      return { role, policy: new AppPolicy(new Construct(stack, "Policies"), "api", { role }) };
    }).built;

    expect(json.moved).toEqual([
      { from: dependency(before.role.resource), to: dependency(app.role.resource) },
      { from: dependency(before.policy.resource), to: dependency(app.policy.resource) },
    ]);
    expect(dependency(before.role.resource)).toBe("vault_database_secret_backend_role.DynamicRoles_api_9E090397");
  });
});
