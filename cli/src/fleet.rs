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

use std::fmt::Write as _;
use std::io::{self, Write};

use rollcall_engine::{Batch, Change, ErrorCode, State, Timestamp};

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

// ----- deterministic randomness ----------------------------------------------------

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn hash3(seed: u64, client: u32, salt: u64) -> u64 {
    splitmix(seed ^ splitmix(u64::from(client) ^ splitmix(salt)))
}

fn unit(h: u64) -> f64 {
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// A SplitMix64 stream.
#[derive(Debug, Clone, Copy)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn unit(&mut self) -> f64 {
        unit(self.next())
    }

    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Uniform in `lo..hi` (ms), rounded down to whole seconds.
    fn span(&mut self, lo: i64, hi: i64) -> i64 {
        let w = (hi - lo).max(1) as u64;
        let v = lo + (self.next() % w) as i64;
        v - v.rem_euclid(SECOND)
    }
}

// ----- the fleet ---------------------------------------------------------------------

/// Static facts about one client, derived from the seed and its index.
#[derive(Debug, Clone, Copy)]
struct Profile {
    enroll: i64,
    laptop: bool,
    os: u32,
    site: u32,
    groups: [Option<u32>; 3],
    pilot: bool,
    wave: u32,
    /// (time, new site) of a site move.
    moves: Option<(i64, u32)>,
    /// Time the client is decommissioned (leaves everything, goes silent).
    decommission: Option<i64>,
    /// Time the client goes offline.
    offline: Option<i64>,
    /// Whether an offline client is later marked Unknown.
    marked_unknown: bool,
    /// A client with a lasting local problem: installs keep failing with
    /// the same code.
    broken: Option<ErrorCode>,
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

    fn profile(&self, c: u32) -> Profile {
        let s = self.cfg.seed;
        let span = i64::from(self.cfg.days) * DAY;
        let h = |salt: u64| hash3(s, c, salt);
        let enroll = if unit(h(1)) < 0.94 {
            self.start + (h(2) % (6 * HOUR) as u64) as i64
        } else {
            self.start + DAY + (h(2) % (span - 2 * DAY).max(1) as u64) as i64
        };
        let enroll = enroll - enroll.rem_euclid(SECOND);
        let os_u = unit(h(3));
        let os = if os_u < 0.15 {
            0
        } else if os_u < 0.60 {
            1
        } else {
            2
        };
        // Skewed site sizes: the first sites are the big offices.
        let site = ((unit(h(4)).powi(2)) * f64::from(self.sites)) as u32;
        let site = site.min(self.sites - 1);
        let mut groups = [None; 3];
        let ngroups = match unit(h(5)) {
            u if u < 0.3 => 0,
            u if u < 0.8 => 1,
            u if u < 0.95 => 2,
            _ => 3,
        };
        for (k, slot) in groups.iter_mut().enumerate().take(ngroups) {
            let g = (unit(h(6 + k as u64)).powf(1.5) * f64::from(self.groups)) as u32;
            *slot = Some(g.min(self.groups - 1));
        }
        dedup_groups(&mut groups);
        let pilot = unit(h(10)) < 0.02;
        let wave = match unit(h(11)) {
            u if u < 0.05 => 0,
            u if u < 0.25 => 1,
            u if u < 0.60 => 2,
            _ => 3,
        };
        let after_enroll = |salt: u64| -> Option<i64> {
            let lo = enroll + 2 * DAY;
            if lo >= self.cfg.now.0 - DAY {
                return None;
            }
            let t = lo + (h(salt) % (self.cfg.now.0 - DAY - lo) as u64) as i64;
            Some(t - t.rem_euclid(SECOND))
        };
        let moves = if unit(h(12)) < 0.03 && self.sites > 1 {
            after_enroll(13).map(|t| {
                let other = (site + 1 + (h(14) % u64::from(self.sites - 1)) as u32) % self.sites;
                (t, other)
            })
        } else {
            None
        };
        let decommission = if unit(h(15)) < 0.01 {
            after_enroll(16)
        } else {
            None
        };
        let offline = if decommission.is_none() && unit(h(17)) < 0.04 {
            after_enroll(18)
        } else {
            None
        };
        Profile {
            enroll,
            laptop: unit(h(19)) < 0.38,
            os,
            site,
            groups,
            pilot,
            wave,
            moves,
            decommission,
            offline,
            marked_unknown: unit(h(20)) < 0.5,
            broken: (unit(h(21)) < 0.015).then(|| {
                const LASTING: [u32; 3] = [0x8007_0643, 0x800B_0109, 0x8007_0005];
                ErrorCode(LASTING[(h(22) % 3) as usize])
            }),
        }
    }

