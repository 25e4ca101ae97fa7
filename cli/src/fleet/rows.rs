//! The streaming generator: rows day by day, holding one day of rows plus
//! the late ones.
//!
//! Invariants: memory is one day of rows plus the late rows pending; rows
//! come in time order except for the late rows (one to three days) and the
//! exact duplicates; the stream is the same on every run for a config.

use rollcall_engine::Batch;

use super::rng::{Rng, hash3, splitmix};
use super::sim::{Sim, Track, membership_step, track_step};
use super::{DAY, Fleet, FleetRow};

impl Fleet {
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
    /// The end of the days generated so far (the fleet's start before the
    /// first row): every row still to come that is not a late one is at or
    /// after it.
    pub fn generated_until(&self) -> rollcall_engine::Timestamp {
        rollcall_engine::Timestamp(self.fleet.start + i64::from(self.day) * DAY)
    }

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
