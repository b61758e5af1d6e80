//! `Metric` for JavaScript: writes plain objects as rows of one schema.

use std::rc::Rc;
use std::sync::Arc;

use wasm_bindgen::prelude::*;

use super::client::Inner;
use super::error;
use super::js;
use super::row::{JsRow, Plan};
use super::tape::{TAPE_BYTES, Tape};
use crate::client::MetricSlot;

/// A metric: rows of one Avro record schema, written as plain objects.
/// Writes never wait on the network.
#[wasm_bindgen]
pub struct Metric {
    client: Rc<Inner>,
    slot: Arc<MetricSlot>,
    plan: Plan,
    tape: Option<Tape>,
    tape_error: std::cell::RefCell<Option<JsValue>>,
}

impl Metric {
    pub(crate) fn new(client: Rc<Inner>, slot: Arc<MetricSlot>, plan: Plan) -> Metric {
        let tape = Tape::new(plan.schema());
        Metric { client, slot, plan, tape, tape_error: Default::default() }
    }
}

#[wasm_bindgen]
impl Metric {
    /// Buffers one row. A row that does not fit the schema throws a
    /// `RowError` naming the field, and nothing of it is buffered.
    pub fn write(&self, row: &JsValue) -> Result<(), JsValue> {
        self.client.core.write(&self.slot, &self.plan.row(row)).map_err(|e| error::to_js(&e))
    }

    /// Buffers all rows of the array, or none when one does not fit (the
    /// `RowError` gives its `index` and `field`). Returns how many.
    #[wasm_bindgen(js_name = writeMany)]
    pub fn write_many(&self, rows: &JsValue) -> Result<u32, JsValue> {
        if !js_sys::Array::is_array(rows) {
            let error = crate::engine::buffer::OptionError::new("rows", "writeMany takes an array of rows");
            return Err(error::option(error));
        }
        let values: Vec<JsValue> = js_sys::Array::from(rows).iter().collect();
        let rows: Vec<JsRow<'_>> = values.iter().map(|value| self.plan.row(value)).collect();
        let count = self.client.core.write_all(&self.slot, rows.iter()).map_err(|e| error::to_js(&e))?;
        Ok(count as u32)
    }

    /// For the package's JS fast path (`pkg/fast-write.js`), not for users:
    /// `{ names, kinds, address, bytes }` of the metric's tape, or `null`
    /// when its record is not flat (see `tape.rs`).
    #[wasm_bindgen(js_name = __tapePlan)]
    pub fn tape_plan(&self) -> JsValue {
        let Some(tape) = &self.tape else {
            return JsValue::NULL;
        };
        let plan = js::object();
        js::put(&plan, "names", self.plan.keys(self.plan.schema().root()).iter().collect::<js_sys::Array>());
        js::put(&plan, "kinds", js_sys::Uint8Array::from(tape.kinds().as_slice()));
        js::put(&plan, "address", tape.address() as f64);
        js::put(&plan, "bytes", TAPE_BYTES as f64);
        plan.into()
    }

    /// For the package's JS fast path: buffers the row JS laid out on the
    /// tape, exactly as `write` would buffer the same row. Returns 0, or 1
    /// when the row was refused: `__tapeError()` then has the error (a
    /// number, not a thrown value, keeps the call free of allocations).
    #[wasm_bindgen(js_name = __writeTape)]
    pub fn write_tape(&self) -> u32 {
        let Some(tape) = &self.tape else {
            return 1;
        };
        match self.client.core.write(&self.slot, &tape.row()) {
            Ok(()) => 0,
            Err(e) => {
                *self.tape_error.borrow_mut() = Some(error::to_js(&e));
                1
            }
        }
    }

    /// For the package's JS fast path: the error of the last refused
    /// `__writeTape()`.
    #[wasm_bindgen(js_name = __tapeError)]
    pub fn tape_error(&self) -> JsValue {
        self.tape_error.borrow_mut().take().unwrap_or(JsValue::UNDEFINED)
    }

    /// The collection the rows go to: the record's name.
    #[wasm_bindgen(getter)]
    pub fn collection(&self) -> String {
        self.slot.schema().collection().to_string()
    }
}