    /// When revision `r` reaches a client of wave `wave` (production).
    fn release(&self, r: usize, wave: u32, c: u32) -> i64 {
        let jitter = (hash3(self.cfg.seed, c, 100 + r as u64) % (6 * HOUR) as u64) as i64;
        let t = self.revisions[r] + i64::from(wave) * 36 * HOUR + jitter;
        t - t.rem_euclid(SECOND)
    }

    /// When revision `r` reaches the pilot (preproduction): four days early.
    fn pilot_release(&self, r: usize, c: u32) -> i64 {
        let jitter = (hash3(self.cfg.seed, c, 200 + r as u64) % (4 * HOUR) as u64) as i64;
        let t = (self.revisions[r] - 4 * DAY).max(self.start + HOUR) + jitter;
        t - t.rem_euclid(SECOND)
    }

    fn error_for(&self, rng: &mut Rng, rev: u8, site: u32) -> ErrorCode {
        if rev == 0 && site == 2 % self.sites && rng.chance(0.6) {
            return ErrorCode(0x87D0_0607);
        }
        let total: u32 = ERRORS.iter().map(|e| e.1).sum();
        let mut pick = (rng.next() % u64::from(total)) as u32;
        for (code, w) in ERRORS {
            if pick < w {
                return ErrorCode(code);
            }
            pick -= w;
        }
        ErrorCode(ERRORS[0].0)
    }

    fn fail_probability(&self, rev: u8, site: u32, tries: u8) -> f64 {
        let base = REVISION_FAIL[usize::from(rev).min(REVISION_FAIL.len() - 1)];
        let site_factor = if rev == 0 && site == 2 % self.sites {
            3.0
        } else {
            1.0
        };
        let retry_factor = if tries == 0 { 1.0 } else { 0.7 };
        (base * site_factor * retry_factor).min(0.9)
    }

