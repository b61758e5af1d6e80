// Bundles the Worker with esbuild into dist/: worker.js (one ES module)
// beside edgemetrics.wasm, which the Worker imports as a module (workerd
// and Cloudflare load `.wasm` modules compiled; they cannot compile bytes
// at run time). Prints the sizes, raw and gzip -9, and writes them to
// dist/size.json.
//
//   node build.mjs [--outdir DIR] [--no-minify]
import { build } from "esbuild";
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const outdir = resolve(args.includes("--outdir") ? args[args.indexOf("--outdir") + 1] : join(here, "dist"));
const minify = !args.includes("--no-minify");

/** `import x from "....wasm"`: copied beside the bundle and left as an import of it. */
const wasmModules = {
    name: "wasm-modules",
    setup(builder) {
        builder.onResolve({ filter: /\.wasm$/ }, async (args) => {
            if (args.pluginData?.wasmModules) return undefined;
            const found = await builder.resolve(args.path, {
                kind: args.kind,
                importer: args.importer,
                resolveDir: args.resolveDir,
                pluginData: { wasmModules: true },
            });
            if (found.errors.length > 0) return { errors: found.errors };
            copyFileSync(found.path, join(outdir, basename(found.path)));
            return { path: `./${basename(found.path)}`, external: true };
        });
    },
};

const wasm = resolve(here, "../../pkg/dist/edgemetrics.wasm");
if (!existsSync(wasm)) {
    console.error(`${wasm} is missing: build the npm package first (pkg/build.sh)`);
    process.exit(1);
}
rmSync(outdir, { recursive: true, force: true });
mkdirSync(outdir, { recursive: true });
await build({
    entryPoints: [join(here, "src/worker.js")],
    outfile: join(outdir, "worker.js"),
    bundle: true,
    format: "esm",
    platform: "browser",
    conditions: ["workerd", "worker", "browser"],
    target: "es2022",
    minify,
    legalComments: "none",
    logLevel: "warning",
    plugins: [wasmModules],
});

const sizes = {};
for (const file of ["worker.js", "edgemetrics.wasm"]) {
    const bytes = readFileSync(join(outdir, file));
    sizes[file] = { raw: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length };
}
sizes.total = {
    raw: sizes["worker.js"].raw + sizes["edgemetrics.wasm"].raw,
    gzip: sizes["worker.js"].gzip + sizes["edgemetrics.wasm"].gzip,
};
writeFileSync(join(outdir, "size.json"), JSON.stringify(sizes, null, 2) + "\n");
for (const [file, { raw, gzip }] of Object.entries(sizes)) {
    console.log(`${file.padEnd(22)} ${String(raw).padStart(8)} bytes  ${String(gzip).padStart(7)} gzip`);
}
