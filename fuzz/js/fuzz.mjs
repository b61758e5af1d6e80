#!/usr/bin/env node
// Fuzz targets for the npm package's parsers of outside bytes, with the
// same kind of driver as the Rust targets (fuzz/src): seeds from the test
// corpus, mutated by a seeded generator. A target may refuse its input
// only with the error its parser means to throw; a TypeError, a
// RangeError (a stack overflow among them) or another error kind is a
// finding, and so is an input slower than --time-ms.
//
//   node fuzz/js/fuzz.mjs [TARGET|all] [--inputs N] [--seed S] [--time-ms MS]
//   node fuzz/js/fuzz.mjs --replay TARGET HEX
//
// Targets: json (the schema JSON reader), schema (the schema reader),
// response (WriteMetricsResponse), frames (gRPC-web answer frames), event
// (SubscribeEvent frames), rows (a subscription's Avro rows against a
// corpus schema, as the subscription decodes them).
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseJson } from "../../pkg/lib/json.js";
import { parseSchema } from "../../pkg/lib/schema.js";
import { fields, readResponse, string } from "../../pkg/lib/proto.js";
import { readFrames } from "../../pkg/lib/grpc-web.js";
import { readEvent, shape } from "../../pkg/lib/live.js";
import { decodeRows } from "../../pkg/lib/decode.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "../..");
const MAX_INPUT = 64 * 1024;
const utf8 = new TextEncoder();
const latin = new TextDecoder("latin1");
const unhex = (hex) => Uint8Array.from(hex.trim().match(/../g) ?? [], (b) => parseInt(b, 16));
const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

const schemaTexts = JSON.parse(readFileSync(join(ROOT, "tests/corpus/js/schemas.json"), "utf8")).map((c) => c.schema);
const records = JSON.parse(readFileSync(join(ROOT, "tests/corpus/js/rows.json"), "utf8")).map((set) => ({
    root: shape(JSON.stringify(set.schema)),
    avro: set.rows.flatMap((r) => [...unhex(r.avro)]),
    rows: set.rows.length,
}));

/** Protobuf by hand for the seeds. */
const varint = (n) => {
    const out = [];
    while (n >= 128) {
        out.push((n % 128) | 128);
        n = Math.floor(n / 128);
    }
    return [...out, n];
};
const field = (number, bytes) => [...varint(number * 8 + 2), ...varint(bytes.length), ...bytes];
const numberField = (number, n) => [...varint(number * 8), ...varint(n)];
const frame = (flag, bytes) => [flag, (bytes.length >>> 24) & 255, (bytes.length >>> 16) & 255, (bytes.length >>> 8) & 255, bytes.length & 255, ...bytes];

/** Errors a parser means to throw, by target. */
const protobufError = (e) => e instanceof Error && e.constructor === Error && e.message.startsWith("failed to decode Protobuf message");
const TARGETS = {
    json: {
        seeds: () => schemaTexts.map((t) => utf8.encode(t)),
        run: (input) => parseJson(latin.decode(input)),
        meant: (e) => e instanceof SyntaxError && e.message.startsWith("invalid JSON at byte"),
    },
    schema: {
        seeds: () => schemaTexts.map((t) => utf8.encode(t)),
        run: (input) => {
            // A schema read, then its wire form read again, gives the same wire form.
            const { wire } = parseSchema(latin.decode(input));
            let again;
            try {
                again = parseSchema(wire).wire;
            } catch (e) {
                throw new Error(`the wire form ${wire} is refused: ${e.message}`);
            }
            if (again !== wire) throw new Error(`the wire form ${wire} reads as ${again}`);
        },
        meant: (e) => e?.constructor?.name === "Refusal",
    },
    response: {
        seeds: () => [[...numberField(1, 1)], [...numberField(1, 0), ...field(2, [...utf8.encode("chunk 3: bad row")])]].map((b) => Uint8Array.from(b)),
        run: (input) => readResponse(input),
        meant: protobufError,
    },
    frames: {
        seeds: () => [
            Uint8Array.from([...frame(0, numberField(1, 1)), ...frame(0x80, [...utf8.encode("grpc-status: 0\r\ngrpc-message: ok\r\n")])]),
        ],
        run: (input) => readFrames(input, new Map()),
        meant: () => false,
    },
    event: {
        seeds: () => {
            const rows = [...field(1, [...utf8.encode("containerMetrics")]), ...field(2, [1, 2, 3, 4, 5, 6, 7, 8]),
                ...field(3, [...utf8.encode('{"type":"record","name":"r","fields":[{"name":"a","type":"long"}]}')]),
                ...field(4, [2, 4, 6]), ...numberField(5, 3), ...numberField(6, 1_700_000_000_000), ...field(7, [...utf8.encode("c1")])];
            return [field(1, field(1, [])), field(2, rows), field(3, [...field(1, [...utf8.encode("x")]), ...numberField(2, 5)]), field(4, field(1, [...utf8.encode("no")]))]
                .map((b) => Uint8Array.from(b));
        },
        run: (input) => readEvent({ fields, string }, input),
        meant: protobufError,
    },
    rows: {
        seeds: () => records.map((r, i) => Uint8Array.from([i, r.rows, ...r.avro])),
        run: (input) => {
            const record = records[(input[0] ?? 0) % records.length];
            decodeRows(record.root, input.subarray(2), input[1] ?? 0);
        },
        meant: (e) => e instanceof Error && e.constructor === Error && typeof e.offset === "number",
    },
};