    /// A streaming generator of every row, in time order except for the late
    /// rows and the duplicates.
    pub fn rows(&self) -> FleetRows<'_> {
        let sims = (0..self.cfg.clients)
            .map(|c| {
                let p = self.profile(c);
                let mut sim = Sim::new(hash3(self.cfg.seed, c, 999));
                sim.mem_next = p.enroll;
                sim.tracks[0] = Track::idle();
                sim.tracks[1] = Track::idle();
                self.schedule_first(&mut sim, &p, c);
                sim
            })
            .collect();
        FleetRows {
            fleet: self,
            sims,
            day: 0,
            out: Vec::new(),
            pos: 0,
            late: Vec::new(),
            rng: Rng(splitmix(self.cfg.seed ^ 0x5EED_1A7E)),
            done: false,
            name: String::new(),
        }
    }

    fn schedule_first(&self, sim: &mut Sim, p: &Profile, c: u32) {
        if self.revisions.is_empty() {
            return;
        }
        // Production: the latest revision released before enrolling is
        // installed soon after; otherwise the first one released after.
        let released: Vec<usize> = (0..self.revisions.len())
            .filter(|&r| self.release(r, p.wave, c) <= p.enroll)
            .collect();
        let t = match released.last() {
            Some(&r) => {
                sim.tracks[0].rev = r as u8;
                p.enroll + sim.rng.span(HOUR, 48 * HOUR)
            }
            None => {
                sim.tracks[0].rev = 0;
                self.release(0, p.wave, c)
            }
        };
        sim.tracks[0].set(t, Action::Start);
        if p.pilot
            && let Some(r) = (0..self.revisions.len()).find(|&r| self.pilot_release(r, c) > p.enroll)
        {
            sim.tracks[1].rev = r as u8;
            sim.tracks[1].set(self.pilot_release(r, c), Action::Start);
        }
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

fn dedup_groups(groups: &mut [Option<u32>; 3]) {
    for i in 1..3 {
        if groups[..i].contains(&groups[i]) {
            groups[i] = None;
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    None,
    Start,
    Finish,
    Evaluate,
    Remediate,
    MarkUnknown,
}

/// One deployment's simulation state for a client.
#[derive(Debug, Clone, Copy)]
struct Track {
    next: i64,
    action: Action,
    rev: u8,
    tries: u8,
    state: Option<State>,
    error: Option<ErrorCode>,
}

impl Track {
    fn idle() -> Track {
        Track {
            next: i64::MAX,
            action: Action::None,
            rev: 0,
            tries: 0,
            state: None,
            error: None,
        }
    }

    fn set(&mut self, t: i64, action: Action) {
        self.next = t;
        self.action = action;
    }
}

/// A client's simulation state (small: one per client lives in memory).
#[derive(Debug, Clone, Copy)]
struct Sim {
    rng: Rng,
    tracks: [Track; 2],
    mem_next: i64,
    mem_phase: u8,
    silent: bool,
}

impl Sim {
    fn new(seed: u64) -> Sim {
        Sim {
            rng: Rng(seed),
            tracks: [Track::idle(); 2],
            mem_next: i64::MAX,
            mem_phase: 0,
            silent: false,
        }
    }
}

/// The streaming generator returned by [`Fleet::rows`]: yields rows day by
/// day, holding one day of rows plus the late ones.
#[derive(Debug)]
pub struct FleetRows<'f> {
    fleet: &'f Fleet,
    sims: Vec<Sim>,
    day: u32,
    out: Vec<FleetRow>,
    pos: usize,
    /// (day to emit on, row)
    late: Vec<(u32, FleetRow)>,
    rng: Rng,
    done: bool,
    name: String,
}

impl FleetRows<'_> {
    /// Pushes up to `max` rows into `batch` (names resolved); returns how many
    /// were pushed (0 at the end).
    pub fn fill_batch(&mut self, batch: &mut Batch, max: usize) -> rollcall_engine::Result<usize> {
        let mut n = 0;
        while n < max {
            let Some(row) = self.next() else { break };
            match row {
                FleetRow::Transition {
                    time,
                    client,
                    deployment,
                    state,
                    error,
                } => {
                    self.fleet.write_client_name(client, &mut self.name);
                    batch.push_transition(time, &self.name, deployment.name(), state, error)?;
                }
                FleetRow::Membership {
                    time,
                    client,
                    collection,
                    change,
                } => {
                    self.fleet.write_client_name(client, &mut self.name);
                    batch.push_membership(
                        time,
                        &self.name,
                        &self.fleet.collections[collection as usize],
                        change,
                    )?;
                }
            }
            n += 1;
        }
        Ok(n)
    }

    fn generate_day(&mut self) {
        let fleet = self.fleet;
        let day_start = fleet.start + i64::from(self.day) * DAY;
        let day_end = (day_start + DAY).min(fleet.cfg.now.0);
        let mut rows: Vec<FleetRow> = Vec::new();
        for (c, sim) in self.sims.iter_mut().enumerate() {
            let c = c as u32;
            let next = sim.mem_next.min(sim.tracks[0].next).min(sim.tracks[1].next);
            if next >= day_end {
                continue;
            }
            let p = fleet.profile(c);
            while sim.mem_next < day_end {
                membership_step(fleet, sim, &p, c, &mut rows);
            }
            loop {
                let k = if sim.tracks[0].next <= sim.tracks[1].next {
                    0
                } else {
                    1
                };
                if sim.tracks[k].next >= day_end {
                    break;
                }
                track_step(fleet, sim, &p, c, k, &mut rows);
            }
        }
        rows.sort_by_key(|r| (r.time(), row_client(r)));
        // Late rows due today come first (they are out of time order), then
        // today's rows, some held back and some doubled.
        let today = self.day;
        let mut out = std::mem::take(&mut self.out);
        out.clear();
        let mut i = 0;
        while i < self.late.len() {
            if self.late[i].0 <= today {
                out.push(self.late.swap_remove(i).1);
            } else {
                i += 1;
            }
        }
        // swap_remove scrambles order; emit due late rows in time order.
        out.sort_by_key(|r| (r.time(), row_client(r)));
        for row in rows {
            let u = self.rng.unit();
            if u < 0.05 {
                let delay = 1 + (self.rng.next() % 3) as u32;
                self.late.push((today + delay, row));
                continue;
            }
            out.push(row);
            if u > 0.995 {
                let delay = (self.rng.next() % 3) as u32;
                if delay == 0 {
                    out.push(row);
                } else {
                    self.late.push((today + delay, row));
                }
            }
        }
        self.out = out;
        self.pos = 0;
        self.day += 1;
        if fleet.start + i64::from(self.day) * DAY >= fleet.cfg.now.0 {
            // Last day: flush every late row.
            let mut rest: Vec<FleetRow> = self.late.drain(..).map(|(_, r)| r).collect();
            rest.sort_by_key(|r| (r.time(), row_client(r)));
            self.out.extend(rest);
            self.done = true;
        }
    }
}

fn row_client(r: &FleetRow) -> (u32, u8) {
    match r {
        FleetRow::Transition {
            client, deployment, ..
        } => (*client, *deployment as u8),
        FleetRow::Membership {
            client, collection, ..
        } => (*client, 2 + (*collection % 200) as u8),
    }
}

impl Iterator for FleetRows<'_> {
    type Item = FleetRow;

    fn next(&mut self) -> Option<FleetRow> {
        loop {
            if self.pos < self.out.len() {
                let row = self.out[self.pos];
                self.pos += 1;
                return Some(row);
            }
            if self.done {
                return None;
            }
            self.generate_day();
        }
    }
}

