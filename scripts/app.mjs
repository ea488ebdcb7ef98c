/**
 * The cdktf app as `cdktf synth|diff|deploy` and `npm run synth` run it (`app` in cdktf.json): main.ts
 * and everything it imports, bundled once by esbuild into one CommonJS file, then run with plain `node`.
 * Loading one file instead of transpiling a few hundred modules through tsx on every run is what makes
 * synth fast; the output is the same bytes (test/scripts/app.test.ts compares).
 *
 * The bundle is rebuilt, without a manual step, whenever what it was built from changed: the content of
 * every project file it includes, the size and time of every dependency file, esbuild's version, or this
 * file; one line on stdout says so and why (stdout, since cdktf shows an app's stderr as errors). It lives
 * in node_modules/.cache/keybuzz-app/ (outside the repository, gone with `npm ci`; one folder per checkout
 * path) and is replaced by a rename, so that two synths at once never read half a file. V8's code cache
 * for it is kept beside it, one per set of V8 flags.
 *
 * `node scripts/app.mjs --build` only (re)builds it and says which files changed.
 */
import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { Module, createRequire } from "node:module";
import vm from "node:vm";
import { dirname, isAbsolute, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const sha1 = (data) => createHash("sha1").update(data).digest("hex");
// one cache per checkout: a copy of the project that links this node_modules keeps its own bundle.
const CACHE = join(ROOT, "node_modules", ".cache", "keybuzz-app", sha1(ROOT).slice(0, 12));
const BUNDLE = join(CACHE, "main.cjs");
const MANIFEST = join(CACHE, "inputs.json");
// V8 rejects a code cache made under other flags, and cdktf runs the app with NODE_OPTIONS=--max-old-space-size=4096:
// one cache per set of flags, or cdktf's runs and direct runs would each throw the other's away.
const V8_FLAGS = JSON.stringify([process.version, process.execArgv, process.env.NODE_OPTIONS ?? ""]);
const CODE_CACHE = join(CACHE, `main.cjs.${sha1(V8_FLAGS).slice(0, 12)}.v8-cache`);
const require = createRequire(import.meta.url);

const isDependency = (path) => path.split(/[\\/]/).includes("node_modules");

/** What a file contributes to the bundle's identity: its content for project files, size and time for dependencies. */
function fingerprint(path) {
  if (isDependency(path)) {
    const s = statSync(path);
    return `${s.size}:${s.mtimeMs}`;
  }
  return sha1(readFileSync(path));
}

/** Why the bundle must be (re)built — the files that changed, [] when there is none yet — or null when it is current. */
function staleInputs() {
  let manifest;
  try {
    manifest = JSON.parse(readFileSync(MANIFEST, "utf8"));
    statSync(BUNDLE);
  } catch {
    return [];
  }
  if (manifest.launcher !== sha1(readFileSync(fileURLToPath(import.meta.url)))) return ["scripts/app.mjs"];
  if (manifest.esbuild !== require("esbuild/package.json").version) return ["esbuild"];
  const changed = [];
  for (const [file, print] of Object.entries(manifest.inputs)) {
    let now;
    try {
      now = fingerprint(join(ROOT, file));
    } catch {
      now = "(gone)";
    }
    if (now !== print) changed.push(file);
  }
  return changed.length > 0 ? changed : null;
}

/** Bundles main.ts into BUNDLE and writes the manifest of its inputs. */
async function build() {
  const esbuild = require("esbuild");
  const result = await esbuild.build({
    entryPoints: [join(ROOT, "main.ts")],
    bundle: true,
    platform: "node",
    target: `node${process.versions.node.split(".")[0]}`,
    format: "cjs",
    write: false,
    metafile: true,
    outfile: BUNDLE,
    logLevel: "silent",
    plugins: [
      {
        // a project file's __dirname is its own folder, as when tsx runs it, not the bundle's.
        name: "project-dirname",
        setup(b) {
          b.onLoad({ filter: /\.ts$/ }, (args) => {
            if (isDependency(args.path)) return undefined;
            const source = readFileSync(args.path, "utf8").replace(/\b__dirname\b/g, JSON.stringify(dirname(args.path)));
            return { contents: source, loader: "ts" };
          });
        },
      },
    ],
  });
  const inputs = {};
  for (const file of Object.keys(result.metafile.inputs)) {
    const path = isAbsolute(file) ? file : resolve(ROOT, file);
    inputs[relative(ROOT, path)] = fingerprint(path);
  }
  mkdirSync(CACHE, { recursive: true });
  const tmp = `${BUNDLE}.${process.pid}`;
  writeFileSync(tmp, result.outputFiles[0].contents);
  renameSync(tmp, BUNDLE);
  for (const file of readdirSync(CACHE)) if (file.endsWith(".v8-cache")) rmSync(join(CACHE, file), { force: true });
  const manifest = {
    launcher: sha1(readFileSync(fileURLToPath(import.meta.url))),
    esbuild: require("esbuild/package.json").version,
    inputs,
  };
  writeFileSync(`${MANIFEST}.${process.pid}`, JSON.stringify(manifest));
  renameSync(`${MANIFEST}.${process.pid}`, MANIFEST);
}

const stale = staleInputs();
if (stale) {
  const shown = stale.slice(0, 3).join(", ") + (stale.length > 3 ? ` and ${stale.length - 3} more` : "");
  process.stdout.write(`[app] bundling main.ts${stale.length > 0 ? ` (changed: ${shown})` : ""}\n`);
  try {
    await build();
  } catch (err) {
    // esbuild's own message names the file, line and column.
    process.stderr.write(`[app] could not bundle main.ts:\n${err.message}\n`);
    process.exit(1);
  }
}
if (!process.argv.includes("--build")) run();

/**
 * Runs the bundle as Node would require it, with V8's code cache: compiling 3 MB of JavaScript is a third
 * of a run, so the compiled code is kept next to the bundle after the first run and reused while V8
 * accepts it (same bundle, same Node).
 */
function run() {
  const code = readFileSync(BUNDLE, "utf8");
  let cachedData;
  try {
    cachedData = readFileSync(CODE_CACHE);
  } catch {
    cachedData = undefined;
  }
  const script = new vm.Script(Module.wrap(code), { filename: BUNDLE, cachedData });
  const module = new Module(BUNDLE);
  module.filename = BUNDLE;
  module.paths = Module._nodeModulePaths(CACHE);
  script.runInThisContext().call(module.exports, module.exports, createRequire(BUNDLE), module, BUNDLE, CACHE);
  if (cachedData === undefined || script.cachedDataRejected) {
    // after the run, so that the functions the run compiled are in it too.
    const tmp = `${CODE_CACHE}.${process.pid}`;
    writeFileSync(tmp, script.createCachedData());
    renameSync(tmp, CODE_CACHE);
  }
}
