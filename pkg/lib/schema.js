// Avro record schemas, read as the engine reads them
// (src/engine/schema/parse.rs), into the nodes the encoder walks:
// `{ type, name?, ... }` objects, named types defined once and referenced,
// so recursive records are cycles. The rules and the messages are the
// engine's; tests/browser/js/schema.test.mjs runs the engine's corpus of
// refused schemas against both.
import { numberText } from "./errors.js";
import { jsonKind, parseJson } from "./json.js";
import { describe, writeDefault } from "./encode.js";

const PRIMITIVES = ["null", "boolean", "int", "long", "float", "double", "bytes", "string"];
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const NAME_RULE = "names start with a letter or _ and hold letters, digits and _";

/** A schema's error: where (`path`, empty for the top level) and what. */
class Refusal {
    constructor(path, message) {
        this.path = path;
        this.message = message;
    }
}

/** A JSON value as compact text (an enum's default in a message). */
function jsonText(v) {
    if (v instanceof Map) return `{${[...v].map(([k, x]) => `${jsonText(k)}:${jsonText(x)}`).join(",")}}`;
    if (Array.isArray(v)) return `[${v.map(jsonText).join(",")}]`;
    // "-0" would read back as the integer 0.
    if (typeof v === "number") return Object.is(v, -0) ? "-0.0" : numberText(v);
    // As the Rust writer escapes: \b and \f as \u00XX, the rest as JSON.stringify does;
    // a lone surrogate (JS text may hold one) as U+FFFD, the character its encoding writes
    // (where the runtime has toWellFormed: Node 20, Chrome 111, Safari 16.4, Firefox 119).
    if (typeof v === "string") return JSON.stringify(v.toWellFormed?.() ?? v).replace(/\\(.)/g, (m, c) => ({ b: "\\u0008", f: "\\u000c" })[c] ?? m);
    return String(v);
}

/**
 * Parses schema JSON text whose top level must be a record: returns its
 * root node, or throws `{ path, message }` (a `Refusal`). The root's `wire`
 * is the text chunks carry: the engine's wire form (`Schema::wire_form`),
 * the Parsing Canonical Form with logical types and field defaults kept.
 */