fn membership_step(fleet: &Fleet, sim: &mut Sim, p: &Profile, c: u32, rows: &mut Vec<FleetRow>) {
    let t = sim.mem_next;
    let time = Timestamp(t);
    let mut emit = |collection: u32, change: Change| {
        rows.push(FleetRow::Membership {
            time,
            client: c,
            collection,
            change,
        });
    };
    let current_site = |after_move: bool| -> u32 {
        match p.moves {
            Some((_, s)) if after_move => s,
            _ => p.site,
        }
    };
    match sim.mem_phase {
        0 => {
            emit(0, Change::Join);
            emit(if p.laptop { 2 } else { 1 }, Change::Join);
            emit(4 + p.os, Change::Join);
            emit(fleet.site_collection(p.site), Change::Join);
            for g in p.groups.iter().flatten() {
                emit(fleet.group_collection(*g), Change::Join);
            }
            if p.pilot {
                emit(3, Change::Join);
            }
        }
        1 => {
            if let Some((_, to)) = p.moves {
                emit(fleet.site_collection(p.site), Change::Leave);
                emit(fleet.site_collection(to), Change::Join);
            }
        }
        _ => {
            let moved = p.moves.is_some_and(|(mt, _)| mt <= t);
            emit(0, Change::Leave);
            emit(if p.laptop { 2 } else { 1 }, Change::Leave);
            emit(4 + p.os, Change::Leave);
            emit(fleet.site_collection(current_site(moved)), Change::Leave);
            for g in p.groups.iter().flatten() {
                emit(fleet.group_collection(*g), Change::Leave);
            }
            if p.pilot {
                emit(3, Change::Leave);
            }
            sim.silent = true;
            sim.tracks = [Track::idle(); 2];
        }
    }
    // Next membership event: the move (phase 1), then decommissioning (phase 2).
    sim.mem_phase += 1;
    sim.mem_next = i64::MAX;
    if sim.mem_phase == 1 {
        match (p.moves, p.decommission) {
            (Some((mt, _)), Some(dt)) if mt < dt => sim.mem_next = mt,
            (Some((mt, _)), None) => sim.mem_next = mt,
            (_, Some(dt)) => {
                sim.mem_phase = 2;
                sim.mem_next = dt;
            }
            _ => {}
        }
    } else if sim.mem_phase == 2
        && let Some(dt) = p.decommission
    {
        sim.mem_next = dt;
    }
}

