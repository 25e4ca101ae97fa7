//! A deterministic, realistic fleet generator: the demo's data, and the
//! benchmarks' (`rollcall_cli::fleet` is public for them).
//!
//! The fleet is a small agent simulation of a Configuration Manager
//! deployment over `days` days ending at a given `now`:
//!
//! * `clients` clients named `PC-000001`...; each joins 4..=8 collections when
//!   it enrolls (most at the start, ~6% later): `All Systems`, `All Desktops` or
//!   `All Laptops`, an OS collection, a site (sizes skewed), department groups,
//!   and for ~2% the `Pilot Ring`. About 200 collections at 1M clients, scaling
//!   with the fleet. ~3% of clients move site (leave one, join another), ~1% are
//!   decommissioned (leave everything, stop reporting).
//! * the `production` deployment ships a new revision every 30 days, in rollout
//!   waves 36 hours apart: `InProgress`, then `Compliant` or `Failed` with a
//!   skewed mix of real ConfigMgr error codes, retries a few hours later; each
//!   revision fails less than the one before (the fixes work), and one site has
//!   a distribution-point problem (`0x87D00607`) on the first revision;
//! * clients re-evaluate every 1-3 days: mostly `Compliant` again, sometimes a
//!   drift to `NonCompliant` followed by remediation; failed clients retry;
//! * ~1.5% of clients have a lasting local problem: their installs keep
//!   failing with the same code;
//! * ~4% of clients go offline; half of them are later marked `Unknown`;
//! * `Pilot Ring` clients also get each revision a few days early on the
//!   `preproduction` deployment;
//! * ~5% of rows are emitted one to three days late (out of time order) and
//!   ~0.5% are emitted twice (exact duplicates). Times have second precision,
//!   like status messages.
//!
//! Invariants: the same config gives the same rows in the same order on every
//! platform (all randomness is SplitMix64 over the seed, the client and a
//! salt; no global RNG); memory is O(clients) small structs plus one day of
//! rows; every row's time is in `[now - days, now)`.
//!
//! Layout: `mod.rs` (here) holds the configuration, the row types, the
//! names (collections, clients) and the CSV writer; `rng.rs` the seeded
//! randomness; `profile.rs` each client's static facts, the release
//! schedule and the failure model; `sim.rs` the per-client simulation
//! (membership and deployment steps); `rows.rs` the day-by-day streaming
//! generator.

use std::fmt::Write as _;
use std::io::{self, Write};

use rollcall_engine::{Change, ErrorCode, State, Timestamp};

mod profile;
mod rng;
mod rows;
mod sim;

pub use rows::FleetRows;

const SECOND: i64 = 1_000;
const MINUTE: i64 = 60 * SECOND;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

/// The collection every client joins.
pub const ALL_SYSTEMS: &str = "All Systems";
/// Desktops (~62% of clients).
pub const ALL_DESKTOPS: &str = "All Desktops";
/// Laptops (~38% of clients).
pub const ALL_LAPTOPS: &str = "All Laptops";
/// The pilot collection (~2%), which also gets the `preproduction` deployment.
pub const PILOT_RING: &str = "Pilot Ring";
/// The pilot deployment.
pub const PREPRODUCTION: &str = "preproduction";
/// The main deployment.
pub const PRODUCTION: &str = "production";

const OS_COLLECTIONS: [&str; 3] = ["Windows 10 22H2", "Windows 11 23H2", "Windows 11 24H2"];
const FIXED: u32 = 7; // All Systems, Desktops, Laptops, Pilot Ring, three OS collections

const CITIES: [&str; 48] = [
    "Amsterdam",
    "Atlanta",
    "Austin",
    "Bangalore",
    "Barcelona",
    "Berlin",
    "Boston",
    "Brussels",
    "Chicago",
    "Copenhagen",
    "Dallas",
    "Denver",
    "Dublin",
    "Frankfurt",
    "Geneva",
    "Hamburg",
    "Helsinki",
    "Hong Kong",
    "Houston",
    "Istanbul",
    "Johannesburg",
    "Lisbon",
    "London",
    "Los Angeles",
    "Lyon",
    "Madrid",
    "Manchester",
    "Melbourne",
    "Mexico City",
    "Milan",
    "Montreal",
    "Mumbai",
    "Munich",
    "New York",
    "Oslo",
    "Paris",
    "Prague",
    "Rome",
    "San Francisco",
    "Sao Paulo",
    "Seattle",
    "Seoul",
    "Singapore",
    "Stockholm",
    "Sydney",
    "Tokyo",
    "Toronto",
    "Vienna",
];

