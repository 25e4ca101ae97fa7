//! The data model of SPEC.md section 1: times, states, error codes, ids and rows.
//!
//! Invariants: a [`Timestamp`] is UTC epoch milliseconds; ids are dense and
//! assigned in first-seen order by the store's dictionaries; a [`Seq`] is the
//! global ingest order of stored rows (transitions and membership changes share
//! one counter) and never repeats.

use std::fmt;

/// UTC time as signed epoch milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// The smallest representable time.
    pub const MIN: Timestamp = Timestamp(i64::MIN);
    /// The largest representable time.
    pub const MAX: Timestamp = Timestamp(i64::MAX);

    /// Epoch milliseconds.
    pub fn millis(self) -> i64 {
        self.0
    }

    /// `self + ms`, saturating at the representable range.
    pub fn saturating_add(self, ms: i64) -> Timestamp {
        Timestamp(self.0.saturating_add(ms))
    }

    /// `self - ms`, saturating at the representable range.
    pub fn saturating_sub(self, ms: i64) -> Timestamp {
        Timestamp(self.0.saturating_sub(ms))
    }
}

/// Global ingest order of a stored row.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Seq(pub u64);

/// Dense id of a client name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClientId(pub u32);

/// Dense id of a deployment name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DeploymentId(pub u32);

/// Dense id of a collection name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CollectionId(pub u32);

/// A 32-bit deployment error code such as `0x80070005`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ErrorCode(pub u32);

impl ErrorCode {
    /// Parses `0x`-prefixed hex (`0x80070005`) or decimal (`2147942405`).
    /// Negative decimals are read as their 32-bit two's complement
    /// (`-2147024891` is `0x80070005`), as Windows tools often print them.
    ///
    /// ```
    /// use rollcall_engine::ErrorCode;
    /// assert_eq!(ErrorCode::parse("0x80070005"), Some(ErrorCode(0x80070005)));
    /// assert_eq!(ErrorCode::parse("2147942405"), Some(ErrorCode(0x80070005)));
    /// assert_eq!(ErrorCode::parse("-2147024891"), Some(ErrorCode(0x80070005)));
    /// assert_eq!(ErrorCode::parse("0x1_0000_0000"), None);
    /// ```
    pub fn parse(text: &str) -> Option<ErrorCode> {
        let t = text.trim();
        if let Some(hex) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
            if hex.is_empty() || hex.len() > 8 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            return u32::from_str_radix(hex, 16).ok().map(ErrorCode);
        }
        if let Some(neg) = t.strip_prefix('-') {
            if neg.is_empty() || !neg.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            return neg
                .parse::<i64>()
                .ok()
                .filter(|v| *v <= 1 << 31)
                .map(|v| ErrorCode((-v) as i32 as u32));
        }
        if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        t.parse::<u32>().ok().map(ErrorCode)
    }
}

impl fmt::Display for ErrorCode {
    /// `0x` and eight lowercase hex digits, as SPEC.md section 4 prints codes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:08x}", self.0)
    }
}

/// The six deployment states, in the order SPEC.md lists them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum State {
    /// No transition yet (or none at or before the asked time).
    NotStarted = 0,
    /// Installed and compliant.
    Compliant = 1,
    /// Installation under way.
    InProgress = 2,
    /// Evaluated as not compliant.
    NonCompliant = 3,
    /// Installation failed.
    Failed = 4,
    /// State unknown (or stale).
    Unknown = 5,
}

impl State {
    /// All states in SPEC.md order.
    pub const ALL: [State; 6] = [
        State::NotStarted,
        State::Compliant,
        State::InProgress,
        State::NonCompliant,
        State::Failed,
        State::Unknown,
    ];

