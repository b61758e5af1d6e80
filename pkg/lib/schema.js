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
    if (typeof v === "number") return numberText(v);
    // As the Rust writer escapes: \b and \f as \u00XX, the rest as JSON.stringify does.
    if (typeof v === "string") return JSON.stringify(v).replace(/\\(.)/g, (m, c) => ({ b: "\\u0008", f: "\\u000c" })[c] ?? m);
    return String(v);
}

/**
 * Parses schema JSON text whose top level must be a record: returns its
 * root node, or throws `{ path, message }` (a `Refusal`).
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

    const named = (name, namespace, path) => {
        if (PRIMITIVES.includes(name)) return { type: name };
        const found = name.includes(".") || namespace === ""
            ? names.get(name)
            : names.get(`${namespace}.${name}`) ?? names.get(name);
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

    const record = (json, namespace, path) => {
        const node = { type: "record", fields: [] };
        const full = define(json, namespace, path, node);
        const inner = full.slice(0, Math.max(0, full.lastIndexOf(".")));
        const fields = get(json, "fields");
        if (!Array.isArray(fields)) fail(path, `record "${full}" needs a "fields" array`);
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
            node.fields.push(entry);
        }
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
        const value = get(json, "default");
        if (value !== undefined && !node.symbols.includes(value)) {
            fail(path, `enum "${full}": the default ${jsonText(value)} is not one of its symbols`);
        }
        return node;
    };

    const fixed = (json, namespace, path) => {
        const node = { type: "fixed" };
        const full = define(json, namespace, path, node);
        const size = get(json, "size");
        if (typeof size !== "bigint" || size < 0n) fail(path, `fixed "${full}" needs a non-negative integer "size"`);
        node.size = Number(size);
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
        for (const branch of branches) {
            const b = parse(branch, namespace, path);
            if (b.type === "union") fail(path, "a union may not directly contain another union");
            const key = describe(b);
            if (node.branches.some((other) => describe(other) === key)) fail(path, `the union has two branches of type "${key}"`);
            if (b.type === "null") node.nullAt = node.branches.length;
            node.branches.push(b);
        }
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
        switch (type) {
            case "record":
            case "error":
                return record(json, namespace, path);
            case "enum":
                return enumeration(json, namespace, path);
            case "fixed":
                return fixed(json, namespace, path);
            case "array":
            case "map": {
                const key = type === "array" ? "items" : "values";
                const inner = get(json, key);
                if (inner === undefined) fail(path, `a${type === "array" ? "n" : ""} ${type} needs "${key}"`);
                return { type, [key]: parse(inner, namespace, path + (type === "array" ? "[]" : "{}")) };
            }
            case "string":
                return { type, uuid: logical === "uuid" };
            case "bytes":
                return { type, decimal: logical === "decimal" && decimal(json) };
            default:
                return named(type, namespace, path);
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
    for (const [field, value, path] of pending) {
        try {
            field.def = writeDefault(field.node, value);
        } catch (e) {
            fail(path, `invalid default: ${e.message}`);
        }
    }
    return root;
}
