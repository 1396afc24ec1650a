//! The cloud's end of the link: the client, its pacer (bandwidth limit),
//! reconnect backoff and transfer-rate meter.

pub mod backoff;
pub mod client;
pub mod meter;
pub mod pacer;

pub use client::{ClientError, Delivery, LinkClient};
