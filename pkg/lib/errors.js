// The package's errors: real `Error`s whose `name` tells the kinds apart,
// whose message says what is wrong and names the option, field or status,
// and whose properties carry the details (`option`, `field`, `index`, ...).

/** An `Error` named `name` with `details` as properties. */
export function error(name, message, details) {
    const e = new Error(message);
    e.name = name;
    return Object.assign(e, details);
}

/** `option "<option>": <message>` */
export function optionError(option, message) {
    return error("OptionError", `option "${option}": ${message}`, { option });
}

/** The JS kind of a value, for messages: `a string`, `null`, `an array`, ... */
export function kind(value) {
    if (value === null) return "null";
    const type = typeof value;
    if (type === "object") return Array.isArray(value) ? "an array" : "an object";
    return type === "undefined" ? type : `a ${type}`;
}

/** A number as Rust's `Display` writes it: the same digits, never an exponent. */
export function numberText(x) {
    if (x !== x) return "NaN";
    const sign = x < 0 || Object.is(x, -0) ? "-" : "";
    if (!Number.isFinite(x)) return `${sign}inf`;
    // The shortest digits that read back as x, and where the point goes.
    const [mantissa, exponent] = Math.abs(x).toExponential().split("e");
    const digits = mantissa.replace(".", "");
    const point = +exponent + 1;
    if (point <= 0) return `${sign}0.${"0".repeat(-point)}${digits}`;
    return sign + (point >= digits.length ? digits.padEnd(point, "0") : `${digits.slice(0, point)}.${digits.slice(point)}`);
}