    /// The canonical name (`NotStarted`, ...).
    pub fn name(self) -> &'static str {
        match self {
            State::NotStarted => "NotStarted",
            State::Compliant => "Compliant",
            State::InProgress => "InProgress",
            State::NonCompliant => "NonCompliant",
            State::Failed => "Failed",
            State::Unknown => "Unknown",
        }
    }

    /// The state with index `i` (0..6) in SPEC.md order.
    pub fn from_index(i: u8) -> Option<State> {
        State::ALL.get(usize::from(i)).copied()
    }

    /// Index in SPEC.md order.
    pub fn index(self) -> usize {
        self as usize
    }

    /// Parses a state name case-insensitively, ignoring spaces, underscores and
    /// dashes (`Failed`, `non compliant`, `not_started`).
    ///
    /// ```
    /// use rollcall_engine::State;
    /// assert_eq!(State::parse("non compliant"), Some(State::NonCompliant));
    /// assert_eq!(State::parse("NOT_STARTED"), Some(State::NotStarted));
    /// assert_eq!(State::parse("done"), None);
    /// ```
    pub fn parse(text: &str) -> Option<State> {
        let mut folded = [0u8; 16];
        let mut n = 0;
        for b in text.bytes() {
            if b == b' ' || b == b'_' || b == b'-' {
                continue;
            }
            if n == folded.len() {
                return None;
            }
            folded[n] = b.to_ascii_lowercase();
            n += 1;
        }
        match &folded[..n] {
            b"notstarted" => Some(State::NotStarted),
            b"compliant" => Some(State::Compliant),
            b"inprogress" => Some(State::InProgress),
            b"noncompliant" => Some(State::NonCompliant),
            b"failed" => Some(State::Failed),
            b"unknown" => Some(State::Unknown),
            _ => None,
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A membership change: the client joins or leaves a collection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Change {
    /// The client becomes a member.
    Join = 0,
    /// The client stops being a member.
    Leave = 1,
}

impl Change {
    /// `join` or `leave`.
    pub fn name(self) -> &'static str {
        match self {
            Change::Join => "join",
            Change::Leave => "leave",
        }
    }

    /// Parses `join` / `leave` case-insensitively.
    pub fn parse(text: &str) -> Option<Change> {
        if text.eq_ignore_ascii_case("join") {
            Some(Change::Join)
        } else if text.eq_ignore_ascii_case("leave") {
            Some(Change::Leave)
        } else {
            None
        }
    }
}

/// A stored transition, names resolved to ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TransitionRow {
    /// When the client entered `state`.
    pub time: Timestamp,
    /// Ingest order.
    pub seq: Seq,
    /// The client.
    pub client: ClientId,
    /// The deployment.
    pub deployment: DeploymentId,
    /// The state entered.
    pub state: State,
    /// Optional error code.
    pub error: Option<ErrorCode>,
}

impl TransitionRow {
    /// The fields that make two transitions exact duplicates (all but `seq`).
    pub fn identity(&self) -> TransitionKey {
        TransitionKey {
            time: self.time,
            client: self.client,
            deployment: self.deployment,
            state: self.state,
            error: self.error,
        }
    }
}

/// The five fields of a transition that SPEC.md compares for exact duplicates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TransitionKey {
    /// Time.
    pub time: Timestamp,
    /// Client.
    pub client: ClientId,
    /// Deployment.
    pub deployment: DeploymentId,
    /// State.
    pub state: State,
    /// Error code.
    pub error: Option<ErrorCode>,
}

/// A stored membership change, names resolved to ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MembershipRow {
    /// When the change took effect.
    pub time: Timestamp,
    /// Ingest order.
    pub seq: Seq,
    /// The client.
    pub client: ClientId,
    /// The collection.
    pub collection: CollectionId,
    /// Join or leave.
    pub change: Change,
}

impl MembershipRow {
    /// The fields that make two membership changes exact duplicates.
    pub fn identity(&self) -> MembershipKey {
        MembershipKey {
            time: self.time,
            client: self.client,
            collection: self.collection,
            change: self.change,
        }
    }
}

/// The four fields of a membership change compared for exact duplicates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MembershipKey {
    /// Time.
    pub time: Timestamp,
    /// Client.
    pub client: ClientId,
    /// Collection.
    pub collection: CollectionId,
    /// Join or leave.
    pub change: Change,
}

/// Counts of clients per state, in SPEC.md order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct StateCounts(pub [u64; 6]);

impl StateCounts {
    /// The count for one state.
    pub fn get(&self, state: State) -> u64 {
        self.0[state.index()]
    }

    /// Sum over all states.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    pub(crate) fn add_many(&mut self, state: State, n: u64) {
        self.0[state.index()] += n;
    }

    pub(crate) fn add(&mut self, state: State) {
        self.0[state.index()] += 1;
    }
}

/// Name-length limits from SPEC.md section 1.
pub mod limits {
    /// Longest client name in bytes.
    pub const CLIENT_NAME_MAX: usize = 256;
    /// Longest deployment name in bytes.
    pub const DEPLOYMENT_NAME_MAX: usize = 128;
    /// Longest collection name in bytes.
    pub const COLLECTION_NAME_MAX: usize = 256;
    /// The deployment used when none is named.
    pub const DEFAULT_DEPLOYMENT: &str = "production";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_parse_accepts_spec_spellings() {
        for (text, state) in [
            ("Failed", State::Failed),
            ("failed", State::Failed),
            ("non compliant", State::NonCompliant),
            ("not_started", State::NotStarted),
            ("In Progress", State::InProgress),
            ("UNKNOWN", State::Unknown),
            ("Compliant", State::Compliant),
        ] {
            assert_eq!(State::parse(text), Some(state), "{text}");
        }
        assert_eq!(State::parse(""), None);
        assert_eq!(State::parse("fail"), None);
        assert_eq!(State::parse("a very long string that is not a state"), None);
    }

    #[test]
    fn state_index_round_trips() {
        for s in State::ALL {
            assert_eq!(State::from_index(s as u8), Some(s));
        }
        assert_eq!(State::from_index(6), None);
    }

    #[test]
    fn error_code_prints_eight_hex_digits() {
        assert_eq!(ErrorCode(0x80070005).to_string(), "0x80070005");
        assert_eq!(ErrorCode(5).to_string(), "0x00000005");
    }
}