fn track_step(fleet: &Fleet, sim: &mut Sim, p: &Profile, c: u32, k: usize, rows: &mut Vec<FleetRow>) {
    let t = sim.tracks[k].next;
    let deployment = if k == 0 {
        FleetDeployment::Production
    } else {
        FleetDeployment::Preproduction
    };
    if t >= fleet.cfg.now.0 {
        sim.tracks[k] = Track::idle();
        return;
    }
    // Gone quiet: no more reports, except an Unknown mark two weeks later.
    if let Some(off) = p.offline
        && t >= off
    {
        let track = &mut sim.tracks[k];
        if track.action == Action::MarkUnknown {
            rows.push(FleetRow::Transition {
                time: Timestamp(t),
                client: c,
                deployment,
                state: State::Unknown,
                error: None,
            });
            *track = Track::idle();
        } else if k == 0 && p.marked_unknown && track.state.is_some() {
            track.set(off + 14 * DAY, Action::MarkUnknown);
        } else {
            *track = Track::idle();
        }
        return;
    }
    if sim.silent {
        sim.tracks[k] = Track::idle();
        return;
    }
    let revisions = fleet.revisions.len();
    let rng = &mut sim.rng;
    let track = &mut sim.tracks[k];
    let mut emit = |state: State, error: Option<ErrorCode>, track: &mut Track| {
        track.state = Some(state);
        rows.push(FleetRow::Transition {
            time: Timestamp(t),
            client: c,
            deployment,
            state,
            error,
        });
    };
    let action = track.action;
    let mut next: Option<(i64, Action)> = None;
    match action {
        Action::None => {}
        Action::Start | Action::Remediate => {
            if action == Action::Start {
                track.tries = 0;
            }
            emit(State::InProgress, None, track);
            next = Some((t + rng.span(5 * MINUTE, 3 * HOUR), Action::Finish));
        }
        Action::Finish => {
            let p_fail = match (k, p.broken) {
                (0, Some(_)) => 0.97,
                (0, None) => fleet.fail_probability(track.rev, p.site, track.tries),
                _ => (fleet.fail_probability(track.rev, p.site, track.tries) * 1.5).min(0.9),
            };
            if rng.chance(p_fail) {
                let code = match (k, p.broken) {
                    (0, Some(code)) => code,
                    _ => fleet.error_for(rng, track.rev, p.site),
                };
                track.error = Some(code);
                emit(State::Failed, Some(code), track);
                track.tries = track.tries.saturating_add(1);
                next = if track.tries <= 3 {
                    Some((t + rng.span(2 * HOUR, 12 * HOUR), Action::Remediate))
                } else if k == 0 {
                    Some((t + rng.span(DAY, 3 * DAY), Action::Evaluate))
                } else {
                    None
                };
            } else {
                track.error = None;
                emit(State::Compliant, None, track);
                next = (k == 0).then(|| (t + rng.span(DAY, 3 * DAY), Action::Evaluate));
            }
        }
        Action::Evaluate => match track.state {
            Some(State::Compliant) => {
                if rng.chance(0.04) {
                    let code = rng.chance(0.6).then_some(ErrorCode(0x87D0_0324));
                    emit(State::NonCompliant, code, track);
                    next = Some((t + rng.span(DAY, 2 * DAY), Action::Remediate));
                } else {
                    emit(State::Compliant, None, track);
                    next = Some((t + rng.span(DAY, 3 * DAY), Action::Evaluate));
                }
            }
            Some(State::Failed) => {
                if rng.chance(0.5) {
                    emit(State::InProgress, None, track);
                    next = Some((t + rng.span(5 * MINUTE, 3 * HOUR), Action::Finish));
                } else {
                    let code = track.error;
                    emit(State::Failed, code, track);
                    next = Some((t + rng.span(DAY, 3 * DAY), Action::Evaluate));
                }
            }
            _ => {
                emit(State::InProgress, None, track);
                next = Some((t + rng.span(5 * MINUTE, 3 * HOUR), Action::Finish));
            }
        },
        Action::MarkUnknown => {
            emit(State::Unknown, None, track);
        }
    }
    // A new revision preempts whatever comes next.
    let upcoming = usize::from(track.rev) + 1;
    let next_release = (upcoming < revisions).then(|| {
        if k == 0 {
            fleet.release(upcoming, p.wave, c)
        } else {
            fleet.pilot_release(upcoming, c)
        }
    });
    match (next, next_release) {
        (_, Some(r)) if next.is_none_or(|(n, _)| r <= n) => {
            track.rev = upcoming as u8;
            track.set(r, Action::Start);
        }
        (Some((n, a)), _) => track.set(n, a),
        (None, _) => {
            *track = Track {
                next: i64::MAX,
                action: Action::None,
                ..*track
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
