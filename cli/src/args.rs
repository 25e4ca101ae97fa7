//! The command line of SPEC.md section 5, declared with clap's derive API.
//!
//! This module only describes arguments; it does no I/O. Usage errors found
//! by clap exit with code 2 (clap's own convention matches SPEC.md).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Default store directory when neither `--db` nor `$ROLLCALL_DB` is given.
pub const DEFAULT_DB: &str = "./rollcall.db";

const ROOT_AFTER_HELP: &str = "\
Examples:
  rollcall ingest members members.csv
  rollcall ingest events events.csv
  rollcall query 'STATES IN \"All Desktops\" AT 2026-11-01T12:00:00Z;'
  rollcall run weekly.rql --param from=2026-10-01 --output-dir out/
  rollcall demo

With no command, rollcall starts the REPL when standard input is a terminal,
and otherwise runs the RQL statements piped to it as one batch.

Exit codes: 0 success; 1 runtime error (I/O, damaged store, unknown name, bad
input rows); 2 usage or query syntax error.";

/// rollcall: an embedded time-series store of per-client deployment state.
#[derive(Debug, Parser)]
#[command(
    name = "rollcall",
    version,
    about = "Per-client deployment state over time: ingest, query, REPL, batch runs",
    after_help = ROOT_AFTER_HELP,
    propagate_version = true
)]
pub struct Cli {
    /// Store directory
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        env = "ROLLCALL_DB",
        default_value = DEFAULT_DB,
        hide_env_values = true
    )]
    pub db: PathBuf,

    /// What to do (the REPL, or a batch from piped input, when left out)
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Load transitions, membership changes or a membership snapshot
    #[command(subcommand)]
    Ingest(Ingest),
    /// Run one or more RQL statements given on the command line
    #[command(after_help = "\
Examples:
  rollcall query 'STATES IN \"All Desktops\" AT 2026-11-01T12:00:00Z'
  rollcall query 'FAILURES FROM $from TO $from + 7d EVERY 1d' --param from=2026-10-01 --format json
  rollcall query 'STATES BY COLLECTION AT NOW' --format html > states.html

Several statements print one result each, separated by a blank line (with
--format html: one page holding every result).")]
    Query(QueryArgs),
    /// Run a saved query file (.rql): parameters checked first, statements in order
    #[command(after_help = "\
Examples:
  rollcall run weekly.rql --param from=2026-10-01 --param to=2026-10-08
  rollcall run weekly.rql --param from=2026-10-01 --output-dir reports/ --format csv
  rollcall run weekly.rql --format html --output-dir out/

With --output-dir each statement is written to its own file, named after its
`-- name: x` line (x.csv) or its position (01.csv, 02.csv, ...); with --format
html also out/index.html linking every page. The run stops at the first failing
statement and names it.")]
    Run(RunArgs),
    /// Interactive shell (also what `rollcall` alone starts on a terminal)
    #[command(after_help = "\
Example:
  rollcall --db fleet.db repl

Statements end with `;` and may span lines. Type .help inside for dot-commands.")]
    Repl,
    /// Verify every checksum of the store; exits 1 on damage
    #[command(after_help = "Example:\n  rollcall --db fleet.db check")]
    Check,
    /// Merge segments now
    #[command(after_help = "Example:\n  rollcall --db fleet.db compact")]
    Compact,
    /// Sizes, counts and time range of the store
    #[command(after_help = "Example:\n  rollcall --db fleet.db stats")]
    Stats,
    /// Build a realistic demo fleet into the store and show the headline queries
    #[command(after_help = "\
Examples:
  rollcall demo
  rollcall --db /tmp/big.db demo --clients 1000000

The store must be empty (a new directory): the demo refuses to mix its fleet
into existing data unless --force is given.")]
    Demo(DemoArgs),
    /// Read-only HTTP server: POST /query, a JSON API and a live dashboard at /
    #[command(after_help = "\
Examples:
  rollcall --db fleet.db serve                       then open http://127.0.0.1:7878/
  rollcall --db fleet.db serve --listen 0.0.0.0:7878 --token \"$(openssl rand -hex 16)\"
  curl -s --data-binary 'STATES IN \"All Desktops\" AT NOW' 'http://127.0.0.1:7878/query?format=csv'

The store is opened read-only and followed: new commits and compactions by
another process show up without a restart. Any address other than loopback
needs --token; clients send it as `Authorization: Bearer T` (the dashboard
asks for it once). See docs/serve.md.")]
    Serve(ServeArgs),
    /// Print a shell completion script
    #[command(
        after_help = "Example:\n  rollcall completions bash > ~/.local/share/bash-completion/completions/rollcall"
    )]
    Completions(CompletionsArgs),
    /// Parquet files for other engines (incremental: only rows not exported yet)
    #[command(after_help = "\
