//! What can go wrong on the link, as the archive and the query router see
//! it: offline (retry later, keep spooling), refused, or broken.

use hotcold_core::transfer::TransferError;
use hotcold_link::framed::LinkError;

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
    /// No stream left for this kind of request now.
    #[error("{0}")]
    Busy(String),
    /// Every chunk arrived and was verified, but the cold store could not
    /// take the batch now; the gateway keeps it staged.
    #[error("stored on the NAS but not committed: {0}")]
    StoredNotCommitted(String),
    /// The line went bad while chunks went out (`link.defer-loss`,
    /// `link.defer-rtt-spread`): the delivery stopped; what arrived stays
    /// staged and a later run resumes it.
    #[error("{0}")]
    Deferred(String),
}

impl ClientError {
    /// What a query's caller is told: the kind of failure, without the
    /// gateway's or the cold store's own text (that goes to the log).
    pub fn public(&self) -> String {
        match self {
            ClientError::Unreachable { .. } | ClientError::Link(_) => {
                "the NAS gateway is unreachable".into()
            }
            ClientError::Refused(_) => "the NAS gateway could not answer".into(),
            ClientError::Protocol(_) | ClientError::Decode(_) => {
                "the NAS gateway's answer was not understood".into()
            }
            ClientError::Spool(_) | ClientError::StoredNotCommitted(_) => {
                "the cold part failed".into()
            }
            ClientError::Timeout(d) => format!("the NAS gateway did not answer within {d:?}"),
            ClientError::Busy(m) | ClientError::Deferred(m) => m.clone(),
        }
    }

    /// Errors that mean "the NAS side is not there right now": worth
    /// retrying later, and a reason to keep spooling (the offline queue).
    pub(crate) fn is_offline(&self) -> bool {
        matches!(
            self,
            ClientError::Unreachable { .. }
                | ClientError::Link(_)
                | ClientError::Timeout(_)
                | ClientError::StoredNotCommitted(_)
                | ClientError::Deferred(_)
        )
    }
}

impl From<TransferError> for ClientError {
    fn from(e: TransferError) -> Self {
        match e {
            TransferError::Protocol(m) => ClientError::Protocol(m),
            TransferError::Refused(m) => ClientError::Refused(m),
            TransferError::Silent(ms) => ClientError::Timeout(std::time::Duration::from_millis(ms)),
        }
    }
}
