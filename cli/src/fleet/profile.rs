//! Each client's static facts (enrollment, collections, site, wave,
//! lasting problems) derived from the seed and its index, the release
//! schedule of each revision, and the failure model.
//!
//! Invariants: a profile is a pure function of (seed, client); a client is
//! in 4..=8 collections with no group twice; failure probabilities fall
//! from revision to revision.

use rollcall_engine::ErrorCode;

use super::rng::{Rng, hash3, unit};
use super::{DAY, ERRORS, Fleet, HOUR, REVISION_FAIL, SECOND};

/// Static facts about one client, derived from the seed and its index.
#[derive(Debug, Clone, Copy)]
pub(super) struct Profile {
    pub(super) enroll: i64,
    pub(super) laptop: bool,
    pub(super) os: u32,
    pub(super) site: u32,
    pub(super) groups: [Option<u32>; 3],
    pub(super) pilot: bool,
    pub(super) wave: u32,
    /// (time, new site) of a site move.
    pub(super) moves: Option<(i64, u32)>,
    /// Time the client is decommissioned (leaves everything, goes silent).
    pub(super) decommission: Option<i64>,
    /// Time the client goes offline.
    pub(super) offline: Option<i64>,
    /// Whether an offline client is later marked Unknown.
    pub(super) marked_unknown: bool,
    /// A client with a lasting local problem: installs keep failing with
    /// the same code.
    pub(super) broken: Option<ErrorCode>,
}

impl Fleet {
    pub(super) fn profile(&self, c: u32) -> Profile {
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
    pub(super) fn release(&self, r: usize, wave: u32, c: u32) -> i64 {
        let jitter = (hash3(self.cfg.seed, c, 100 + r as u64) % (6 * HOUR) as u64) as i64;
        let t = self.revisions[r] + i64::from(wave) * 36 * HOUR + jitter;
        t - t.rem_euclid(SECOND)
    }

    /// When revision `r` reaches the pilot (preproduction): four days early.
    pub(super) fn pilot_release(&self, r: usize, c: u32) -> i64 {
        let jitter = (hash3(self.cfg.seed, c, 200 + r as u64) % (4 * HOUR) as u64) as i64;
        let t = (self.revisions[r] - 4 * DAY).max(self.start + HOUR) + jitter;
        t - t.rem_euclid(SECOND)
    }

    pub(super) fn error_for(&self, rng: &mut Rng, rev: u8, site: u32) -> ErrorCode {
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

    pub(super) fn fail_probability(&self, rev: u8, site: u32, tries: u8) -> f64 {
        let base = REVISION_FAIL[usize::from(rev).min(REVISION_FAIL.len() - 1)];
        let site_factor = if rev == 0 && site == 2 % self.sites {
            3.0
        } else {
            1.0
        };
        let retry_factor = if tries == 0 { 1.0 } else { 0.7 };
        (base * site_factor * retry_factor).min(0.9)
    }
}

fn dedup_groups(groups: &mut [Option<u32>; 3]) {
    for i in 1..3 {
        if groups[..i].contains(&groups[i]) {
            groups[i] = None;
        }
    }
}
