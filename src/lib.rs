//! edgemetrics: typed Avro metrics for browsers, Cloudflare Workers and
//! native Rust services, from one codebase.
#![cfg_attr(not(feature = "std"), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

pub mod engine;
