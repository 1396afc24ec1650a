//! The cloud's end of the link: one QUIC connection to the gateway, opened on
//! demand and reopened after it drops; one stream per request.

use crate::config::LinkConfig;
use crate::spool::Spool;
use hotcold_core::codec::{decode_segment, DecodeLimits};
use hotcold_core::frame::{ColdQuery, Frame, QueryEnd};
use hotcold_core::manifest::Manifest;
use hotcold_core::schema::{TableSchema, Window};
use hotcold_core::{ContentHash, RowBatch};
use hotcold_link::framed::{FramedStream, LinkError};
use std::sync::Arc;
use tokio::sync::Mutex;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("gateway unreachable at {addr}: {reason}")]
    Unreachable {
        addr: std::net::SocketAddr,
        reason: String,
    },
    #[error(transparent)]
    Link(#[from] LinkError),
    #[error("gateway refused: {0}")]
    Refused(String),
    #[error("gateway sent an unexpected frame: {0}")]
    Protocol(String),
    #[error("spool: {0}")]
    Spool(#[from] std::io::Error),
    #[error("decoding cold rows: {0}")]
    Decode(String),
    #[error("link request timed out after {0:?}")]
    Timeout(std::time::Duration),
}

/// What a transfer and commit achieved.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub cold: ContentHash,
    pub bytes_sent: u64,
    pub chunks_sent: u64,
}

pub struct LinkClient {
    endpoint: quinn::Endpoint,
    cfg: LinkConfig,
    conn: Mutex<Option<quinn::Connection>>,
}

impl LinkClient {
    pub fn new(cfg: LinkConfig, tls: &hotcold_link::TlsFiles) -> anyhow::Result<Arc<Self>> {
        let endpoint = hotcold_link::client_endpoint(tls, &hotcold_link::LinkTuning::default())?;
        Ok(Arc::new(Self {
            endpoint,
            cfg,
            conn: Mutex::new(None),
        }))
    }

    async fn connection(&self) -> Result<quinn::Connection, ClientError> {
        let mut guard = self.conn.lock().await;
        if let Some(c) = guard.as_ref() {
            if c.close_reason().is_none() {
                return Ok(c.clone());
            }
        }
        let addr = self.cfg.gateway;
        let unreachable = |reason: String| ClientError::Unreachable { addr, reason };
        let connecting = self
            .endpoint
            .connect(addr, hotcold_link::SERVER_NAME)
            .map_err(|e| unreachable(e.to_string()))?;
        let conn = tokio::time::timeout(self.cfg.connect_timeout.0, connecting)
            .await
            .map_err(|_| unreachable(format!("no answer within {}", self.cfg.connect_timeout)))?
            .map_err(|e| unreachable(e.to_string()))?;
        *guard = Some(conn.clone());
        Ok(conn)
    }

    async fn stream(&self) -> Result<FramedStream, ClientError> {
        let conn = self.connection().await?;
        let (send, recv) = conn.open_bi().await.map_err(|e| ClientError::Unreachable {
            addr: self.cfg.gateway,
            reason: e.to_string(),
        })?;
        Ok(FramedStream::new(send, recv, self.cfg.max_frame.0 as usize))
    }

    /// Steps 3 and 4: offers the manifest, sends the chunks the gateway
    /// lacks, and waits for its commit answer.
    pub async fn deliver(
        &self,
        spool: &Spool,
        manifest: &Manifest,
    ) -> Result<Delivery, ClientError> {
        let t = self.cfg.request_timeout.0;
        tokio::time::timeout(t, self.deliver_inner(spool, manifest))
            .await
            .map_err(|_| ClientError::Timeout(t))?
    }

    async fn deliver_inner(
        &self,
        spool: &Spool,
        manifest: &Manifest,
    ) -> Result<Delivery, ClientError> {
        let mut s = self.stream().await?;
        s.write_frame(&Frame::Offer(Box::new(manifest.clone())))
            .await?;
        let mut chunks_sent = 0u64;
        let mut rounds = 0;
        loop {
            match s.expect_frame().await? {
                Frame::Need(missing) => {
                    rounds += 1;
                    if rounds > 5 {
                        return Err(ClientError::Protocol(
                            "gateway keeps rejecting chunks".into(),
                        ));
                    }
                    for i in missing {
                        let i = i as usize;
                        if i >= manifest.chunks.len() {
                            return Err(ClientError::Protocol(format!(
                                "gateway asked for chunk {i} of {}",
                                manifest.chunks.len()
                            )));
                        }
                        let (sp, m) = (spool.clone(), manifest.clone());
                        let data = tokio::task::spawn_blocking(move || sp.read_chunk(&m, i))
                            .await
                            .map_err(|e| ClientError::Protocol(e.to_string()))??;
                        s.write_frame(&Frame::Chunk {
                            index: i as u32,
                            data,
                        })
                        .await?;
                        chunks_sent += 1;
                    }
                    s.write_frame(&Frame::Sent).await?;
                }
                Frame::Committed(r) if r.batch_id == manifest.batch_id => {
                    let _ = s.finish();
                    return Ok(Delivery {
                        cold: r.cold,
                        bytes_sent: s.bytes_sent,
                        chunks_sent,
                    });
                }
                Frame::Error(m) => return Err(ClientError::Refused(m)),
                other => {
                    return Err(ClientError::Protocol(
                        format!("{other:?}").chars().take(200).collect(),
                    ))
                }
            }
        }
    }

    /// Reads cold rows of a window; `limit` bounds rows and so memory.
    pub async fn query(
        &self,
        schema: &TableSchema,
        window: Window,
        limit: u64,
    ) -> Result<(Vec<RowBatch>, QueryEnd), ClientError> {
        let t = self.cfg.request_timeout.0;
        tokio::time::timeout(t, self.query_inner(schema, window, limit))
            .await
            .map_err(|_| ClientError::Timeout(t))?
    }

    async fn query_inner(
        &self,
        schema: &TableSchema,
        window: Window,
        limit: u64,
    ) -> Result<(Vec<RowBatch>, QueryEnd), ClientError> {
        let mut s = self.stream().await?;
        s.write_frame(&Frame::Query(ColdQuery {
            schema: schema.clone(),
            window,
            limit,
        }))
        .await?;
        let _ = s.finish();
        let limits = DecodeLimits::default();
        let mut out = Vec::new();
        let mut rows = 0u64;
        loop {
            match s.expect_frame().await? {
                Frame::Rows(body) => {
                    let b = decode_segment(schema, &body, &limits)
                        .map_err(|e| ClientError::Decode(e.to_string()))?;
                    rows += b.len() as u64;
                    if rows > limit {
                        return Err(ClientError::Protocol(format!(
                            "gateway sent more than the {limit} rows asked for"
                        )));
                    }
                    out.push(b);
                }
                Frame::End(end) => return Ok((out, end)),
                Frame::Error(m) => return Err(ClientError::Refused(m)),
                other => {
                    return Err(ClientError::Protocol(
                        format!("{other:?}").chars().take(200).collect(),
                    ))
                }
            }
        }
    }
}
