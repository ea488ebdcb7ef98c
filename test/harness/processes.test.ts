import { createServer } from "node:net";
import { afterEach, describe, expect, it, vi } from "vitest";
import { freePort, pool, run, runOk, startProcess, waitFor } from "../../harness/processes";

afterEach(() => {
  vi.restoreAllMocks();
});

describe("run", () => {
  it("returns the exit code and both outputs without throwing on failure", async () => {
    const result = await run("sh", ["-c", "echo out; echo err >&2; exit 3"]);
    expect(result).toEqual({ code: 3, stdout: "out\n", stderr: "err\n" });
  });

  it("feeds `input` to the command", async () => {
    expect((await run("cat", [], { input: "hello" })).stdout).toBe("hello");
  });

  it("streams non-empty lines behind the echo prefix", async () => {
    const write = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    await run("sh", ["-c", "printf 'a\\n\\n  \\nb\\n'"], { echo: "[t]" });
    expect(write.mock.calls.map((c) => c[0])).toEqual(["[t] a\n", "[t] b\n"]);
  });
});

describe("runOk", () => {
  it("throws with the command line, its exit code and its output when it fails", async () => {
    await expect(runOk("sh", ["-c", "echo boom >&2; exit 4"])).rejects.toThrow(/^sh -c echo boom >&2; exit 4 exited 4\n\nboom\n$/);
  });

  it("returns the result when it succeeds", async () => {
    expect((await runOk("sh", ["-c", "echo ok"])).stdout).toBe("ok\n");
  });
});

describe("startProcess", () => {
  it("collects both outputs and resolves with the exit code", async () => {
    const p = startProcess("sh", ["-c", "echo one; echo two >&2; exit 5"]);
    expect(await p.exited).toBe(5);
    expect(p.output()).toContain("one\n");
    expect(p.output()).toContain("two\n");
  });

  it("reaches the whole process group with a signal and reports 128 + its number", async () => {
    // the shell waits on a child: SIGTERM to the group ends both, as Ctrl-C would.
    const p = startProcess("sh", ["-c", "sleep 30 & wait"]);
    await new Promise((r) => setTimeout(r, 100));
    p.signal("SIGTERM");
    expect(await p.exited).toBe(128 + 15);
    p.signal("SIGKILL"); // a no-op once it exited.
  });

  it("echoes only the lines matching echoOnly", async () => {
    const write = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    const p = startProcess("sh", ["-c", "echo keep me; echo drop me"], { echo: "[p]", echoOnly: /keep/ });
    await p.exited;
    expect(write.mock.calls.map((c) => c[0])).toEqual(["[p] keep me\n"]);
  });
});

describe("freePort", () => {
  it("gives a port that can be bound on 127.0.0.1", async () => {
    const port = await freePort();
    expect(port).toBeGreaterThan(0);
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", resolve);
    });
    await new Promise((r) => server.close(r));
  });
});

describe("waitFor", () => {
  it("returns once the check passes, retrying through errors", async () => {
    let calls = 0;
    await waitFor("the third call", async () => {
      calls++;
      if (calls === 1) throw new Error("not yet");
      return calls === 3;
    });
    expect(calls).toBe(3);
  });

  it("fails after the timeout naming what it waited for and the last error", async () => {
    await expect(
      waitFor(
        "a server",
        async () => {
          throw new Error("ECONNREFUSED");
        },
        300,
      ),
    ).rejects.toThrow("timed out after 300 ms waiting for a server: Error: ECONNREFUSED");
  });

  it("says no more than what it waited for when the check only said false", async () => {
    await expect(waitFor("nothing", async () => false, 50)).rejects.toThrow(/^timed out after 50 ms waiting for nothing$/);
  });
});

describe("pool", () => {
  it("runs every task with its index and returns the results in index order", async () => {
    const results = await pool(5, 2, async (i) => {
      await new Promise((r) => setTimeout(r, (5 - i) * 5));
      return i * 10;
    });
    expect(results).toEqual([0, 10, 20, 30, 40]);
  });

  it("runs at most `concurrency` tasks at a time", async () => {
    let running = 0;
    let most = 0;
    await pool(8, 3, async () => {
      most = Math.max(most, ++running);
      await new Promise((r) => setTimeout(r, 5));
      running--;
    });
    expect(most).toBe(3);
  });

  it("starts no worker for no tasks", async () => {
    const task = vi.fn(async () => 1);
    expect(await pool(0, 4, task)).toEqual([]);
    expect(task).not.toHaveBeenCalled();
  });
});
