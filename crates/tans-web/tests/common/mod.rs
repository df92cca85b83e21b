//! Helpers shared by the browser test binaries.

use js_sys::Reflect;
use wasm_bindgen::JsValue;

/// A property of a rejected JS `Error` as a string (`""` if it has none).
fn property(error: &JsValue, name: &str) -> String {
    Reflect::get(error, &name.into())
        .ok()
        .and_then(|v| v.as_string())
        .unwrap_or_default()
}

/// The `code` a TANS error carries.
pub fn code(error: &JsValue) -> String {
    property(error, "code")
}

/// The error's message.
#[allow(dead_code)] // not every test binary reads messages
pub fn message(error: &JsValue) -> String {
    property(error, "message")
}
