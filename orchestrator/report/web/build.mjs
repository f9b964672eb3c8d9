// Copies the report's chart library into ../static (committed, shipped in the wheel):
// chart.umd.min.js (Chart.js' own UMD build, as released, which bundles @kurkle/color),
// without its source-map comment (the page inlines it; there is no map beside it), and
// THIRD_PARTY_LICENSES.txt with the licences of both. Run by `make report-assets`.
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "static");
const modules = join(here, "node_modules");

const chart = readFileSync(join(modules, "chart.js", "dist", "chart.umd.min.js"), "utf8");
writeFileSync(
  join(out, "chart.umd.min.js"),
  chart.replace(/\n\/\/# sourceMappingURL=\S+\s*$/, "\n"),
);

const parts = ["chart.js", "@kurkle/color"].map((name) => {
  const dir = join(modules, name);
  const meta = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
  const file = readdirSync(dir).find((f) => /^(licen[cs]e|copying)(\.|$)/i.test(f));
  const text = file ? readFileSync(join(dir, file), "utf8").trim() : "(no licence file in the package)";
  return `${name} ${meta.version} (${meta.license || "see below"})\n\n${text}\n`;
});
writeFileSync(join(out, "THIRD_PARTY_LICENSES.txt"), parts.join("\n" + "-".repeat(72) + "\n\n"));