Examples:
  rollcall export --format parquet out/
  rollcall export --format parquet out/ --since 2026-10-01

Writes DIR/transitions/day=YYYY-MM-DD/part-N.parquet and DIR/memberships/...
(zstd), and DIR/_rollcall_export.json, which records the highest ingest seq
exported: a later export into DIR writes only newer rows, as new part files.
--since also leaves out rows before TIME. See docs/scale-out.md.")]
    Export(ExportArgs),
    /// The same query as SQL over an export (DuckDB or ClickHouse)
    #[command(after_help = "\
Examples:
  rollcall translate --dialect duckdb --source out 'STATES IN \"All Desktops\" AT NOW'
  rollcall translate --dialect clickhouse --source s3://bucket/fleet -p from=2026-10-01 - < weekly.rql

NOW is the wall clock at translation time; names are checked against --db
when that store exists. One query per statement, separated by a blank line.")]
    Translate(TranslateArgs),
}

/// `rollcall ingest ...`
#[derive(Debug, Subcommand)]
pub enum Ingest {
    /// Transitions: CSV/NDJSON with fields time, client, state (deployment, error optional)
    #[command(after_help = "\
Examples:
  rollcall ingest events events.csv more-events.ndjson
  zcat events.csv.gz | rollcall ingest events - --input-format csv

Each file is stored whole or not at all. Standard input is committed every
--commit-every rows. Unknown columns are an error.")]
    Events(IngestFiles),
    /// Membership changes: CSV/NDJSON with fields time,client,collection,change
    #[command(after_help = "\
Example:
  rollcall ingest members members.csv")]
    Members(IngestFiles),
    /// The complete membership of one collection at one time
    #[command(after_help = "\
Examples:
  rollcall ingest snapshot --collection \"All Desktops\" --at 2026-11-01T00:00:00Z desktops.txt
  printf 'PC-1\\nPC-2\\n' | rollcall ingest snapshot --collection Pilot --at 2026-11-01 -

The input is one client name per line, or a one-column CSV with header
`client`. rollcall records the joins and leaves that turn the membership as of
--at into this list.")]
    Snapshot(SnapshotArgs),
}

/// Input format of an ingest file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InputFormat {
    /// Comma-separated values with a header row
    Csv,
    /// One JSON object per line
    Ndjson,
}

/// Files to ingest and how.
#[derive(Debug, Args)]
pub struct IngestFiles {
    /// Input files; `-` reads standard input
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// Format of standard input (files are told by their extension)
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub input_format: Option<InputFormat>,

    /// Store the good rows and write each bad row, with its reason, to a reject file
    #[arg(long)]
    pub skip_bad_rows: bool,

    /// Commit standard input every N rows (files are always one transaction)
    #[arg(long, value_name = "N", default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub commit_every: u64,
}

/// `rollcall ingest snapshot`.
#[derive(Debug, Args)]
pub struct SnapshotArgs {
    /// The collection whose complete membership the input lists
    #[arg(long, value_name = "NAME")]
    pub collection: String,

    /// When the membership was observed (RFC 3339, date, or epoch ms)
    #[arg(long, value_name = "TIME")]
    pub at: String,

    /// The list of client names; `-` reads standard input
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// Format of the input (default: told by the extension, else auto-detected)
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub input_format: Option<SnapshotFormat>,
}

/// Input format of a membership snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SnapshotFormat {
    /// One client name per line (a first line `client` is read as a CSV header)
    Lines,
    /// One-column CSV with header `client`
    Csv,
    /// One JSON object per line with a `client` field
    Ndjson,
}

/// Output format of query results (`table`, `csv`, `json`, `ndjson`, `html`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// Aligned table with bars (for people)
    Table,
    /// RFC 4180 CSV with a header row
    Csv,
    /// One JSON array of objects
    Json,
    /// One JSON object per line
    Ndjson,
    /// A self-contained HTML page: tables, and SVG charts of STATES and FAILURES
    Html,
}

/// A `k=v` query parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    /// The name, without `$`.
    pub name: String,
    /// The value text.
    pub value: String,
}

/// Parses `k=v` (the name may carry a leading `$`).
pub fn parse_param(text: &str) -> Result<Param, String> {
    let Some((k, v)) = text.split_once('=') else {
        return Err(format!("expected NAME=VALUE, found {text:?}"));
    };
    let k = k.trim();
    let k = k.strip_prefix('$').unwrap_or(k);
    let valid = !k.is_empty()
        && k.chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(format!(
            "parameter name {k:?} is not a name (letters, digits and _, not starting with a digit)"
        ));
    }
    Ok(Param {
        name: k.to_owned(),
        value: v.to_owned(),
    })
}

