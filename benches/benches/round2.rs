//! The round-2 statements through RQL (`rollcall_query::execute`), at each
//! fleet size of `ROLLCALL_BENCH_CLIENTS` (default 10 000 clients): a daily
//! failure histogram and a daily series in Europe/Berlin next to the same in
//! UTC (issue 15: within 1.2x), `FLOW` between two days (target <= 5 ms at
//! 1M clients) and `DURATIONS` over 30 days (target <= 50 ms at 1M), and
//! `STATES IN c AT T` a month back, plain and `AS KNOWN AT` a time then
//! (issue 16: under 10x the plain query at 1M). The store is the fleet fed
//! one commit per day with commit times (`fleet_store_daily`), compacted.
//!
//! `ROLLCALL_BENCH_CLIENTS=1000000 cargo bench -p rollcall-benches --bench round2`

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use rollcall_benches::{config, fleet_store_daily, sizes};
use rollcall_engine::{Store, Timestamp};
use rollcall_query::{ExecOptions, Statement, execute, parse_script};

const DAY: i64 = 86_400_000;

fn statement(rql: &str) -> Statement {
    let script = parse_script(rql).unwrap_or_else(|e| panic!("{}", e.render(rql, "bench")));
    script
        .statements
        .into_iter()
        .next()
        .expect("one statement")
        .statement
}

fn round2(c: &mut Criterion) {
    let mut group = c.benchmark_group("round2");
    group.sample_size(20);
    for clients in sizes() {
        let dir = fleet_store_daily(clients);
        let store = Store::open_read_only(&dir).expect("open bench store");
        let now = config(clients).now;
        // Whole days in UTC, so both zones ask for the same 90 days.
        let to = Timestamp(now.0.div_euclid(DAY) * DAY);
        let from = Timestamp(to.0 - 90 * DAY);
        let (f, t) = (date(from), date(to));
        let opts = ExecOptions::new(now);
        let cases = [
            (
                "failures_90d_1d_utc",
                format!("FAILURES IN \"All Desktops\" FROM {f} TO {t} EVERY 1d"),
            ),
            (
                "failures_90d_1d_berlin",
                format!("FAILURES IN \"All Desktops\" FROM {f} TO {t} EVERY 1d TIME ZONE \"Europe/Berlin\""),
            ),
            (
                "series_90d_1d_utc",
                format!("STATES IN \"All Desktops\" FROM {f} TO {t} EVERY 1d"),
            ),
            (
                "series_90d_1d_berlin",
                format!("STATES IN \"All Desktops\" FROM {f} TO {t} EVERY 1d TIME ZONE \"Europe/Berlin\""),
            ),
            (
                "flow_7d",
                format!(
                    "FLOW IN \"All Desktops\" FROM {} TO {t}",
                    date(Timestamp(to.0 - 7 * DAY))
                ),
            ),
            (
                "durations_30d",
                format!(
                    "DURATIONS IN \"All Desktops\" FROM {} TO {t} UNTIL Compliant",
                    date(Timestamp(to.0 - 30 * DAY))
                ),
            ),
            (
                "states_31d_ago",
                format!(
                    "STATES IN \"All Desktops\" AT {}",
                    date(Timestamp(to.0 - 31 * DAY))
                ),
            ),
            (
                "states_31d_ago_as_known_then",
                format!(
                    "STATES IN \"All Desktops\" AT {} AS KNOWN AT {}",
                    date(Timestamp(to.0 - 31 * DAY)),
                    Timestamp(to.0 - 31 * DAY + 7_200_000)
                ),
            ),
        ];
        for (name, rql) in cases {
            let st = statement(&rql);
            group.bench_with_input(BenchmarkId::new(name, clients), &st, |b, st| {
                b.iter(|| execute(&store.snapshot(), st, &opts).expect("query"))
            });
        }
    }
    group.finish();
}

/// A UTC midnight as `YYYY-MM-DD`.
fn date(t: Timestamp) -> String {
    t.to_string()[..10].to_owned()
}

criterion_group!(benches, round2);
criterion_main!(benches);
