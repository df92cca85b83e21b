//! TANS in the browser: a thin `#[wasm_bindgen]` facade (`bindings`, wasm only) over
//! [`engine::Engine`], which loads a published zoo and runs the query encoder and predictor on
//! WebGPU, or on the CPU when WebGPU is missing, saying which ran, and over
//! `tans_core::backbone::ImageEncoder`, which turns the user's images into features there too. Users' data never leaves the
//! page: only the zoo's static files are fetched.

pub mod engine;

#[cfg(target_arch = "wasm32")]
pub mod bindings;