const GROUPS: [&str; 24] = [
    "Finance",
    "HR",
    "Engineering",
    "Sales",
    "Marketing",
    "Legal",
    "Support",
    "Research",
    "Operations",
    "Facilities",
    "IT",
    "Procurement",
    "Logistics",
    "Design",
    "Security",
    "Training",
    "Audit",
    "Payroll",
    "Manufacturing",
    "Quality",
    "Analytics",
    "Communications",
    "Executive",
    "Customer Success",
];

/// ConfigMgr error codes with their weights in the failure mix.
const ERRORS: [(u32, u32); 8] = [
    (0x8007_0005, 30), // access denied
    (0x87D0_0324, 18), // application not detected after installation
    (0x8007_0652, 14), // another installation is already in progress
    (0x87D0_0607, 10), // content not found
    (0x8000_4005, 9),  // unspecified error
    (0x87D0_1106, 8),  // failed to verify the executable
    (0x800B_0109, 6),  // certificate chain not trusted
    (0x8007_0643, 5),  // fatal error during installation
];

/// Failure probability of a first attempt, per revision (fixes improve it).
const REVISION_FAIL: [f64; 4] = [0.16, 0.08, 0.035, 0.03];

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FleetConfig {
    /// Number of clients.
    pub clients: u32,
    /// Seed: the same seed gives the same fleet.
    pub seed: u64,
    /// The end of the generated history (exclusive).
    pub now: Timestamp,
    /// Days of history before `now`.
    pub days: u32,
}

impl Default for FleetConfig {
    /// 100 000 clients, seed 42, 90 days ending 2026-11-01T00:00:00Z.
    fn default() -> FleetConfig {
        FleetConfig {
            clients: 100_000,
            seed: 42,
            now: Timestamp(1_793_491_200_000),
            days: 90,
        }
    }
}

/// A generated row; names are indexes (see [`Fleet::client_name`],
/// [`Fleet::collections`], [`FleetDeployment::name`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FleetRow {
    /// A state transition.
    Transition {
        /// When.
        time: Timestamp,
        /// Client index.
        client: u32,
        /// Which deployment.
        deployment: FleetDeployment,
        /// The state entered.
        state: State,
        /// Error code (failures and drifts).
        error: Option<ErrorCode>,
    },
    /// A membership change.
    Membership {
        /// When.
        time: Timestamp,
        /// Client index.
        client: u32,
        /// Collection index into [`Fleet::collections`].
        collection: u32,
        /// Join or leave.
        change: Change,
    },
}

impl FleetRow {
    /// The row's time.
    pub fn time(&self) -> Timestamp {
        match self {
            FleetRow::Transition { time, .. } | FleetRow::Membership { time, .. } => *time,
        }
    }
}

/// The fleet's two deployments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FleetDeployment {
    /// `production`.
    Production,
    /// `preproduction` (pilot clients only).
    Preproduction,
}

impl FleetDeployment {
    /// The deployment's name.
    pub fn name(self) -> &'static str {
        match self {
            FleetDeployment::Production => PRODUCTION,
            FleetDeployment::Preproduction => PREPRODUCTION,
        }
    }
}

/// Counts of what a generator produced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FleetCounts {
    /// Transition rows (duplicates included).
    pub transitions: u64,
    /// Membership rows (duplicates included).
    pub memberships: u64,
}

/// A deterministic fleet: configuration, collection names and the rules that
/// generate its rows.
///
/// ```
/// use rollcall_cli::fleet::{Fleet, FleetConfig};
/// let fleet = Fleet::new(FleetConfig { clients: 100, ..FleetConfig::default() });
/// let rows: Vec<_> = fleet.rows().collect();
/// assert!(rows.len() > 100 * 40);
/// assert_eq!(rows, fleet.rows().collect::<Vec<_>>()); // deterministic
/// assert!(fleet.collections().iter().any(|c| c == "All Desktops"));
/// ```
#[derive(Debug, Clone)]
pub struct Fleet {
    cfg: FleetConfig,
    start: i64,
    collections: Vec<String>,
    sites: u32,
    groups: u32,
    name_width: usize,
    revisions: Vec<i64>,
}

