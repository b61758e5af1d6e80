//! apache-avro's schema parser with its panics turned into errors.
//!
//! apache-avro 0.21 unwraps the validation of some names (a record's name
//! with a character Avro does not allow, an alias, a type reference;
//! apache/avro-rs#496 and #547), so a schema sent by anyone with a write
//! token could panic the request that parses it (found by the fuzz target
//! `chunk`). 0.22 fixes those, but its Parsing Canonical Form keeps
//! `order`, which the spec strips and the subscription's schema
//! fingerprints rely on; so the parser stays 0.21, guarded here.

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Once;

use apache_avro::Schema;

thread_local! {
    /// Set while a guarded call runs: its panic is an error, not news.
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f`; a panic in it becomes `Err(its message)`, without the panic
/// hook printing it (other threads' panics print as before).
fn quiet<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(Cell::get) {
                previous(info);
            }
        }));
    });
    QUIET.with(|q| q.set(true));
    let outcome = catch_unwind(AssertUnwindSafe(f));
    QUIET.with(|q| q.set(false));
    outcome.map_err(|panic| {
        panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "apache-avro failed on it".into())
    })
}

/// `Schema::parse_str`, with what would have panicked as an error.
pub fn parse_schema(json: &str) -> Result<Schema, String> {
    match quiet(|| Schema::parse_str(json)) {
        Ok(Ok(schema)) => Ok(schema),
        Ok(Err(e)) => Err(e.to_string()),
        // "called `Result::unwrap()` on an `Err` value: Error { details: Invalid schema name ... }"
        Err(message) => Err(match message.split_once("details: ") {
            Some((_, details)) => details.trim_end_matches(" }").to_string(),
            None => message,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_apache_avro_would_panic_on_are_errors() {
        for (schema, name) in [
            (r#"{"type":"record","name":"c{x","fields":[{"name":"a","type":"int"}]}"#, "c{x"),
            (r#"{"type":"record","name":"R","aliases":[":"],"fields":[{"name":"a","type":"int"}]}"#, ":"),
            (r#"{"type":"record","name":"R","fields":[{"name":"a","type":"b{c"}]}"#, "b{c"),
        ] {
            let error = parse_schema(schema).map(|_| ()).unwrap_err();
            assert!(error.starts_with(&format!("Invalid schema name {name}.")), "{schema}: {error}");
        }
        assert!(parse_schema(r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}"#).is_ok());
        assert!(parse_schema("{").is_err());
    }
}
