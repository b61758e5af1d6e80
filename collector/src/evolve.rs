//! Schema evolution as a decision, shared by every store: given what is
//! stored of a collection and the schema of an arriving chunk, what must
//! change (a new table, added columns, a new schema text) or why the chunk
//! is refused. The stores only carry out the decision, so SQLite and
//! ClickHouse accept and refuse the same chunks with the same messages.

use crate::schema_map::Column;
use crate::store::{CollectionMeta, StoreError};
use crate::validate::{ParsedSchema, Rejection};

/// What storing a chunk of this schema changes.
#[derive(Debug)]
pub enum Evolution {
    /// A new collection: create its table with these columns.
    Create(CollectionMeta),
    /// Add `added` (in order) to the table; `meta` is the collection after.
    Change {
        /// The collection's metadata once changed.
        meta: CollectionMeta,
        /// The columns to add, in order.
        added: Vec<Column>,
    },
    /// Nothing changes.
    Unchanged,
}

/// A refusal of the chunk as it stands (not a storage failure).
pub fn reject(msg: String) -> StoreError {
    StoreError::Rejected(Rejection::Invalid(msg))
}

/// Decides how `collection` evolves to take `schema` (with the server
/// timestamp column `timestamp`, if any), within `max_columns`.
pub fn plan(
    current: Option<&CollectionMeta>,
    collection: &str,
    schema: &ParsedSchema,
    timestamp: Option<&Column>,
    max_columns: usize,
) -> Result<Evolution, StoreError> {
    let Some(current) = current else {
        let mut columns: Vec<Column> = schema.columns.clone();
        columns.extend(timestamp.cloned());
        if columns.len() > max_columns {
            return Err(StoreError::Rejected(Rejection::Limit(format!(
                "collection {collection:?} would have {} columns (its fields and the server timestamp), the limit is \
                 {max_columns} (--max-columns)",
                columns.len()
            ))));
        }
        return Ok(Evolution::Create(CollectionMeta {
            name: collection.to_owned(),
            schema_json: schema.json.clone(),
            columns,
        }));
    };

    let mut added: Vec<Column> = Vec::new();
    for (field, &addable) in schema.columns.iter().zip(&schema.addable) {
        match current.columns.iter().find(|c| c.name.eq_ignore_ascii_case(&field.name)) {
            Some(c) if c.server_timestamp => {
                return Err(reject(format!(
                    "field {:?} collides with the server timestamp column {:?} of collection {collection:?}",
                    field.name, c.name
                )));
            }
            Some(c) if c.name != field.name => {
                return Err(reject(format!(
                    "field {:?} differs only in case from the stored column {:?} of collection {collection:?}",
                    field.name, c.name
                )));
            }
            Some(c) if c.avro_type != field.avro_type => {
                return Err(reject(format!(
                    "incompatible schema change: field {:?} of collection {collection:?} changes type from {} to {}",
                    field.name, c.avro_type, field.avro_type
                )));
            }
            Some(_) => {}
            None if !addable => {
                return Err(reject(format!(
                    "incompatible schema change: new field {:?} of collection {collection:?} has no default and is not nullable",
                    field.name
                )));
            }
            None => added.push(field.clone()),
        }
    }
    if let Some(ts) = timestamp {
        match current.columns.iter().find(|c| c.name.eq_ignore_ascii_case(&ts.name)) {
            Some(c) if !c.server_timestamp || c.name != ts.name => {
                return Err(reject(format!(
                    "timestamp column {:?} collides with the stored column {:?} of collection {collection:?}",
                    ts.name, c.name
                )));
            }
            Some(_) => {}
            None => added.push(ts.clone()),
        }
    }
    if added.is_empty() && current.schema_json == schema.json {
        return Ok(Evolution::Unchanged);
    }
    let columns = current.columns.len() + added.len();
    if columns > max_columns {
        return Err(StoreError::Rejected(Rejection::Limit(format!(
            "collection {collection:?} would have {columns} columns ({} stored, {} new), the limit is {max_columns} \
             (--max-columns)",
            current.columns.len(),
            added.len()
        ))));
    }
    let mut meta = current.clone();
    meta.columns.extend(added.iter().cloned());
    meta.schema_json.clone_from(&schema.json);
    Ok(Evolution::Change { meta, added })
}

/// Refuses a collection that would be number `known + 1`, past
/// `--max-collections`.
pub fn check_collection_count(collection: &str, known: usize, max_collections: usize) -> Result<(), StoreError> {
    if known >= max_collections {
        return Err(StoreError::Rejected(Rejection::Limit(format!(
            "collection {collection:?} would be collection number {}, the limit is {max_collections} (--max-collections)",
            known + 1,
        ))));
    }
    Ok(())
}
