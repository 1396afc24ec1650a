//! What a decoder says about bytes it will not take.

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DecodeError {
    /// The input ended in the middle of a value.
    #[error("input truncated")]
    Truncated,
    /// A length or count is over its bound.
    #[error("{what} is {value}, over the limit of {max}")]
    TooLarge {
        what: &'static str,
        value: u64,
        max: u64,
    },
    /// The bytes are not a valid encoding.
    #[error("corrupt segment: {0}")]
    Corrupt(&'static str),
    /// The segment's columns do not match the table's schema.
    #[error("segment does not match schema: {0}")]
    SchemaMismatch(String),
    /// zstd refused the compressed bytes.
    #[error("zstd: {0}")]
    Zstd(String),
}
