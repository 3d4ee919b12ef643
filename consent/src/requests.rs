//! Data-subject rights requests (PIPL Art. 44–48): to see and copy one's data, to take it
//! elsewhere, to correct it, to delete it, to have its processing explained. Each has a
//! deadline; an officer may approve it (accept it for handling: 受理) and closes it,
//! completed or rejected with a reason.

use serde::{Deserialize, Serialize};

/// What a subject asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RequestKind {
    /// To see and copy their PI (Art. 45).
    Access,
    /// To have their PI transferred to another processor (Art. 45).
    Portability,
    /// To correct or complete their PI (Art. 46).
    Correction,
    /// To delete their PI (Art. 47): closing it erases the subject in the vault.
    Deletion,
    /// To have the processing rules explained (Art. 48).
    Explanation,
}

impl RequestKind {
    /// Its name as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            RequestKind::Access => "access",
            RequestKind::Portability => "portability",
            RequestKind::Correction => "correction",
            RequestKind::Deletion => "deletion",
            RequestKind::Explanation => "explanation",
        }
    }

    /// The kind named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        [
            RequestKind::Access,
            RequestKind::Portability,
            RequestKind::Correction,
            RequestKind::Deletion,
            RequestKind::Explanation,
        ]
        .into_iter()
        .find(|k| k.as_str() == name)
    }
}

/// Where a request stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RequestStatus {
    /// Waiting for the platform.
    Open,
    /// Accepted by an officer (受理) and being handled; still to be answered by its
    /// deadline.
    Approved,
    /// Being closed: a deletion whose erasure is under way (claimed, so that no one else
    /// closes it meanwhile).
    Closing,
    /// Done (for a deletion: the subject was erased).
    Completed,
    /// Refused, with a reason given to the subject.
    Rejected,
}

impl RequestStatus {
    /// Its name as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            RequestStatus::Open => "open",
            RequestStatus::Approved => "approved",
            RequestStatus::Closing => "closing",
            RequestStatus::Completed => "completed",
            RequestStatus::Rejected => "rejected",
        }
    }

    /// The status named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        [
            RequestStatus::Open,
            RequestStatus::Approved,
            RequestStatus::Closing,
            RequestStatus::Completed,
            RequestStatus::Rejected,
        ]
        .into_iter()
        .find(|s| s.as_str() == name)
    }

    /// Whether a request in this status still awaits its answer (open or approved).
    pub fn is_pending(self) -> bool {
        matches!(self, RequestStatus::Open | RequestStatus::Approved)
    }
}

/// A rights request as stored. Its free-text note (which may hold PI the subject wrote)
/// is kept encrypted under the subject's key, apart from this record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RightsRequest {
    /// Its id (`req_…`).
    pub id: String,
    /// Whose.
    pub subject: String,
    /// What for.
    pub kind: RequestKind,
    /// Where it stands.
    pub status: RequestStatus,
    /// The subject's note, encrypted (a vault ciphertext), if they wrote one.
    pub note_ciphertext: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// When it must be answered (Unix seconds).
    pub due_at: i64,
    /// When it was closed.
    pub closed_at: Option<i64>,
    /// The answer given to the subject when it was closed (no PI).
    pub resolution: Option<String>,
    /// The key that closed it.
    pub closed_by: Option<String>,
    /// When an officer approved it (Unix seconds), if one did.
    pub approved_at: Option<i64>,
    /// The officer who approved it.
    pub approved_by: Option<String>,
}

impl RightsRequest {
    /// Whether it still awaits its answer (open or approved) past its deadline at `now`.
    pub fn is_overdue(&self, now: i64) -> bool {
        self.status.is_pending() && now > self.due_at
    }
}

/// How a request is being closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Closing<'a> {
    /// `completed` or `rejected`.
    pub status: RequestStatus,
    /// The answer given to the subject (no PI).
    pub resolution: &'a str,
    /// The key or console account closing it.
    pub closed_by: &'a str,
    /// Unix seconds.
    pub at: i64,
}

/// A request's deadline: `days` after `created_at`.
pub fn due_at(created_at: i64, days: u32) -> i64 {
    created_at + i64::from(days) * 86_400
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_deadlines_pass() {
        for k in [
            "access",
            "portability",
            "correction",
            "deletion",
            "explanation",
        ] {
            assert_eq!(RequestKind::parse(k).unwrap().as_str(), k);
        }
        assert!(RequestKind::parse("everything").is_none());
        let r = RightsRequest {
            id: "req_1".into(),
            subject: "u1".into(),
            kind: RequestKind::Access,
            status: RequestStatus::Open,
            note_ciphertext: None,
            created_at: 0,
            due_at: due_at(0, 15),
            closed_at: None,
            resolution: None,
            closed_by: None,
            approved_at: None,
            approved_by: None,
        };
        assert!(!r.is_overdue(15 * 86_400));
        assert!(r.is_overdue(15 * 86_400 + 1));
        let approved = RightsRequest {
            status: RequestStatus::Approved,
            ..r.clone()
        };
        assert!(
            approved.is_overdue(15 * 86_400 + 1),
            "approved is not answered"
        );
        for s in ["open", "approved", "closing", "completed", "rejected"] {
            assert_eq!(RequestStatus::parse(s).unwrap().as_str(), s);
        }
        let closed = RightsRequest {
            status: RequestStatus::Completed,
            ..r
        };
        assert!(!closed.is_overdue(i64::MAX));
    }
}
