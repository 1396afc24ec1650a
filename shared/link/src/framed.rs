//! A QUIC bidirectional stream that speaks [`Frame`]s.

use bytes::BytesMut;
use hotcold_core::frame::{Frame, FrameError};

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("link write: {0}")]
    Write(#[from] quinn::WriteError),
    #[error("link read: {0}")]
    Read(#[from] quinn::ReadError),
    #[error("link closed the stream")]
    Closed,
    #[error("link connection: {0}")]
    Connection(#[from] quinn::ConnectionError),
    #[error("link frame: {0}")]
    Frame(#[from] FrameError),
    #[error("link stream finished twice")]
    ClosedStream(#[from] quinn::ClosedStream),
}

pub struct FramedStream {
    send: quinn::SendStream,
    recv: quinn::RecvStream,
    buf: BytesMut,
    max_frame: usize,
    /// Bytes written to the stream, for transfer accounting.
    pub bytes_sent: u64,
}

impl FramedStream {
    pub fn new(send: quinn::SendStream, recv: quinn::RecvStream, max_frame: usize) -> Self {
        Self {
            send,
            recv,
            buf: BytesMut::with_capacity(64 << 10),
            max_frame,
            bytes_sent: 0,
        }
    }

    pub async fn write_frame(&mut self, f: &Frame) -> Result<(), LinkError> {
        let bytes = f.to_bytes();
        self.send.write_all(&bytes).await?;
        self.bytes_sent += bytes.len() as u64;
        Ok(())
    }

    /// Writes already-encoded frame bytes (callers that pace large frames
    /// write them a slice at a time).
    pub async fn write_raw(&mut self, bytes: &[u8]) -> Result<(), LinkError> {
        self.send.write_all(bytes).await?;
        self.bytes_sent += bytes.len() as u64;
        Ok(())
    }

    /// The next frame, or `None` when the peer finished the stream cleanly.
    pub async fn read_frame(&mut self) -> Result<Option<Frame>, LinkError> {
        loop {
            if let Some((frame, used)) = Frame::parse(&self.buf, self.max_frame)? {
                let _ = self.buf.split_to(used);
                return Ok(Some(frame));
            }
            // Reserve no more than the frame still needs (bounded above).
            let want = Frame::peek_len(&self.buf, self.max_frame)?
                .unwrap_or(5)
                .saturating_sub(self.buf.len());
            self.buf.reserve(want.clamp(4096, 1 << 20));
            let mut tmp = vec![0u8; want.clamp(4096, 1 << 20)];
            match self.recv.read(&mut tmp).await? {
                Some(n) => self.buf.extend_from_slice(&tmp[..n]),
                None if self.buf.is_empty() => return Ok(None),
                None => return Err(LinkError::Closed),
            }
        }
    }

    pub async fn expect_frame(&mut self) -> Result<Frame, LinkError> {
        self.read_frame().await?.ok_or(LinkError::Closed)
    }

    pub fn finish(&mut self) -> Result<(), LinkError> {
        self.send.finish()?;
        Ok(())
    }
}
