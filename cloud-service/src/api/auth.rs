//! Bearer tokens per role: collectors ingest, analysts read, the operator
//! administers. Compared in constant time; a request's token is never
//! echoed back.
//!
//! An endpoint is protected when its role has a token, or (ingest and read)
//! when `admin.protect-data` makes the admin token guard it. The admin
//! token opens every protected endpoint. On an address other than
//! loopback the service refuses to start while any role is open.

use super::error::ApiError;
use super::state::AppState;
use crate::config::ResolvedTokens;
use std::net::SocketAddr;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Admin,
    Ingest,
    Read,
}

impl Role {
    fn key(self) -> &'static str {
        match self {
            Role::Admin => "admin.token-file",
            Role::Ingest => "admin.ingest-token-file",
            Role::Read => "admin.read-token-file",
        }
    }
}

impl ResolvedTokens {
    /// The tokens that open `role`'s endpoints; empty: the role is open.
    fn accepted(&self, role: Role) -> Vec<&str> {
        let own = match role {
            Role::Admin => &self.admin,
            Role::Ingest => &self.ingest,
            Role::Read => &self.read,
        };
        let admin_guards = role == Role::Admin || own.is_some() || self.protect_data;
        own.iter()
            .chain(
                self.admin
                    .iter()
                    .filter(|_| admin_guards && role != Role::Admin),
            )
            .map(String::as_str)
            .collect()
    }

    /// Roles anyone may use without a token.
    pub(crate) fn open_roles(&self) -> Vec<Role> {
        [Role::Admin, Role::Ingest, Role::Read]
            .into_iter()
            .filter(|r| self.accepted(*r).is_empty())
            .collect()
    }

    /// Does `got` open `role`? True for an open role.
    pub fn allows(&self, role: Role, got: Option<&str>) -> bool {
        let accepted = self.accepted(role);
        if accepted.is_empty() {
            return true;
        }
        // Every candidate is compared, so the time taken does not say which
        // one (or how much of one) matched.
        got.is_some_and(|g| {
            accepted.iter().fold(false, |ok, want| {
                ok | constant_time_eq(g.as_bytes(), want.as_bytes())
            })
        })
    }

    /// Refuses a listening address other than loopback while any role is
    /// open: ingest there would take rows that become permanent archive,
    /// and admin could pull the whole cold history over the home line.
    pub fn check_exposure(&self, listen: SocketAddr) -> Result<(), String> {
        let open = self.open_roles();
        if listen.ip().is_loopback() || open.is_empty() {
            return Ok(());
        }
        let keys: Vec<&str> = open.iter().map(|r| r.key()).collect();
        Err(format!(
            "http-listen {listen} is not a loopback address, but these endpoints would be open to anyone who reaches it: {}. Set {} (or admin.protect-data: true with admin.token-file), or listen on 127.0.0.1 behind a proxy that checks tokens",
            open.iter().map(|r| format!("{r:?}").to_lowercase()).collect::<Vec<_>>().join(", "),
            keys.join(", ")
        ))
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = u8::from(a.len() != b.len());
    for (i, x) in a.iter().enumerate() {
        diff |= x ^ b.get(i).copied().unwrap_or(0);
    }
    diff == 0
}

/// The token of an `Authorization: Bearer <token>` header, if any.
fn bearer(req: &axum::extract::Request) -> Option<&str> {
    req.headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
}

/// The middleware of one role's routes.
pub(crate) async fn require(
    axum::extract::State((st, role)): axum::extract::State<(Arc<AppState>, Role)>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Result<axum::response::Response, ApiError> {
    let got = bearer(&req);
    if st.tokens.allows(role, got) {
        Ok(next.run(req).await)
    } else {
        Err(ApiError::new(
            axum::http::StatusCode::UNAUTHORIZED,
            format!(
                "missing or wrong bearer token (Authorization: Bearer <token>; this endpoint takes the {} token{})",
                format!("{role:?}").to_lowercase(),
                if role == Role::Admin { "" } else { " or the admin token" }
            ),
        ))
    }
}

/// The middleware of routes two roles may use (the table list: collectors
/// check their rows against it, analysts their queries).
pub(crate) async fn require_either(
    axum::extract::State((st, a, b)): axum::extract::State<(Arc<AppState>, Role, Role)>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Result<axum::response::Response, ApiError> {
    let got = bearer(&req);
    if st.tokens.allows(a, got) || st.tokens.allows(b, got) {
        Ok(next.run(req).await)
    } else {
        Err(ApiError::new(
            axum::http::StatusCode::UNAUTHORIZED,
            format!(
                "missing or wrong bearer token (Authorization: Bearer <token>; this endpoint takes the {} or the {} token, or the admin token)",
                format!("{a:?}").to_lowercase(),
                format!("{b:?}").to_lowercase(),
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(
        admin: Option<&str>,
        ingest: Option<&str>,
        read: Option<&str>,
        protect: bool,
    ) -> ResolvedTokens {
        ResolvedTokens {
            admin: admin.map(String::from),
            ingest: ingest.map(String::from),
            read: read.map(String::from),
            protect_data: protect,
        }
    }

    #[test]
    fn roles_take_their_own_token_and_the_admin_one() {
        let k = t(
            Some("admin-token-0000000"),
            Some("ingest-token-00000"),
            Some("read-token-0000000"),
            false,
        );
        assert!(k.allows(Role::Ingest, Some("ingest-token-00000")));
        assert!(k.allows(Role::Ingest, Some("admin-token-0000000")));
        assert!(!k.allows(Role::Ingest, Some("read-token-0000000")));
        assert!(!k.allows(Role::Admin, Some("ingest-token-00000")));
        assert!(!k.allows(Role::Read, None));
        assert!(
            !k.allows(Role::Read, Some("read-token-000000")),
            "a prefix is not the token"
        );
        assert!(k.open_roles().is_empty());
    }

    #[test]
    fn exposure_is_refused_while_a_role_is_open() {
        let any: SocketAddr = "0.0.0.0:8080".parse().unwrap();
        let lo: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let admin_only = t(Some("admin-token-0000000"), None, None, false);
        assert_eq!(admin_only.open_roles(), vec![Role::Ingest, Role::Read]);
        let e = admin_only.check_exposure(any).unwrap_err();
        assert!(
            e.contains("admin.ingest-token-file") && e.contains("0.0.0.0:8080"),
            "{e}"
        );
        assert!(admin_only.check_exposure(lo).is_ok());
        assert!(t(None, None, None, false).check_exposure(lo).is_ok());
        assert!(t(Some("admin-token-0000000"), None, None, true)
            .check_exposure(any)
            .is_ok());
        assert!(
            t(
                None,
                Some("i-token-000000000"),
                Some("r-token-000000000"),
                false
            )
            .check_exposure(any)
            .is_err(),
            "admin open"
        );
    }
}
