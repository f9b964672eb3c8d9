// Builds the studio's third-party assets into ../static (committed, shipped in the wheel):
// editor.bundle.js (CodeMirror 6 with YAML and lint, from editor.js) and mermaid.min.js
// (Mermaid's own dist bundle, copied as released). Run by `make studio-assets`.
import { build } from "esbuild";
import { copyFileSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "static");

await build({
  entryPoints: [join(here, "editor.js")],
  bundle: true,
  minify: true,
  format: "iife",
  globalName: "StudioEditor",
  target: ["es2020"],
  legalComments: "none",
  outfile: join(out, "editor.bundle.js"),
});
copyFileSync(join(here, "node_modules", "mermaid", "dist", "mermaid.min.js"), join(out, "mermaid.min.js"));

// One file with the licences of what the two bundles contain.
const packages = ["codemirror", "@codemirror/view", "@codemirror/state", "@codemirror/lang-yaml",
  "@codemirror/lint", "@codemirror/language", "@codemirror/commands", "@codemirror/search",
  "@codemirror/autocomplete", "@lezer/common", "@lezer/highlight", "@lezer/lr", "@lezer/yaml",
  "style-mod", "w3c-keyname", "crelt", "mermaid"];
const parts = packages.map((name) => {
  const dir = join(here, "node_modules", name);
  const meta = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
  let text = "";
  for (const file of ["LICENSE", "LICENSE.md", "LICENSE.txt"]) {
    try { text = readFileSync(join(dir, file), "utf8"); break; } catch { /* next name */ }
  }
  return `${name} ${meta.version} (${meta.license})\n\n${text.trim()}\n`;
});
writeFileSync(join(out, "THIRD_PARTY_LICENSES.txt"), parts.join("\n" + "-".repeat(72) + "\n\n"));
