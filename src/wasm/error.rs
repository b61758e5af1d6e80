//! Errors as JavaScript `Error`s: the message says what is wrong and names
//! the field, option or status; `name` tells the kinds apart and a few
//! properties carry the details (`field`, `option`, `pendingRows`, ...).

use wasm_bindgen::JsValue;

use super::js;
use crate::client::Error;
use crate::engine::buffer::OptionError;

/// `error` as a JS `Error` with its `name` and details set.
pub(crate) fn to_js(error: &Error) -> JsValue {
    let js_error = js_sys::Error::new(&error.to_string());
    let (name, details): (&str, Vec<(&str, JsValue)>) = match error {
        Error::Option(e) => ("OptionError", vec![("option", e.option.into())]),
        Error::Schema(e) => ("SchemaError", vec![("field", e.path.as_str().into())]),
        Error::Row(e) => ("RowError", vec![("field", e.path().into())]),
        Error::Rows(e) => ("RowError", vec![("field", e.error.path().into()), ("index", (e.index as f64).into())]),
        Error::Closed => ("ClosedError", Vec::new()),
        Error::NotDelivered { pending_rows, last_error } => (
            "NotDeliveredError",
            vec![
                ("pendingRows", (*pending_rows as f64).into()),
                ("lastError", last_error.as_deref().map_or(JsValue::NULL, JsValue::from_str)),
            ],
        ),
        Error::Dropped { rows, reason } => {
            ("DroppedError", vec![("rows", (*rows as f64).into()), ("reason", reason.as_str().into())])
        }
    };
    js_error.set_name(name);
    for (key, value) in details {
        js::set(&js_error, &JsValue::from_str(key), &value);
    }
    js_error.into()
}

/// An option error as a JS `Error`.
pub(crate) fn option(error: OptionError) -> JsValue {
    to_js(&Error::Option(error))
}
