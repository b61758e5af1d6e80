// Builds the dashboard into www/dist: index.html, app.js and app.css
// (esbuild: the SDK, uPlot and the page's modules in one minified ES
// module), and the SDK's .wasm beside them. The collector serves the
// directory with `--www www/dist`.
//
//   node www/build.mjs [--outdir DIR]
import { build } from "esbuild";
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const outdir = resolve(args.includes("--outdir") ? args[args.indexOf("--outdir") + 1] : join(here, "dist"));

const wasm = resolve(here, "../pkg/dist/edgemetrics.wasm");
if (!existsSync(wasm)) {
    console.error(`${wasm} is missing: build the npm package first (pkg/build.sh)`);
    process.exit(1);
}
rmSync(outdir, { recursive: true, force: true });
mkdirSync(outdir, { recursive: true });
await build({
    entryPoints: { app: join(here, "src/main.js") },
    outdir,
    bundle: true,
    format: "esm",
    platform: "browser",
    target: ["chrome110", "firefox115", "safari16"],
    minify: true,
    sourcemap: "linked",
    legalComments: "none",
    // The .wasm is fetched by the SDK's init(url), from beside app.js.
    loader: { ".wasm": "file" },
    assetNames: "[name]-[hash]",
    logLevel: "warning",
});
copyFileSync(join(here, "index.html"), join(outdir, "index.html"));

for (const file of readdirSync(outdir).filter((name) => !name.endsWith(".map"))) {
    const bytes = readFileSync(join(outdir, file));
    const gzip = gzipSync(bytes, { level: 9 }).length;
    console.log(`${file.padEnd(34)} ${String(bytes.length).padStart(8)} bytes ${String(gzip).padStart(7)} gzip`);
}