export function parseSchema(source) {
    let json;
    try {
        json = parseJson(source);
    } catch (e) {
        throw new Refusal("", e.message);
    }
    const get = (object, key) => (object instanceof Map ? object.get(key) : undefined);
    const fail = (path, message) => {
        throw new Refusal(path, message);
    };
    const names = new Map();
    const pending = [];
    // The wire form of the type parsed last: a definition the first time a
    // named type is met, its name after, as the canonical form writes them.
    let wire;

    const named = (name, namespace, path) => {
        const found = PRIMITIVES.includes(name) ? { type: name } : name.includes(".") || namespace === ""
            ? names.get(name)
            : names.get(`${namespace}.${name}`) ?? names.get(name);
        wire = `"${found?.name ?? name}"`;
        return found ?? fail(path, `unknown type "${name}"`);
    };

    /** Reads a named type's name and registers `node` under it. */
    const define = (json, namespace, path, node) => {
        const name = get(json, "name");
        if (name === undefined) fail(path, 'a named type needs a "name"');
        if (typeof name !== "string") fail(path, `"name" must be a string, found ${jsonKind(name)}`);
        let full = name;
        if (!name.includes(".")) {
            const space = get(json, "namespace");
            if (typeof space === "string") {
                if (space !== "") full = `${space}.${name}`;
            } else if (space === undefined) {
                if (namespace !== "") full = `${namespace}.${name}`;
            } else if (space !== null) {
                fail(path, `"namespace" must be a string, found ${jsonKind(space)}`);
            }
        }
        if (!full.split(".").every((part) => NAME.test(part))) fail(path, `invalid name "${full}": ${NAME_RULE}`);
        if (PRIMITIVES.includes(full)) fail(path, `"${full}" is a primitive type and cannot be redefined`);
        if (names.has(full)) fail(path, `type "${full}" is defined twice`);
        node.name = full;
        names.set(full, node);
        return full;
    };

    /** The wire form's opening of a named type; a name without a namespace says so inside one. */
    const head = (full, namespace, type) => `{"name":"${full}"${namespace && !full.includes(".") ? ',"namespace":""' : ""},"type":"${type}"`;

    const record = (json, namespace, path) => {
        const node = { type: "record", fields: [] };
        const full = define(json, namespace, path, node);
        const inner = full.slice(0, Math.max(0, full.lastIndexOf(".")));
        const fields = get(json, "fields");
        if (!Array.isArray(fields)) fail(path, `record "${full}" needs a "fields" array`);
        const texts = [];
        for (const field of fields) {
            const name = get(field, "name");
            if (typeof name !== "string") fail(path, 'every field needs a string "name"');
            const at = path === "" ? name : `${path}.${name}`;
            if (!NAME.test(name)) fail(at, `invalid field name: ${NAME_RULE}`);
            if (node.fields.some((f) => f.name === name)) fail(at, "the field is defined twice");
            const type = get(field, "type");
            if (type === undefined) fail(at, 'missing "type"');
            const entry = { name, node: parse(type, inner, at) };
            const value = get(field, "default");
            if (value !== undefined) pending.push([entry, value, at]);
            texts.push(`{"name":"${name}","type":${wire}${value === undefined ? "" : `,"default":${jsonText(value)}`}}`);
            node.fields.push(entry);
        }
        wire = `${head(full, namespace, "record")},"fields":[${texts}]}`;
        return node;
    };

    const enumeration = (json, namespace, path) => {
        const node = { type: "enum", symbols: [] };
        const full = define(json, namespace, path, node);
        const symbols = get(json, "symbols");
        if (!Array.isArray(symbols)) fail(path, `enum "${full}" needs a "symbols" array`);
        for (const s of symbols) {
            if (typeof s !== "string") fail(path, `enum "${full}": symbols must be strings`);
            if (!NAME.test(s)) fail(path, `enum "${full}": invalid symbol "${s}"`);
            if (node.symbols.includes(s)) fail(path, `enum "${full}": symbol "${s}" appears twice`);
            node.symbols.push(s);
        }
        wire = `${head(full, namespace, "enum")},"symbols":${JSON.stringify(node.symbols)}}`;
        const value = get(json, "default");
        if (value !== undefined && !node.symbols.includes(value)) {
            fail(path, `enum "${full}": the default ${jsonText(value)} is not one of its symbols`);
        }
        return node;
    };

    const fixed = (json, namespace, path, logical) => {
        const node = { type: "fixed" };
        const full = define(json, namespace, path, node);
        const size = get(json, "size");
        if (typeof size !== "bigint" || size < 0n) fail(path, `fixed "${full}" needs a non-negative integer "size"`);
        node.size = Number(size);
        wire = `${head(full, namespace, "fixed")},"size":${size}${logical}}`;
        return node;
    };

    /** Whether a bytes schema carries a valid decimal (which takes no strings). */
    const decimal = (json) => {
        const precision = get(json, "precision");
        const given = get(json, "scale");
        const scale = given === undefined ? 0n : given;
        return typeof precision === "bigint" && precision > 0n && precision < 2n ** 32n
            && typeof scale === "bigint" && scale >= 0n && scale <= precision;
    };

    const union = (branches, namespace, path) => {
        if (branches.length === 0) fail(path, "a union needs at least one branch");
        const node = { type: "union", branches: [], nullAt: -1 };
        const texts = [];
        for (const branch of branches) {
            const b = parse(branch, namespace, path);
            texts.push(wire);
            if (b.type === "union") fail(path, "a union may not directly contain another union");
            const key = describe(b);
            if (node.branches.some((other) => describe(other) === key)) fail(path, `the union has two branches of type "${key}"`);
            if (b.type === "null") node.nullAt = node.branches.length;
            node.branches.push(b);
        }
        wire = `[${texts}]`;
        return node;
    };

    const object = (json, namespace, path) => {
        const type = get(json, "type");
        if (type === undefined) fail(path, 'missing "type"');
        if (typeof type !== "string") {
            if (type !== null && typeof type === "object") return parse(type, namespace, path);
            fail(path, `"type" must be a string, found ${jsonKind(type)}`);
        }
        const logical = get(json, "logicalType");
        // The wire form keeps a logical type as written, known or not, valid or
        // not, with a decimal's precision and scale (the engine's logical_attributes).
        const attributes = typeof logical !== "string" ? ""
            : ["logicalType", "precision", "scale"].map((key) => (get(json, key) === undefined ? "" : `,"${key}":${jsonText(get(json, key))}`)).join("");
        switch (type) {
            case "record":
            case "error":
                return record(json, namespace, path);
            case "enum":
                return enumeration(json, namespace, path);
            case "fixed":
                return fixed(json, namespace, path, attributes);
            case "array":
            case "map": {
                const key = type === "array" ? "items" : "values";
                const inner = get(json, key);
                if (inner === undefined) fail(path, `a${type === "array" ? "n" : ""} ${type} needs "${key}"`);
                const node = { type, [key]: parse(inner, namespace, path + (type === "array" ? "[]" : "{}")) };
                wire = `{"type":"${type}","${key}":${wire}}`;
                return node;
            }
            default: {
                const node = named(type, namespace, path);
                if (PRIMITIVES.includes(type)) {
                    if (attributes) wire = `{"type":"${type}"${attributes}}`;
                    node.uuid = type === "string" && logical === "uuid";
                    node.decimal = type === "bytes" && logical === "decimal" && decimal(json);
                }
                return node;
            }
        }
    };

    function parse(json, namespace, path) {
        if (typeof json === "string") return named(json, namespace, path);
        if (Array.isArray(json)) return union(json, namespace, path);
        if (json instanceof Map) return object(json, namespace, path);
        return fail(path, `expected a type name, an object or an array, found ${jsonKind(json)}`);
    }

    if (get(json, "type") !== "record") {
        const type = get(json, "type");
        const found = typeof json === "string" ? `"${json}"`
            : json instanceof Map ? (typeof type === "string" ? `a schema of type "${type}"` : "an object without a record type")
            : jsonKind(json);
        fail("", `the top level must be a record, found ${found}`);
    }
    const root = parse(json, "", "");
    root.wire = wire;
    for (const [field, value, path] of pending) {
        try {
            field.def = writeDefault(field.node, value);
        } catch (e) {
            fail(path, `invalid default: ${e.message}`);
        }
    }
    return root;
}
