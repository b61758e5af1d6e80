// A short run of every JS fuzz target (its seeds and a few thousand
// mutations, the seed changing each day so that the suite keeps
// exploring); the long runs are `node fuzz/js/fuzz.mjs all`.
import { test } from "node:test";
import assert from "node:assert/strict";
import { fuzz, targetNames } from "./fuzz.mjs";

const day = Math.floor(Date.now() / 86_400_000);

for (const name of targetNames) {
    test(`${name}: no input makes the parser throw what it does not mean to, or stall`, () => {
        const report = fuzz(name, { inputs: 5_000, seed: day, timeMs: 2_000, maxFindings: 1 });
        assert.deepEqual(report.findings, [], `seed ${day}: replay with node fuzz/js/fuzz.mjs --replay ${name} <input>`);
        assert.ok(report.inputs > 5_000);
    });
}
