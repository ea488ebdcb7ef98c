/**
 * cdktf records a full stack trace for every token it creates (each reference such as a role's name),
 * only to print it if resolving that token fails later. At 1,000 applications that is more than half of
 * synth time and a quarter of its memory (measured: 5.0 s and 250 MB without this, 2.2 s and 184 MB with).
 *
 * {@link skipTokenStackTraces} makes those recordings empty. It touches only `Error.captureStackTrace`
 * calls on plain objects, which is how cdktf records them: every real `Error` keeps its stack trace.
 * The app calls it unless KEYBUZZ_TOKEN_STACK_TRACES=1 (to debug a token that does not resolve).
 */
export function skipTokenStackTraces(): () => void {
  const original = Error.captureStackTrace;
  const patched = function captureStackTrace(target: object, constructorOpt?: (...args: never[]) => unknown): void {
    if (target instanceof Error) original.call(Error, target, constructorOpt);
    // cdktf's recorder passes `{ stack: "" }` and reads `stack` back: leave it empty.
  };
  Error.captureStackTrace = patched as typeof Error.captureStackTrace;
  return () => {
    if (Error.captureStackTrace === patched) Error.captureStackTrace = original;
  };
}
