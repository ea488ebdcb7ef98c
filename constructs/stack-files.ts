import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Construct } from "constructs";
import { TerraformStack, type ISynthesisSession } from "cdktf";
// cdktf's own hook for files written with a stack (TerraformAsset uses it); not re-exported by its index.
import { addCustomSynthesis } from "cdktf/lib/synthesize/synthesizer";

/**
 * Writes `files` (name → contents) into `folder` (a relative path, `/`-separated) of the stack's output folder
 * (`<outdir>/stacks/<stack>/<folder>/`) when the app is synthesized: files that go with the stack, reviewed
 * with it, and never in Terraform state. Read from `files()` at synthesis, so a construct can fill them after
 * this call.
 */
export function writeStackFiles(scope: Construct, folder: string, files: () => Readonly<Record<string, string>>): void {
  addCustomSynthesis(scope, {
    onSynthesize: (session: ISynthesisSession) => {
      const stack = TerraformStack.of(scope);
      const dir = join(session.outdir, session.manifest.forStack(stack).workingDirectory, ...folder.split("/"));
      mkdirSync(dir, { recursive: true });
      for (const [name, text] of Object.entries(files())) writeFileSync(join(dir, name), text);
    },
  });
}

/** {@link writeStackFiles} into `agent/<application>/`: an application's Vault Agent files. */
export function writeAgentFiles(scope: Construct, application: string, files: () => Readonly<Record<string, string>>): void {
  writeStackFiles(scope, `agent/${application}`, files);
}
