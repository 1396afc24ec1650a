//! The cloud's end of the link: the client, its pacer (bandwidth limit),
//! reconnect backoff and transfer-rate meter.

mod accept;
mod backup;
pub mod client;
mod deliver;
mod error;
mod line;
pub mod meter;
pub mod pacer;
mod requests;

pub use client::LinkClient;
pub use deliver::{ChunkSource, Delivery};
pub use error::ClientError;
