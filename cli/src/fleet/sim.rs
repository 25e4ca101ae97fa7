//! The per-client simulation: what each client does next on each
//! deployment (install, retry, re-evaluate, drift, go offline) and its
//! membership changes (enrollment, site moves, decommissioning).
//!
//! Invariants: one small `Sim` per client lives in memory; every step
//! draws only from the client's own RNG stream, so rows do not depend on
//! the order clients are stepped in; every row's time is in
//! `[now - days, now)`.

use rollcall_engine::{Change, ErrorCode, State, Timestamp};

use super::profile::Profile;
use super::rng::Rng;
use super::{DAY, Fleet, FleetDeployment, FleetRow, HOUR, MINUTE};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Action {
    None,
    Start,
    Finish,
    Evaluate,
    Remediate,
    MarkUnknown,
}

/// One deployment's simulation state for a client.
#[derive(Debug, Clone, Copy)]
pub(super) struct Track {
    pub(super) next: i64,
    pub(super) action: Action,
    pub(super) rev: u8,
    pub(super) tries: u8,
    pub(super) state: Option<State>,
    pub(super) error: Option<ErrorCode>,
}

impl Track {
    pub(super) fn idle() -> Track {
        Track {
            next: i64::MAX,
            action: Action::None,
            rev: 0,
            tries: 0,
            state: None,
            error: None,
        }
    }

    pub(super) fn set(&mut self, t: i64, action: Action) {
        self.next = t;
        self.action = action;
    }
}

/// A client's simulation state (small: one per client lives in memory).
#[derive(Debug, Clone, Copy)]
pub(super) struct Sim {
    pub(super) rng: Rng,
    pub(super) tracks: [Track; 2],
    pub(super) mem_next: i64,
    pub(super) mem_phase: u8,
    pub(super) silent: bool,
}

impl Sim {
    pub(super) fn new(seed: u64) -> Sim {
        Sim {
            rng: Rng(seed),
            tracks: [Track::idle(); 2],
            mem_next: i64::MAX,
            mem_phase: 0,
            silent: false,
        }
    }
}

impl Fleet {
    pub(super) fn schedule_first(&self, sim: &mut Sim, p: &Profile, c: u32) {
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
}

pub(super) fn membership_step(fleet: &Fleet, sim: &mut Sim, p: &Profile, c: u32, rows: &mut Vec<FleetRow>) {
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

pub(super) fn track_step(
    fleet: &Fleet,
    sim: &mut Sim,
    p: &Profile,
    c: u32,
    k: usize,
    rows: &mut Vec<FleetRow>,
) {
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
