//! Which of the cloud's two connections a connection the gateway dials is
//! (`link.direction: nas-dials`). The cloud keeps archive transfers and cold
//! queries on connections of their own (QUIC flow control is per
//! connection, so a stalled query reader never stalls the archive); when it
//! dials it knows which is which, when the NAS dials the NAS says so: the
//! first thing on each connection is a unidirectional stream holding one
//! byte, the role.

/// A dialled connection's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Batch transfers, read-backs, ledger questions.
    Archive,
    /// Cold queries.
    Queries,
}

impl Role {
    pub const ALL: [Role; 2] = [Role::Archive, Role::Queries];

    pub fn byte(self) -> u8 {
        match self {
            Role::Archive => b'A',
            Role::Queries => b'Q',
        }
    }

    /// The role a byte names; anything else is refused by the caller.
    pub fn from_byte(b: u8) -> Option<Self> {
        Role::ALL.into_iter().find(|r| r.byte() == b)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Role::Archive => "archive",
            Role::Queries => "queries",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every input the decoder can see: one byte.
    #[test]
    fn every_byte_is_a_role_or_refused() {
        let mut known = 0;
        for b in 0..=u8::MAX {
            if let Some(r) = Role::from_byte(b) {
                assert_eq!(r.byte(), b);
                known += 1;
            }
        }
        assert_eq!(known, Role::ALL.len());
    }
}