impl Fleet {
    /// A fleet for `cfg` (`clients` at least 1, `days` at least 1).
    pub fn new(cfg: FleetConfig) -> Fleet {
        let cfg = FleetConfig {
            clients: cfg.clients.max(1),
            days: cfg.days.max(1),
            ..cfg
        };
        let target = ((f64::from(cfg.clients) * 200.0 / 1_000_000.0).round() as u32).clamp(12, 400);
        let sites = ((target - FIXED) * 3 / 5).max(2);
        let groups = (target - FIXED - sites).max(2);
        let mut collections: Vec<String> = vec![
            ALL_SYSTEMS.into(),
            ALL_DESKTOPS.into(),
            ALL_LAPTOPS.into(),
            PILOT_RING.into(),
        ];
        collections.extend(OS_COLLECTIONS.iter().map(|s| (*s).to_owned()));
        for i in 0..sites as usize {
            let city = CITIES[i % CITIES.len()];
            let round = i / CITIES.len();
            collections.push(if round == 0 {
                format!("Site {city}")
            } else {
                format!("Site {city} {}", round + 1)
            });
        }
        for i in 0..groups as usize {
            let g = GROUPS[i % GROUPS.len()];
            let round = i / GROUPS.len();
            collections.push(if round == 0 {
                format!("Dept {g}")
            } else {
                format!("Dept {g} {}", round + 1)
            });
        }
        let start = cfg.now.0 - i64::from(cfg.days) * DAY;
        let revisions = (0..)
            .map(|k| start + 2 * DAY + k * 30 * DAY)
            .take_while(|t| *t < cfg.now.0)
            .collect();
        Fleet {
            cfg,
            start,
            collections,
            sites,
            groups,
            name_width: cfg.clients.to_string().len().max(6),
            revisions,
        }
    }

    /// The configuration.
    pub fn config(&self) -> FleetConfig {
        self.cfg
    }

    /// First instant of the history (`now - days`).
    pub fn start(&self) -> Timestamp {
        Timestamp(self.start)
    }

    /// Collection names, indexed by [`FleetRow::Membership::collection`].
    pub fn collections(&self) -> &[String] {
        &self.collections
    }

    /// The name of client `i` (`PC-000001` for 0).
    pub fn client_name(&self, i: u32) -> String {
        let mut s = String::new();
        self.write_client_name(i, &mut s);
        s
    }

    /// Writes the name of client `i` into `buf` (cleared first).
    pub fn write_client_name(&self, i: u32, buf: &mut String) {
        buf.clear();
        let _ = write!(buf, "PC-{:0w$}", u64::from(i) + 1, w = self.name_width);
    }

    fn site_collection(&self, site: u32) -> u32 {
        FIXED + site
    }

    fn group_collection(&self, g: u32) -> u32 {
        FIXED + self.sites + g
    }