/// `rollcall query`.
#[derive(Debug, Args)]
pub struct QueryArgs {
    /// RQL text: one or more statements separated by `;`
    #[arg(value_name = "RQL")]
    pub rql: String,

    /// Output format (default: table on a terminal, else csv)
    #[arg(long, short = 'f', value_enum, value_name = "F")]
    pub format: Option<FormatArg>,

    /// Binds `$k` to `v` (repeatable)
    #[arg(long = "param", short = 'p', value_name = "k=v", value_parser = parse_param)]
    pub params: Vec<Param>,
}

/// `rollcall run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The saved query file
    #[arg(value_name = "FILE.rql")]
    pub file: PathBuf,

    /// Binds `$k` to `v` (repeatable)
    #[arg(long = "param", short = 'p', value_name = "k=v", value_parser = parse_param)]
    pub params: Vec<Param>,

    /// Output format (default: table on a terminal, else csv; csv with --output-dir)
    #[arg(long, short = 'f', value_enum, value_name = "F")]
    pub format: Option<FormatArg>,

    /// Write one file per statement into DIR instead of standard output
    #[arg(long, value_name = "DIR")]
    pub output_dir: Option<PathBuf>,
}

/// `rollcall demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Number of clients in the fleet
    #[arg(long, value_name = "N", default_value_t = 100_000, value_parser = clap::value_parser!(u32).range(1..=20_000_000))]
    pub clients: u32,

    /// Seed of the generator (the same seed builds the same fleet)
    #[arg(long, value_name = "S", default_value_t = 42)]
    pub seed: u64,

    /// The fleet's "now", where its 90 days of history end (default: the
    /// current hour). Queries in the demo run with NOW set to this time.
    #[arg(long, value_name = "TIME")]
    pub now: Option<String>,

    /// Add the demo fleet even when the store already holds data
    #[arg(long)]
    pub force: bool,
}

/// `rollcall serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port; the address is printed)
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7878")]
    pub listen: String,

    /// Bearer token every API request must carry (required off loopback)
    #[arg(long, value_name = "T", env = "ROLLCALL_SERVE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,

    /// Statements running at once (default: the number of cores)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub workers: Option<u16>,

    /// Requests waiting for a worker before new ones get 429
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub queue: u16,

    /// Time limit of a request, reading its body included (answered with 408)
    #[arg(long, value_name = "SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub timeout: u64,

    /// Largest request body in bytes (answered with 413)
    #[arg(long, value_name = "BYTES", default_value_t = 65_536, value_parser = clap::value_parser!(u64).range(16..=16_777_216))]
    pub max_body: u64,

    /// How often to look for new commits, in milliseconds
    #[arg(long, value_name = "MS", default_value_t = 500, value_parser = clap::value_parser!(u64).range(10..=60_000))]
    pub poll_ms: u64,
}

/// Shells for `rollcall completions`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ShellArg {
    /// GNU bash
    Bash,
    /// Z shell
    Zsh,
    /// fish
    Fish,
}

/// `rollcall completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to print a completion script for
    #[arg(value_enum)]
    pub shell: ShellArg,
}

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// Apache Parquet
    Parquet,
}

/// `rollcall export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// File format
    #[arg(long, value_enum, default_value = "parquet")]
    pub format: ExportFormat,

    /// Directory to write
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,

    /// Only rows at or after TIME
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
}

/// SQL dialects for `rollcall translate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Dialect {
    /// DuckDB
    Duckdb,
    /// ClickHouse
    Clickhouse,
}

/// `rollcall translate`.
#[derive(Debug, Args)]
pub struct TranslateArgs {
    /// SQL dialect
    #[arg(long, value_enum)]
    pub dialect: Dialect,

    /// Where the export lives (a path or URL)
    #[arg(long, value_name = "PATH_OR_URL")]
    pub source: Option<String>,

    /// The RQL statements to translate (`-` reads them from standard input)
    #[arg(value_name = "RQL")]
    pub rql: String,

    /// Binds `$k` to `v` (repeatable)
    #[arg(long = "param", short = 'p', value_name = "k=v", value_parser = parse_param)]
    pub params: Vec<Param>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn params_parse() {
        assert_eq!(
            parse_param("from=2026-10-01"),
            Ok(Param {
                name: "from".into(),
                value: "2026-10-01".into()
            })
        );
        assert_eq!(parse_param("$x=a=b").map(|p| p.value), Ok("a=b".to_owned()));
        assert!(parse_param("novalue").is_err());
        assert!(parse_param("=v").is_err());
        assert!(parse_param("1x=v").is_err());
    }
}
