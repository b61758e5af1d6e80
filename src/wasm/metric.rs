//! `Metric` for JavaScript: writes plain objects as rows of one schema.

use std::rc::Rc;
use std::sync::Arc;

use wasm_bindgen::prelude::*;

use super::client::Inner;
use super::error;
use super::row::{JsRow, Plan};
use crate::client::MetricSlot;

/// A metric: rows of one Avro record schema, written as plain objects.
/// Writes never wait on the network.
#[wasm_bindgen]
pub struct Metric {
    client: Rc<Inner>,
    slot: Arc<MetricSlot>,
    plan: Plan,
}

impl Metric {
    pub(crate) fn new(client: Rc<Inner>, slot: Arc<MetricSlot>, plan: Plan) -> Metric {
        Metric { client, slot, plan }
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

    /// The collection the rows go to: the record's name.
    #[wasm_bindgen(getter)]
    pub fn collection(&self) -> String {
        self.slot.schema().collection().to_string()
    }
}