    /// Writes every row as two CSV files in SPEC.md's ingest format:
    /// `time,client,state,deployment,error` and `time,client,collection,change`.
    pub fn write_csv(
        &self,
        transitions: &mut dyn Write,
        memberships: &mut dyn Write,
    ) -> io::Result<FleetCounts> {
        let mut tw = csv::Writer::from_writer(transitions);
        let mut mw = csv::Writer::from_writer(memberships);
        tw.write_record(["time", "client", "state", "deployment", "error"])?;
        mw.write_record(["time", "client", "collection", "change"])?;
        let mut counts = FleetCounts::default();
        let mut name = String::new();
        let mut time = String::new();
        let mut code = String::new();
        for row in self.rows() {
            time.clear();
            let _ = write!(time, "{}", row.time());
            match row {
                FleetRow::Transition {
                    client,
                    deployment,
                    state,
                    error,
                    ..
                } => {
                    self.write_client_name(client, &mut name);
                    code.clear();
                    if let Some(e) = error {
                        let _ = write!(code, "{e}");
                    }
                    tw.write_record([
                        time.as_str(),
                        name.as_str(),
                        state.name(),
                        deployment.name(),
                        code.as_str(),
                    ])?;
                    counts.transitions += 1;
                }
                FleetRow::Membership {
                    client,
                    collection,
                    change,
                    ..
                } => {
                    self.write_client_name(client, &mut name);
                    mw.write_record([
                        time.as_str(),
                        name.as_str(),
                        self.collections[collection as usize].as_str(),
                        change.name(),
                    ])?;
                    counts.memberships += 1;
                }
            }
        }
        tw.flush()?;
        mw.flush()?;
        Ok(counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rollcall_engine::Batch;

    fn small() -> Fleet {
        Fleet::new(FleetConfig {
            clients: 500,
            ..FleetConfig::default()
        })
    }

    #[test]
    fn rows_are_deterministic_and_in_range() {
        let f = small();
        let a: Vec<FleetRow> = f.rows().collect();
        let b: Vec<FleetRow> = f.rows().collect();
        assert_eq!(a, b);
        let lo = f.start();
        let hi = f.config().now;
        assert!(a.iter().all(|r| r.time() >= lo && r.time() < hi));
        assert!(a.iter().all(|r| r.time().0 % 1000 == 0), "second precision");
    }

    #[test]
    fn shape_is_realistic() {
        let f = small();
        let rows: Vec<FleetRow> = f.rows().collect();
        let transitions = rows
            .iter()
            .filter(|r| matches!(r, FleetRow::Transition { .. }))
            .count();
        let per_client = transitions as f64 / 500.0;
        assert!(
            (35.0..70.0).contains(&per_client),
            "{per_client} transitions per client"
        );
        let failed = rows
            .iter()
            .filter(|r| {
                matches!(
                    r,
                    FleetRow::Transition {
                        state: State::Failed,
                        ..
                    }
                )
            })
            .count();
        assert!(failed > 0);
        let late = rows.windows(2).filter(|w| w[1].time() < w[0].time()).count();
        assert!(late > 0, "some rows arrive out of time order");
        let mut seen = std::collections::HashSet::new();
        let dups = rows.iter().filter(|r| !seen.insert(format!("{r:?}"))).count();
        assert!(dups > 0, "some exact duplicates");
        assert!(dups < rows.len() / 50);
        let pre = rows
            .iter()
            .filter(|r| {
                matches!(
                    r,
                    FleetRow::Transition {
                        deployment: FleetDeployment::Preproduction,
                        ..
                    }
                )
            })
            .count();
        assert!(pre > 0, "the pilot gets preproduction transitions");
    }

    #[test]
    fn collection_count_scales() {
        assert_eq!(small().collections().len(), 12);
        let big = Fleet::new(FleetConfig {
            clients: 1_000_000,
            ..FleetConfig::default()
        });
        assert_eq!(big.collections().len(), 200);
        let names: std::collections::HashSet<&String> = big.collections().iter().collect();
        assert_eq!(names.len(), 200, "collection names are distinct");
    }

    #[test]
    fn every_client_is_in_one_to_eight_collections() {
        let f = small();
        for c in 0..500 {
            let p = f.profile(c);
            let n = 4 + p.groups.iter().flatten().count() + usize::from(p.pilot);
            assert!((1..=8).contains(&n));
        }
    }

    #[test]
    fn csv_files_have_spec_headers() {
        let f = Fleet::new(FleetConfig {
            clients: 20,
            ..FleetConfig::default()
        });
        let mut t = Vec::new();
        let mut m = Vec::new();
        let counts = f.write_csv(&mut t, &mut m).unwrap();
        let t = String::from_utf8(t).unwrap();
        let m = String::from_utf8(m).unwrap();
        assert!(t.starts_with("time,client,state,deployment,error\n"));
        assert!(m.starts_with("time,client,collection,change\n"));
        assert_eq!(t.lines().count() as u64, counts.transitions + 1);
        assert_eq!(m.lines().count() as u64, counts.memberships + 1);
    }

    #[test]
    fn fill_batch_streams_everything() {
        let f = Fleet::new(FleetConfig {
            clients: 50,
            ..FleetConfig::default()
        });
        let total = f.rows().count();
        let mut rows = f.rows();
        let mut batch = Batch::new();
        let mut n = 0;
        loop {
            batch.clear();
            let k = rows.fill_batch(&mut batch, 1000).unwrap();
            if k == 0 {
                break;
            }
            assert_eq!(batch.len(), k);
            n += k;
        }
        assert_eq!(n, total);
    }
}