/** splitmix64 over BigInt would be slow: xorshift128+ in two 32-bit halves is plenty to pick mutations. */
class Mutator {
    constructor(seed, seeds) {
        this.s = [seed >>> 0 || 1, (seed / 2 ** 32) >>> 0 || 7, 0x9e3779b9, 0x243f6a88];
        this.seeds = seeds.length ? seeds : [new Uint8Array()];
    }
    u32() {
        // xoshiro128**
        const s = this.s;
        const result = Math.imul(((Math.imul(s[1], 5) << 7) | (Math.imul(s[1], 5) >>> 25)), 9) >>> 0;
        const t = s[1] << 9;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = (s[3] << 11) | (s[3] >>> 21);
        return result;
    }
    below(n) {
        return n <= 1 ? 0 : this.u32() % n;
    }
    next() {
        let out = [...this.seeds[this.below(this.seeds.length)]];
        for (let i = 1 + this.below(8); i > 0; i--) out = this.mutate(out);
        return Uint8Array.from(out.slice(0, MAX_INPUT));
    }
    mutate(out) {
        const len = out.length;
        const at = this.below(len + 1);
        switch (this.below(10)) {
            case 0: if (len) out[this.below(len)] ^= 1 << this.below(8); break;
            case 1: if (len) out[this.below(len)] = [0, 1, 2, 0x7f, 0x80, 0x81, 0xfe, 0xff, 34, 123][this.below(10)]; break;
            case 2: if (len) out[this.below(len)] = this.u32() & 255; break;
            case 3: out.splice(at, 0, ...Array.from({ length: 1 + this.below(16) }, () => this.u32() & 255)); break;
            case 4: if (len) out.splice(this.below(len), 1 + this.below(32)); break;
            case 5: if (len) { const from = this.below(len); out.splice(at, 0, ...out.slice(from, from + 1 + this.below(64))); } break;
            case 6: out.splice(at, 0, ...[[255, 255, 255, 255, 255, 255, 255, 255, 255, 1], [0xfe, 255, 255, 255, 15], new Array(1 + this.below(12)).fill(255)][this.below(3)]); break;
            case 7: { const other = this.seeds[this.below(this.seeds.length)]; if (other.length) { const from = this.below(other.length); out.splice(at, this.below(8), ...other.subarray(from, from + 1 + this.below(256))); } break; }
            case 8: if (len) out.length = this.below(len); break;
            default: if (len) { const i = this.below(len); out[i] = (out[i] + (this.below(2) ? 1 : -1) * this.below(33)) & 255; }
        }
        return out;
    }
}

/** Runs one input: null, or what went wrong. */
function check(target, input, timeMs) {
    const started = performance.now();
    try {
        target.run(input);
    } catch (e) {
        if (!target.meant(e)) return `${e?.constructor?.name ?? typeof e}: ${e?.message ?? e}`;
    }
    const took = performance.now() - started;
    return took > timeMs ? `slow: ${took.toFixed(1)} ms` : null;
}

/** Runs `name` on its seeds and `inputs` mutations; returns `{ inputs, findings, slowestMs }`. */
export function fuzz(name, { inputs = 100_000, seed = 1, timeMs = 1000, maxFindings = 10 } = {}) {
    const target = TARGETS[name];
    const seeds = target.seeds();
    const mutator = new Mutator(seed, seeds);
    const findings = [];
    let slowestMs = 0;
    let index = 0;
    for (; index < seeds.length + inputs && findings.length < maxFindings; index++) {
        const input = index < seeds.length ? seeds[index] : mutator.next();
        const started = performance.now();
        const finding = check(target, input, timeMs);
        slowestMs = Math.max(slowestMs, performance.now() - started);
        if (finding) findings.push({ index, input: hex(input), finding });
    }
    return { inputs: index, findings, slowestMs };
}

export const targetNames = Object.keys(TARGETS);

if (process.argv[1] === fileURLToPath(import.meta.url)) {
    const args = process.argv.slice(2);
    const option = (name, fallback) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : fallback);
    if (args[0] === "--replay") {
        const finding = check(TARGETS[args[1]], unhex(args[2]), option("--time-ms", 1000));
        console.log(finding ?? "no finding");
        process.exit(finding ? 1 : 0);
    }
    const which = args[0] && args[0] !== "all" && !args[0].startsWith("--") ? [args[0]] : targetNames;
    let failed = false;
    for (const name of which) {
        const started = performance.now();
        const report = fuzz(name, { inputs: option("--inputs", 1_000_000), seed: option("--seed", 1), timeMs: option("--time-ms", 1000) });
        const seconds = (performance.now() - started) / 1000;
        console.log(`${name}: ${report.inputs} inputs in ${seconds.toFixed(1)} s, ${Math.round(report.inputs / seconds)} inputs/s; slowest ${report.slowestMs.toFixed(2)} ms; ${report.findings.length} findings`);
        for (const f of report.findings) {
            failed = true;
            console.log(`  input ${f.index}: ${f.finding.slice(0, 300)}\n    ${f.input}`);
        }
    }
    process.exit(failed ? 1 : 0);
}
