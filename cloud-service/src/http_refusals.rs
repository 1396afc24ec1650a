//! hyper's own refusals, answered in JSON like every other error.
//!
//! A request head hyper cannot take (a request target over 65,534 bytes, a
//! head over [`MAX_HEAD`] or with more than [`MAX_HEADERS`] fields, a
//! malformed line) is refused by hyper itself before any service sees it:
//! it writes a bare 414, 431 or 400 with an empty body and closes the
//! connection, and it has no hook to shape that answer. So the connection's
//! writer recognises hyper's answer and sends ours in its place, a JSON
//! body naming the limit.
//!
//! Recognised only when both hold, so that no answer of ours is touched:
//! no response of ours is open on the connection (hyper writes its own
//! only between requests, after the previous response's body is done), and
//! the bytes are exactly such a head and nothing more (a status of 400,
//! 414 or 431, no header but `content-length: 0`, `date` and `connection`).
//! Our own errors always carry a JSON body, so never match. One case stays
//! bare: a pipelined request refused while the tail of the previous answer
//! is still unsent, when hyper writes both at once.

use hyper::body::{Body, Frame, SizeHint};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The most bytes of request line and headers a request may have.
pub(crate) const MAX_HEAD: usize = 128 << 10;
/// The most header fields a request may have (hyper's default).
pub(crate) const MAX_HEADERS: usize = 100;
/// hyper's own bound on the request target, fixed in hyper.
const MAX_TARGET: usize = 65_534;

/// Our answer for hyper's bare refusal `head`, if it is one.
fn answer_for(head: &[u8]) -> Option<Vec<u8>> {
    if head.len() > 512 || !head.ends_with(b"\r\n\r\n") {
        return None;
    }
    let text = std::str::from_utf8(head).ok()?;
    let mut lines = text[..text.len() - 4].split("\r\n");
    let status = lines.next()?;
    let code = status
        .strip_prefix("HTTP/1.1 ")
        .or_else(|| status.strip_prefix("HTTP/1.0 "))?
        .get(..3)?;
    let mut date = None;
    for line in lines {
        let (name, value) = line.split_once(':')?;
        match (name.to_ascii_lowercase().as_str(), value.trim()) {
            ("content-length", "0") | ("connection", _) => {}
            ("date", d) => date = Some(d),
            _ => return None,
        }
    }
    let (reason, message) = match code {
        "414" => (
            "URI Too Long",
            format!("the request target (path and query) is over {MAX_TARGET} bytes: ask with fewer or shorter parameters (a filter's values can be spread over several requests)"),
        ),
        "431" => (
            "Request Header Fields Too Large",
            format!("the request line and headers are over {} KiB, or hold over {MAX_HEADERS} header fields: send fewer or shorter headers", MAX_HEAD >> 10),
        ),
        "400" => (
            "Bad Request",
            "the request is not HTTP/1.1 this server can read (a malformed request line, target or header)".to_string(),
        ),
        _ => return None,
    };
    let body =
        serde_json::json!({ "error": message, "status": code.parse::<u16>().ok()? }).to_string();
    let mut out = format!(
        "HTTP/1.1 {code} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
        body.len()
    );
    if let Some(d) = date {
        out.push_str(&format!("date: {d}\r\n"));
    }
    out.push_str("\r\n");
    out.push_str(&body);
    Some(out.into_bytes())
}

/// How many responses of ours are open on one connection: from the
/// service's call until hyper drops the response's body.
#[derive(Clone, Default)]
pub(crate) struct OpenResponses(Arc<AtomicUsize>);

impl OpenResponses {
    fn open(&self) -> Opened {
        self.0.fetch_add(1, Ordering::SeqCst);
        Opened(self.0.clone())
    }

    fn none(&self) -> bool {
        self.0.load(Ordering::SeqCst) == 0
    }
}

/// One open response; closed when dropped.
struct Opened(Arc<AtomicUsize>);

