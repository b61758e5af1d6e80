//! Metrics of `#[derive(edgemetrics::Metric)]` types: the schema comes from
//! the type and rows are written by its derived encoder, without serde.

use std::marker::PhantomData;
use std::sync::Arc;

use super::{Inner, MetricClient, MetricConfig};
use crate::client::{Error, MetricSlot};
use crate::engine::buffer::OptionError;
use crate::engine::derive::{Avro, schema_of};
use crate::engine::schema::Schema;

/// A metric whose rows are a `#[derive(Metric)]` type; writes never wait on
/// the network.
pub struct DerivedMetric<T> {
    client: Arc<Inner>,
    slot: Arc<MetricSlot>,
    rows: PhantomData<fn(&T)>,
}

impl MetricClient {
    /// A metric of the derived type `T`. `config` gives its options; its
    /// schema may be left out (it is `T`'s), and one given must have the
    /// same canonical form as `T`'s, so the derived encoder always writes
    /// the schema the collector is told.
    pub fn derived_metric<T: Avro>(&self, config: MetricConfig) -> Result<DerivedMetric<T>, Error> {
        let derived = Arc::new(Schema::parse(&schema_of::<T>())?);
        let (schema, options) = config.or_schema(derived.clone()).into_parts()?;
        if schema.canonical_form() != derived.canonical_form() {
            let message = format!(
                "is not the schema of {}: {} against the derived {}",
                std::any::type_name::<T>(),
                schema.canonical_form(),
                derived.canonical_form()
            );
            return Err(OptionError::new("schema", message).into());
        }
        let slot = self.inner.core.add_metric(schema, options)?;
        Ok(DerivedMetric { client: self.inner.clone(), slot, rows: PhantomData })
    }
}

impl<T> Clone for DerivedMetric<T> {
    fn clone(&self) -> Self {
        DerivedMetric { client: self.client.clone(), slot: self.slot.clone(), rows: PhantomData }
    }
}

impl<T> std::fmt::Debug for DerivedMetric<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DerivedMetric").field("collection", &self.slot.schema().collection()).finish_non_exhaustive()
    }
}

impl<T: Avro> DerivedMetric<T> {
    /// Buffers one row. The type fits its schema by construction, so the
    /// only refusal is a row larger than the max chunk size.
    #[inline]
    pub fn write(&self, row: &T) -> Result<(), Error> {
        self.client.core.write_encoded(&self.slot, |out| row.encode(out))
    }

    /// Buffers all rows, or none when one is larger than the max chunk
    /// size (the error gives its index).
    pub fn write_all<'a>(&self, rows: impl IntoIterator<Item = &'a T>) -> Result<usize, Error>
    where
        T: 'a,
    {
        self.client.core.write_all_encoded(&self.slot, rows, |row, out| row.encode(out))
    }

    /// The metric's schema.
    pub fn schema(&self) -> Arc<Schema> {
        self.slot.schema()
    }
}
