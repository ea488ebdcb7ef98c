import { describe, expect, it, vi } from "vitest";
import { RAFT_EVENTS } from "../../harness/raft-failover";
import type { RaftCluster } from "../../harness/raft";

/** A cluster that runs nothing: three nodes, `active` the active one, every call recorded. */
function fakeCluster(active: string | undefined) {
  const cluster = {
    nodes: [{ name: "node1" }, { name: "node2" }, { name: "node3" }],
    active: vi.fn(async () => active),
    stepDown: vi.fn(async () => active ?? "none"),
    kill: vi.fn(),
    exited: vi.fn(async () => undefined),
    restart: vi.fn(async () => undefined),
  };
  return { cluster, asRaft: cluster as unknown as RaftCluster };
}

describe("RAFT_EVENTS", () => {
  it("steps the active node down with no burst, and has nothing to bring back", async () => {
    const { cluster, asRaft } = fakeCluster("node2");
    const event = RAFT_EVENTS["step-down"];
    expect(event.burst).toBe(false);
    const { node, recover } = await event.run(asRaft);
    expect(node).toBe("node2");
    await recover();
    expect(cluster.kill).not.toHaveBeenCalled();
    expect(cluster.restart).not.toHaveBeenCalled();
  });

  it("kills the active node after a burst", async () => {
    const { cluster, asRaft } = fakeCluster("node3");
    const event = RAFT_EVENTS["kill-active"];
    expect(event.burst).toBe(true);
    expect((await event.run(asRaft)).node).toBe("node3");
    expect(cluster.kill).toHaveBeenCalledWith("node3");
  });

  it("refuses to kill the active node when there is none", async () => {
    const { cluster, asRaft } = fakeCluster(undefined);
    await expect(RAFT_EVENTS["kill-active"].run(asRaft)).rejects.toThrow("no active node to kill");
    expect(cluster.kill).not.toHaveBeenCalled();
  });

  it("kills a standby, never the active node", async () => {
    const { cluster, asRaft } = fakeCluster("node1");
    const event = RAFT_EVENTS["kill-standby"];
    expect(event.burst).toBe(true);
    expect((await event.run(asRaft)).node).toBe("node2");
    expect(cluster.kill).toHaveBeenCalledWith("node2");
  });

  it("names each event for the recovery report", () => {
    expect(Object.fromEntries(Object.entries(RAFT_EVENTS).map(([k, e]) => [k, e.label]))).toEqual({
      "step-down": "step-down of the active node",
      "kill-active": "kill of the active node",
      "kill-standby": "kill of a standby",
    });
  });
});
