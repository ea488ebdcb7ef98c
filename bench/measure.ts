/**
 * What every benchmark section shares: progress lines on stderr, a command timed under `/usr/bin/time`, the
 * concurrency of the credential sections, and the result of a section that could not run.
 */
import { randomBytes } from "node:crypto";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { run } from "../harness/processes";

/** Credentials issued (and revoked) at once by the credential sections. */
export const CONCURRENCY = 16;

/** A progress line on stderr (`[bench] …`); the report goes to stdout and BENCHMARKS.md. */
export function progress(msg: string): void {
  process.stderr.write(`[bench] ${msg}\n`);
}

/** A section that did not run, and what it lacked (a tool, as prepareToolchain says). */
export interface NotRun {
  readonly missing: string;
}

/** Whether a section's outcome is {@link NotRun}. */
export function notRun<T extends object>(outcome: T | NotRun): outcome is NotRun {
  return "missing" in outcome;
}

/** One command's wall time and peak resident set. */
export interface Timed {
  readonly wallS: number;
  readonly rssKb: number;
}

/** Runs a command under `/usr/bin/time -f "%e %M"` (written to a file, so the command's output stays apart). */
export async function timed(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv, scratch: string, okCodes = [0]): Promise<Timed> {
  const out = join(scratch, `time-${randomBytes(4).toString("hex")}.txt`);
  const result = await run("/usr/bin/time", ["-o", out, "-f", "%e %M", command, ...args], { cwd, env });
  if (!okCodes.includes(result.code)) throw new Error(`${command} ${args.join(" ")} exited ${result.code}\n${result.stdout}\n${result.stderr}`);
  const [wall, rss] = readFileSync(out, "utf8").trim().split("\n").pop()!.split(" ");
  rmSync(out);
  return { wallS: Number(wall), rssKb: Number(rss) };
}
