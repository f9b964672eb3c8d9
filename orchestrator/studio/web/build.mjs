// Builds the studio's third-party assets into ../static (committed, shipped in the wheel):
// editor.bundle.js (CodeMirror 6 with YAML and lint, from editor.js) and mermaid.min.js
// (Mermaid's own dist bundle, copied as released). Run by `make studio-assets`.
import { build } from "esbuild";
import { copyFileSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
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

// One file with the licences of every installed package the bundles may contain (esbuild,
// the bundler, left out).
const modules = join(here, "node_modules");
const names = [];
for (const entry of readdirSync(modules).sort()) {
  if (entry.startsWith(".") || entry === "esbuild" || entry === "@esbuild") continue;
  if (entry.startsWith("@")) {
    for (const inner of readdirSync(join(modules, entry)).sort()) names.push(`${entry}/${inner}`);
  } else {
    names.push(entry);
  }
}
const parts = names.map((name) => {
  const dir = join(modules, name);
  const meta = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
  const file = readdirSync(dir).find((f) => /^(licen[cs]e|copying)(\.|$)/i.test(f));
  const text = file ? readFileSync(join(dir, file), "utf8").trim() : "(no licence file in the package)";
  return `${name} ${meta.version} (${meta.license || "see below"})\n\n${text}\n`;
});
writeFileSync(join(out, "THIRD_PARTY_LICENSES.txt"), parts.join("\n" + "-".repeat(72) + "\n\n"));
