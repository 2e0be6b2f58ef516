//! What every form shows again after a refusal.

/// A form field's kept input and its error, if any.
#[derive(Debug, Clone, Default)]
pub struct Field {
    pub value: String,
    pub error: Option<String>,
}

impl Field {
    pub fn new(value: impl Into<String>) -> Self {
        Field { value: value.into(), error: None }
    }
    pub fn err(value: impl Into<String>, error: impl Into<String>) -> Self {
        Field { value: value.into(), error: Some(error.into()) }
    }
}
