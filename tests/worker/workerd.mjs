// The example Worker's bundle (examples/worker/dist, from its build.mjs)
// run in workerd through miniflare 4, loaded the way Cloudflare loads it:
// ES modules, and the .wasm as a compiled WebAssembly module.
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { Miniflare } from "miniflare";
import { ROOT } from "./collector.mjs";

export const DIST = process.env.EDGEMETRICS_WORKER_DIST ?? resolve(ROOT, "examples/worker/dist");

/**
 * Starts the Worker with `bindings` (its env). Its console output goes to
 * `output` (an array of lines, stdout and stderr alike).
 */
export async function startWorker(bindings, output = []) {
    const script = resolve(DIST, "worker.js");
    if (!existsSync(script)) throw new Error(`${script} is missing: node examples/worker/build.mjs`);
    const mf = new Miniflare({
        modules: true,
        scriptPath: script,
        modulesRoot: DIST,
        modulesRules: [
            { type: "ESModule", include: ["**/*.js"] },
            { type: "CompiledWasm", include: ["**/*.wasm"] },
        ],
        compatibilityDate: "2025-06-01",
        bindings,
        // What request.cf carries on Cloudflare; fixed, so nothing is fetched for it.
        cf: { country: "NL", colo: "AMS" },
        handleRuntimeStdio(stdout, stderr) {
            for (const stream of [stdout, stderr]) {
                stream.setEncoding("utf8");
                stream.on("data", (text) => output.push(...text.split("\n").filter(Boolean)));
            }
        },
    });
    await mf.ready;
    return mf;
}
