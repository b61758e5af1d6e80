//! The wasm build in headless Chromium against the real collector that
//! `js/harness.mjs` started: run by `scripts/test-wasm.sh`.
#![cfg(target_arch = "wasm32")]

use wasm_bindgen_test::wasm_bindgen_test_configure;

wasm_bindgen_test_configure!(run_in_browser);

mod restart;
mod rows;
mod subscription;
mod transports;
