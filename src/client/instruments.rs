//! The instruments of a client: its registry, and the collection that
//! writes every updated series as a row of its kind's collection, into the
//! same buffers and pipeline as typed rows.

use std::sync::{Arc, Mutex};

use super::{Core, Error, MetricSlot, lock};
use crate::engine::buffer::MetricOptions;
use crate::engine::instruments::{Registry, RegistryConfig, by_collection, rows};
use crate::engine::schema::Schema;

/// A client's registry and the metrics of the instrument collections (made
/// when first needed).
pub(crate) struct Instruments {
    pub(crate) registry: Registry,
    slots: Mutex<[Option<Arc<MetricSlot>>; 5]>,
    /// Held from taking the points to writing their rows, so that a
    /// `flush` collecting while the driver does waits for the driver's
    /// rows to be written before it seals (else it could seal without them).
    collecting: Mutex<()>,
}

impl Instruments {
    pub(crate) fn new(config: RegistryConfig) -> Self {
        Instruments {
            registry: Registry::new(config),
            slots: Mutex::new(Default::default()),
            collecting: Mutex::new(()),
        }
    }
}

impl Core {
    /// Collects the instruments as of `now_unix_ms` and writes their rows;
    /// returns how many.
    pub(crate) fn collect_instruments(&self, now_unix_ms: u64) -> Result<usize, Error> {
        let _collecting = lock(&self.instruments.collecting);
        let points = self.instruments.registry.collect(now_unix_ms);
        if points.is_empty() {
            return Ok(0);
        }
        let temporality = self.instruments.registry.config().temporality;
        let mut written = 0;
        for (index, points) in by_collection(points).iter().enumerate() {
            if points.is_empty() {
                continue;
            }
            let slot = self.instrument_slot(index)?;
            for point in points {
                self.write_encoded(&slot, |out| rows::Row { point, temporality }.write(out))?;
                written += 1;
            }
        }
        Ok(written)
    }

    /// The metric of collection `index` of [`rows::COLLECTIONS`].
    fn instrument_slot(&self, index: usize) -> Result<Arc<MetricSlot>, Error> {
        let mut slots = lock(&self.instruments.slots);
        if let Some(slot) = &slots[index] {
            return Ok(slot.clone());
        }
        let schema = Arc::new(Schema::parse(&rows::schema(index))?);
        let slot = self.add_metric(schema, MetricOptions::default())?;
        slots[index] = Some(slot.clone());
        Ok(slot)
    }
}