impl Drop for Opened {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The connection's service, counting the responses it opens.
#[derive(Clone)]
pub(crate) struct Counted<S> {
    pub(crate) inner: S,
    pub(crate) open: OpenResponses,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, R, B> hyper::service::Service<R> for Counted<S>
where
    S: hyper::service::Service<R, Response = axum::http::Response<B>>,
    S::Future: Send + 'static,
    S::Error: 'static,
    B: 'static,
{
    type Response = axum::http::Response<CountedBody<B>>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, S::Error>>;

    fn call(&self, req: R) -> Self::Future {
        let opened = self.open.open();
        let fut = self.inner.call(req);
        Box::pin(async move {
            let r = fut.await?;
            Ok(r.map(|body| CountedBody {
                body,
                _opened: opened,
            }))
        })
    }
}

/// A response body that keeps its response open until hyper drops it.
pub(crate) struct CountedBody<B> {
    body: B,
    _opened: Opened,
}

impl<B: Body + Unpin> Body for CountedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// A connection whose writer puts our answer in place of hyper's bare
/// refusal (see the module's doc).
pub(crate) struct Refusals<T> {
    inner: T,
    open: OpenResponses,
    /// Our answer, and how much of it is written, once hyper refused.
    ours: Option<(Vec<u8>, usize)>,
}

impl<T> Refusals<T> {
    pub(crate) fn new(inner: T, open: OpenResponses) -> Self {
        Self {
            inner,
            open,
            ours: None,
        }
    }
}

impl<T: AsyncWrite + Unpin> Refusals<T> {
    /// Writes what is left of our answer.
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some((bytes, at)) = &mut self.ours {
            while *at < bytes.len() {
                let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &bytes[*at..]))?;
                if n == 0 {
                    return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                }
                *at += n;
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Takes `bytes` in place of hyper's refusal if that is what they are.
    fn replaces(&mut self, bytes: &[u8]) -> bool {
        if self.ours.is_none() && self.open.none() {
            self.ours = answer_for(bytes).map(|a| (a, 0));
        }
        self.ours.is_some()
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Refusals<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Refusals<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.replaces(buf) {
            // hyper writes nothing after its refusal; what it would is
            // taken and dropped.
            ready!(self.drain(cx))?;
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        let taken = self.ours.is_some()
            || (total <= 512 && self.open.none() && {
                let joined: Vec<u8> = bufs.iter().flat_map(|b| b.iter().copied()).collect();
                self.replaces(&joined)
            });
        if taken {
            ready!(self.drain(cx))?;
            return Poll::Ready(Ok(total));
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.drain(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.drain(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json_of(answer: &[u8]) -> (String, serde_json::Value) {
        let text = String::from_utf8(answer.to_vec()).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(len, body.len(), "{text}");
        (head.to_string(), serde_json::from_str(body).unwrap())
    }

    #[test]
    fn hypers_bare_refusals_become_json_naming_the_limit() {
        let date = "date: Tue, 01 Dec 2026 19:00:00 GMT\r\n";
        for (status, names) in [
            ("414 URI Too Long", "over 65534 bytes"),
            ("431 Request Header Fields Too Large", "over 128 KiB"),
            ("400 Bad Request", "not HTTP/1.1"),
        ] {
            let bare = format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\n{date}\r\n");
            let ours = answer_for(bare.as_bytes()).expect(status);
            let (head, body) = json_of(&ours);
            assert!(
                head.starts_with(&format!("HTTP/1.1 {status}\r\n")),
                "{head}"
            );
            assert!(head.contains("content-type: application/json"), "{head}");
            assert!(head.contains(date.trim_end()), "{head}");
            let code: u64 = status[..3].parse().unwrap();
            assert_eq!(body["status"], code);
            let e = body["error"].as_str().unwrap();
            assert!(e.contains(names), "{e}");
        }
    }

    #[test]
    fn no_answer_of_ours_is_taken_for_hypers() {
        for not in [
            // Ours: a JSON body.
            "HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}",
            // Another status, or more than a head.
            "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
            "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n",
            "HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\nx",
            "HTTP/1.1 400 Bad Request\r\ncontent-length: 5\r\n\r\n",
            // A body's bytes.
            "400 Bad Request\r\n\r\n",
        ] {
            assert_eq!(answer_for(not.as_bytes()), None, "{not:?}");
        }
    }

    /// While a response of ours is open, even hyper's exact bytes pass.
    #[tokio::test]
    async fn a_write_while_a_response_is_open_passes_untouched() {
        use tokio::io::AsyncWriteExt;
        let bare = b"HTTP/1.1 414 URI Too Long\r\ncontent-length: 0\r\n\r\n";
        let open = OpenResponses::default();
        let opened = open.open();
        let mut w = Refusals::new(Vec::new(), open.clone());
        w.write_all(bare).await.unwrap();
        assert_eq!(w.inner, bare);
        drop(opened);
        let mut w = Refusals::new(Vec::new(), open);
        w.write_all(bare).await.unwrap();
        w.flush().await.unwrap();
        assert!(w
            .inner
            .starts_with(b"HTTP/1.1 414 URI Too Long\r\ncontent-type: application/json"));
    }
}
