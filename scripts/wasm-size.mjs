#!/usr/bin/env node
// Size of a .wasm by crate, from its name section: each function's code
// bytes summed under the crate its (demangled) name starts with, plus data
// and the other sections. Feed it a module that still has its names (the
// cargo output, before wasm-opt strips them).
//
// Usage: node scripts/wasm-size.mjs path/to/module.wasm [--top N] [--functions N]
import { readFileSync } from "node:fs";

const args = process.argv.slice(2);
const file = args.find((a) => !a.startsWith("--"));
const option = (name, fallback) => {
    const i = args.indexOf(name);
    return i >= 0 ? Number(args[i + 1]) : fallback;
};
if (!file) {
    console.error("usage: node scripts/wasm-size.mjs module.wasm [--top N] [--functions N]");
    process.exit(2);
}
const bytes = readFileSync(file);
let pos = 8;
const u32 = () => {
    let result = 0, shift = 0, byte;
    do {
        byte = bytes[pos++];
        result |= (byte & 0x7f) << shift;
        shift += 7;
    } while (byte & 0x80);
    return result >>> 0;
};
const name = () => {
    const len = u32();
    const text = bytes.toString("utf8", pos, pos + len);
    pos += len;
    return text;
};

const sections = [];
let imported = 0;
const bodies = [];
const names = new Map();
while (pos < bytes.length) {
    const id = bytes[pos++];
    const size = u32();
    const start = pos;
    const end = start + size;
    let label = ["custom", "type", "import", "function", "table", "memory", "global", "export", "start", "element", "code", "data", "datacount"][id] ?? `section ${id}`;
    if (id === 0) {
        const custom = name();
        label = `custom "${custom}"`;
        if (custom === "name") {
            while (pos < end) {
                const sub = bytes[pos++];
                const subSize = u32();
                const subEnd = pos + subSize;
                if (sub === 1) {
                    const count = u32();
                    for (let i = 0; i < count; i++) {
                        const index = u32();
                        names.set(index, name());
                    }
                }
                pos = subEnd;
            }
        }
    } else if (id === 2) {
        const count = u32();
        for (let i = 0; i < count; i++) {
            name();
            name();
            const kind = bytes[pos++];
            if (kind === 0) { u32(); imported++; }
            else if (kind === 1) { pos++; const flags = u32(); u32(); if (flags & 1) u32(); }
            else if (kind === 2) { const flags = u32(); u32(); if (flags & 1) u32(); }
            else if (kind === 3) { pos += 2; }
        }
    } else if (id === 10) {
        const count = u32();
        for (let i = 0; i < count; i++) {
            const bodySize = u32();
            bodies.push(bodySize);
            pos += bodySize;
        }
    }
    sections.push({ label, size });
    pos = end;
}

// The crate a function belongs to, read from its mangled name: legacy
// (`_ZN11edgemetrics4wasm...`, `_ZN76_$LT$edgemetrics..wasm..Type$u20$as...`)
// or v0 (`_RNvNtCs1a2b_4core3fmt...`); wasm-bindgen's exports and the
// linker's helpers have plain names.
const crateOf = (fn) => {
    const legacy = fn.match(/^_ZN(\d+)/);
    if (legacy) {
        const start = legacy[0].length;
        const first = fn.slice(start, start + Number(legacy[1]));
        const inner = first.match(/^_?\$LT\$(?:\$RF\$|mut\$u20\$|dyn\$u20\$|\[)*([A-Za-z_][A-Za-z0-9_]*)/);
        return inner ? inner[1] : first;
    }
    const v0 = fn.match(/^_R.*?C(?:s[0-9A-Za-z]*_)?(\d+)([A-Za-z_][A-Za-z0-9_]*)/);
    if (v0) return v0[2].slice(0, Number(v0[1]));
    // Demangled (what wasm-bindgen writes): `edgemetrics::a::b`,
    // `<edgemetrics::T as serde::Serialize>::f`, `core[5930c8]::fmt::...`.
    const path = fn.replace(/^(<|&|mut |dyn |\*const |\*mut |\[)+/, "").match(/^([A-Za-z_][A-Za-z0-9_]*)(\[[0-9a-f]+\])?::/);
    if (path) return path[1];
    if (/_[0-9a-f]{16}$/.test(fn) || /^__wbg|^__wbindgen|^__externref/.test(fn)) return "(wasm-bindgen exports and shims)";
    return "(runtime/linker)";
};
const byCrate = new Map();
const functions = [];
bodies.forEach((size, i) => {
    const fn = names.get(imported + i) ?? `func[${imported + i}]`;
    functions.push({ fn, size });
    const crate = crateOf(fn);
    byCrate.set(crate, (byCrate.get(crate) ?? 0) + size);
});
const total = bytes.length;
const pct = (n) => `${((100 * n) / total).toFixed(1).padStart(5)}%`;
console.log(`${file}: ${total} bytes, ${bodies.length} functions (${names.size} named)`);
console.log("\nsections:");
for (const { label, size } of sections.sort((a, b) => b.size - a.size)) {
    console.log(`  ${String(size).padStart(8)} ${pct(size)}  ${label}`);
}
console.log("\ncode by crate:");
for (const [crate, size] of [...byCrate].sort((a, b) => b[1] - a[1]).slice(0, option("--top", 25))) {
    console.log(`  ${String(size).padStart(8)} ${pct(size)}  ${crate}`);
}
const top = option("--functions", 0);
if (top > 0) {
    console.log(`\nlargest functions:`);
    for (const { fn, size } of functions.sort((a, b) => b.size - a.size).slice(0, top)) {
        console.log(`  ${String(size).padStart(8)}  ${fn.slice(0, 150)}`);
    }
}
