//! The interactive shell: rustyline editing over a [`Session`].
//!
//! What it owns: the line editor (multi-line input until `;`, tab
//! completion, history file), Ctrl-C handling and the error display. What it
//! does not: running statements (the session does that, as in batch mode).
//!
//! Invariants: no error ends the REPL (only `.quit` and Ctrl-D do); Ctrl-C at
//! the prompt abandons the input, during a statement it cancels that
//! statement through the session's cancel flag; every statement reads a fresh
//! read-only snapshot, so ingests made meanwhile by other processes show up;
//! the history file is appended after every entry, so it survives a crash.

use std::cell::RefCell;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::Ordering;

use anyhow::Context as _;
use rollcall_engine::State;
use rollcall_query::{KEYWORDS, OutputFormat};
use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::FileHistory;
use rustyline::validate::Validator;
use rustyline::{CompletionType, Config, Context, Editor, Helper};

use crate::session::{DOT_HELP, DotOutcome, Ending, Session, StreamSink, ending, is_cancelled};
use crate::{note, report_error};

/// Environment variable naming the history file (tests use it).
pub const HISTORY_ENV: &str = "ROLLCALL_HISTORY";

/// Where the history lives: `$ROLLCALL_HISTORY`, else
/// `$XDG_STATE_HOME/rollcall/history` (`~/.local/state/rollcall/history`), or
/// the platform's data directory where there is no state directory.
pub fn history_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(HISTORY_ENV).filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    use etcetera::BaseStrategy as _;
    let base = etcetera::choose_base_strategy().ok()?;
    let dir = base.state_dir().unwrap_or_else(|| base.data_dir());
    Some(dir.join("rollcall").join("history"))
}

/// Names offered by tab completion, refreshed after each statement.
#[derive(Debug, Default)]
struct Names {
    collections: Vec<String>,
    deployments: Vec<String>,
}

impl Names {
    fn load(db: &Path) -> Names {
        match rollcall_engine::Store::open_read_only(db) {
            Ok(store) => Names::of(&store.snapshot()),
            Err(_) => Names::default(),
        }
    }

    fn of(snap: &rollcall_engine::Snapshot) -> Names {
        Names {
            collections: snap.collections(),
            deployments: snap.deployments(),
        }
    }
}

const DOT_COMMANDS: [&str; 9] = [
    ".help",
    ".format",
    ".timing",
    ".output",
    ".read",
    ".param",
    ".collections",
    ".quit",
    ".exit",
];

/// The first prompt of an input.
pub const PROMPT: &str = "rollcall> ";

/// The prompt of the following lines of an unfinished statement (psql's
/// `->`), as wide as [`PROMPT`] so the lines align.
pub const CONTINUATION_PROMPT: &str = "       -> ";

/// The rustyline helper: completion (over the whole statement typed so far).
#[derive(Debug)]
struct ReplHelper {
    names: Rc<RefCell<Names>>,
    /// The earlier lines of an unfinished statement.
    pending: Rc<RefCell<String>>,
}

/// What a bare word typed at an empty prompt means (psql and sqlite habits):
/// `help`, `\?`, `\h`, `?` show the help; `exit`, `quit`, `\q` leave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ShellWord {
    Help,
    Quit,
}

fn shell_word(line: &str) -> Option<ShellWord> {
    let word = line.trim().trim_end_matches(';').trim_end();
    match word.to_ascii_lowercase().as_str() {
        "help" | "\\?" | "\\h" | "?" => Some(ShellWord::Help),
        "exit" | "quit" | "\\q" => Some(ShellWord::Quit),
        _ => None,
    }
}

fn is_bare_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        && !KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(name))
}

fn quote(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    out.push('"');
    for c in name.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Start of the word under the cursor, and whether it opens a quoted name.
fn word_start(before: &str) -> (usize, bool) {
    // An unclosed quote (outside comments) starts the word.
    let mut open: Option<usize> = None;
    let mut iter = before.char_indices().peekable();
    while let Some((i, c)) = iter.next() {
        match (open, c) {
            (Some(_), '\\') => {
                iter.next();
            }
            (Some(_), '"') => open = None,
            (None, '"') => open = Some(i),
            (None, '-') if iter.peek().is_some_and(|(_, d)| *d == '-') => {
                for (_, d) in iter.by_ref() {
                    if d == '\n' {
                        break;
                    }
                }
            }
            _ => {}
        }
    }
    if let Some(i) = open {
        return (i, true);
    }
    let start = before
        .char_indices()
        .rev()
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '$')))
        .map_or(0, |(i, c)| i + c.len_utf8());
    (start, false)
}

/// After `TIME ZONE`: IANA zone names from the bundled database, quoted
/// when they need it (`"Europe/Berlin"`), matched case-insensitively.
fn zone_candidates(before: &str) -> Option<(usize, Vec<Pair>)> {
    let start = before
        .char_indices()
        .rev()
        .find(|(_, c)| c.is_whitespace())
        .map_or(0, |(i, c)| i + c.len_utf8());
    let head = before[..start].trim_end();
    let is_zone_clause = head.len() >= 9
        && head.is_char_boundary(head.len() - 9)
        && head[head.len() - 9..].eq_ignore_ascii_case("time zone");
    if !is_zone_clause {
        return None;
    }
    let word = &before[start..];
    let prefix = word.strip_prefix('"').unwrap_or(word).to_lowercase();
    let pairs = rollcall_query::zone::zone_names()
        .into_iter()
        .filter(|z| z.to_lowercase().starts_with(&prefix))
        .map(|z| {
            let replacement = if is_bare_identifier(&z) {
                z.clone()
            } else {
                quote(&z)
            };
            Pair {
                display: z,
                replacement,
            }
        })
        .collect();
    Some((start, pairs))
}

/// The keywords that begin a statement (`EXPLAIN` may come before one).
const STATEMENT_KEYWORDS: [&str; 9] = [
    "STATES",
    "FAILURES",
    "CLIENTS",
    "HISTORY",
    "FLOW",
    "DURATIONS",
    "GATE",
    "SHOW",
    "EXPLAIN",
];

/// What may follow `SHOW`.
const SHOW_KEYWORDS: [&str; 5] = ["COLLECTIONS", "DEPLOYMENTS", "ERRORS", "ERROR", "STATS"];

/// Rough tokens of the current statement before the word being completed:
/// words, quoted names (quotes kept) and commas; comments skipped.
fn tokens(head: &str) -> Vec<String> {
    let head = head.rsplit(';').next().unwrap_or("");
    let mut out = Vec::new();
    let mut chars = head.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                let mut t = String::from('"');
                while let Some(d) = chars.next() {
                    t.push(d);
                    match d {
                        '\\' => t.extend(chars.next()),
                        '"' => break,
                        _ => {}
                    }
                }
                out.push(t);
            }
            '-' if chars.peek() == Some(&'-') => {
                for d in chars.by_ref() {
                    if d == '\n' {
                        break;
                    }
                }
            }
            ',' => out.push(",".to_owned()),
            c if c.is_whitespace() => {}
            c => {
                let mut t = String::from(c);
                while let Some(&d) = chars.peek() {
                    if d.is_whitespace() || d == ',' || d == '"' {
                        break;
                    }
                    t.push(d);
                    chars.next();
                }
                out.push(t);
            }
        }
    }
    out
}

/// Where the word being completed stands in its statement.
#[derive(Debug, PartialEq, Eq)]
enum Slot {
    /// The first word (or the one after `EXPLAIN`).
    Statement,
    /// After `SHOW`.
    Show,
    /// An item of a `FOR` list; holds the deployments already listed.
    Deployment(Vec<String>),
    /// Anywhere else.
    Any,
}

fn slot(head: &str) -> Slot {
    let toks = tokens(head);
    let last = toks.last().map(String::as_str);
    match last {
        None => return Slot::Statement,
        Some(t) if t.eq_ignore_ascii_case("EXPLAIN") => return Slot::Statement,
        Some(t) if t.eq_ignore_ascii_case("SHOW") => return Slot::Show,
        _ => {}
    }
    // `FOR a, b, ` ending in `FOR` or a comma: walk back over `name ,` pairs.
    let mut listed = Vec::new();
    let mut i = toks.len();
    if toks[i - 1] == "," {
        loop {
            // toks[i - 1] is a comma; before it a name.
            if i < 2 || toks[i - 2] == "," {
                return Slot::Any;
            }
            let name = &toks[i - 2];
            listed.push(unquote(name));
            i -= 2;
            match toks.get(i.wrapping_sub(1)).map(String::as_str) {
                Some(",") => {}
                Some(t) if t.eq_ignore_ascii_case("FOR") => return Slot::Deployment(listed),
                _ => return Slot::Any,
            }
        }
    }
    if toks[i - 1].eq_ignore_ascii_case("FOR") {
        return Slot::Deployment(listed);
    }
    Slot::Any
}

/// A name token without its quotes and escapes.
fn unquote(token: &str) -> String {
    match token.strip_prefix('"') {
        None => token.to_owned(),
        Some(inner) => {
            let inner = inner.strip_suffix('"').unwrap_or(inner);
            let mut out = String::new();
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                if c == '\\' {
                    out.extend(chars.next());
                } else {
                    out.push(c);
                }
            }
            out
        }
    }
}

impl ReplHelper {
    fn candidates(&self, line: &str, pos: usize) -> (usize, Vec<Pair>) {
        let before = &line[..pos];
        if before.starts_with('.') && !before.contains(char::is_whitespace) {
            let pairs = DOT_COMMANDS
                .iter()
                .filter(|c| c.starts_with(before))
                .map(|c| Pair {
                    display: (*c).to_owned(),
                    replacement: (*c).to_owned(),
                })
                .collect();
            return (0, pairs);
        }
        if let Some(found) = zone_candidates(before) {
            return found;
        }
        let (start, quoted) = word_start(before);
        let word = &before[start..];
        let slot = slot(&before[..start]);
        let names = self.names.borrow();
        let listed_names: Vec<&String> = match &slot {
            Slot::Deployment(listed) => names.deployments.iter().filter(|d| !listed.contains(d)).collect(),
            _ => names.collections.iter().chain(names.deployments.iter()).collect(),
        };
        let mut out: Vec<Pair> = Vec::new();
        // Shown as they will be inserted: in the case typed.
        let mut push = |replacement: String| {
            if !out.iter().any(|p| p.replacement == replacement) {
                out.push(Pair {
                    display: replacement.clone(),
                    replacement,
                });
            }
        };
        if quoted {
            let prefix = word[1..].to_lowercase();
            for n in listed_names {
                if n.to_lowercase().starts_with(&prefix) {
                    push(quote(n));
                }
            }
            return (start, out);
        }
        if word.starts_with('$') || (word.is_empty() && !matches!(slot, Slot::Deployment(_))) {
            return (start, Vec::new());
        }
        let lower = word.to_lowercase();
        let lowercase_style = !word.is_empty() && word.chars().all(|c| !c.is_ascii_uppercase());
        let keywords: &[&str] = match slot {
            Slot::Statement => &STATEMENT_KEYWORDS,
            Slot::Show => &SHOW_KEYWORDS,
            Slot::Deployment(_) => &[],
            Slot::Any => KEYWORDS,
        };
        for k in keywords {
            if k.to_lowercase().starts_with(&lower) {
                push(if lowercase_style {
                    k.to_lowercase()
                } else {
                    (*k).to_owned()
                });
            }
        }
        if slot == Slot::Any {
            for s in State::ALL {
                if s.name().to_lowercase().starts_with(&lower) {
                    push(s.name().to_owned());
                }
            }
        }
        if matches!(slot, Slot::Any | Slot::Deployment(_)) {
            for n in listed_names {
                if n.to_lowercase().starts_with(&lower) {
                    push(if is_bare_identifier(n) {
                        n.clone()
                    } else {
                        quote(n)
                    });
                }
            }
        }
        (start, out)
    }
}

impl Completer for ReplHelper {
    type Candidate = Pair;

    fn complete(&self, line: &str, pos: usize, _ctx: &Context<'_>) -> rustyline::Result<(usize, Vec<Pair>)> {
        // Complete against the whole statement so far, so that a clause
        // begun on an earlier line (`TIME ZONE`, `FOR a,`) still counts.
        let pending = self.pending.borrow();
        if pending.is_empty() {
            return Ok(self.candidates(line, pos));
        }
        let whole = format!("{pending}{}", &line[..pos]);
        let (start, pairs) = self.candidates(&whole, whole.len());
        Ok((start.saturating_sub(pending.len()).min(pos), pairs))
    }
}

impl Hinter for ReplHelper {
    type Hint = String;
}

impl Highlighter for ReplHelper {}

/// Every line is accepted as typed: the loop in [`run`] collects the lines
/// of a statement until its `;`, showing [`CONTINUATION_PROMPT`] meanwhile.
impl Validator for ReplHelper {}

impl Helper for ReplHelper {}

/// The width tables are fitted to: `$COLUMNS` when set, else the terminal's
/// columns (`None` when standard output is not a terminal: fixed widths).
fn terminal_width(rl: &mut Editor<ReplHelper, FileHistory>) -> Option<usize> {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|&c| c > 0)
        .or_else(|| rl.dimensions().map(|(w, _)| usize::from(w)).filter(|&w| w > 0))
}

/// Runs the REPL on the store in `db` until `.quit` or Ctrl-D.
pub fn run(db: &Path) -> anyhow::Result<()> {
    let mut session = Session::new(db, OutputFormat::Table);
    let cancel = session.cancel_flag();
    if let Err(e) = ctrlc::set_handler(move || cancel.store(true, Ordering::SeqCst)) {
        note(&format!("warning: Ctrl-C cannot cancel queries: {e}"));
    }
    let names = Rc::new(RefCell::new(Names::load(db)));
    let config = Config::builder()
        .history_ignore_dups(true)
        .context("configure the line editor")?
        .max_history_size(10_000)
        .context("configure the line editor")?
        .auto_add_history(false)
        .completion_type(CompletionType::List)
        .build();
    let mut rl: Editor<ReplHelper, FileHistory> =
        Editor::with_config(config).context("start the line editor")?;
    let pending = Rc::new(RefCell::new(String::new()));
    rl.set_helper(Some(ReplHelper {
        names: names.clone(),
        pending: pending.clone(),
    }));
    let history = history_path();
    if let Some(path) = &history {
        if let Some(parent) = path.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        if path.exists()
            && let Err(e) = rl.load_history(path)
        {
            note(&format!("warning: cannot read history {}: {e}", path.display()));
        }
    }
    let store_note = if db.exists() {
        String::new()
    } else {
        " (no store there yet: ingest data first)".to_owned()
    };
    note(&format!(
        "rollcall {} on {}{store_note}. End statements with `;`. .help for help, Ctrl-D to leave.",
        env!("CARGO_PKG_VERSION"),
        db.display()
    ));
    let mut history_warned = false;
    loop {
        session.reset_cancel();
        let prompt = if pending.borrow().is_empty() {
            PROMPT
        } else {
            CONTINUATION_PROMPT
        };
        let line = match rl.readline(prompt) {
            Ok(line) => line,
            // Ctrl-C at the prompt: the input is abandoned; say so, as shells do.
            Err(ReadlineError::Interrupted) => {
                pending.borrow_mut().clear();
                note("^C");
                continue;
            }
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(e).context("read input"),
        };
        let input = {
            let mut buf = pending.borrow_mut();
            if buf.is_empty() {
                if line.trim().is_empty() {
                    continue;
                }
                match shell_word(&line) {
                    Some(ShellWord::Quit) => break,
                    Some(ShellWord::Help) => {
                        let mut stdout = io::stdout().lock();
                        let _ = stdout.write_all(DOT_HELP.as_bytes());
                        let _ = stdout.flush();
                        continue;
                    }
                    None => {}
                }
            } else if shell_word(&line).is_some() {
                note(&format!(
                    "the statement above is not finished: end it with `;`, or press Ctrl-C to abandon it; then `{}`",
                    line.trim()
                ));
                continue;
            }
            if buf.is_empty() && line.trim_start().starts_with('.') {
                line
            } else {
                buf.push_str(&line);
                buf.push('\n');
                if ending(&buf) == Ending::Open {
                    continue;
                }
                let mut input = std::mem::take(&mut *buf);
                input.truncate(input.trim_end().len());
                input
            }
        };
        let _ = rl.add_history_entry(input.as_str());
        if let Some(path) = &history
            && let Err(e) = rl.append_history(path)
            && !history_warned
        {
            history_warned = true;
            note(&format!("warning: cannot write history {}: {e}", path.display()));
        }
        let mut stdout = io::stdout().lock();
        if input.trim_start().starts_with('.') {
            match session.dot_command(&input, &mut stdout) {
                Ok(DotOutcome::Quit) => break,
                Ok(DotOutcome::Continue) => {}
                Err(e) => report_error(&e),
            }
        } else {
            session.style.width = terminal_width(&mut rl);
            let format = session.format;
            let mut sink = StreamSink::new(&mut stdout, format);
            sink.set_style(session.style);
            match session.run_script(&input, "input", &mut sink) {
                Ok(_) => {}
                // Off the line of the `^C` the terminal echoed.
                Err(e) if is_cancelled(&e) => note("\nquery cancelled"),
                Err(e) if crate::is_broken_pipe(&e) => {}
                Err(e) => report_error(&e),
            }
        }
        let _ = stdout.flush();
        if let Some(snap) = session.last_snapshot() {
            *names.borrow_mut() = Names::of(snap);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn helper() -> ReplHelper {
        ReplHelper {
            names: Rc::new(RefCell::new(Names {
                collections: vec!["All Desktops".into(), "Pilot".into(), "all-laptops".into()],
                deployments: vec!["preproduction".into(), "production".into()],
            })),
            pending: Rc::new(RefCell::new(String::new())),
        }
    }

    fn complete(line: &str) -> (usize, Vec<String>) {
        let (start, pairs) = helper().candidates(line, line.len());
        (start, pairs.into_iter().map(|p| p.replacement).collect())
    }

    #[test]
    fn completes_quoted_collection_names() {
        assert_eq!(
            complete("STATES IN \"All D"),
            (10, vec!["\"All Desktops\"".to_owned()])
        );
        assert_eq!(
            complete("STATES IN Al").1,
            vec!["\"All Desktops\"", "all-laptops"]
        );
    }

    #[test]
    fn completes_zone_names_after_time_zone() {
        let (start, found) = complete("STATES AT NOW time zone europe/berl");
        assert_eq!(start, "STATES AT NOW time zone ".len());
        assert_eq!(found, vec!["\"Europe/Berlin\"".to_owned()]);
        let (_, found) = complete("STATES AT NOW TIME ZONE \"America/New_Y");
        assert_eq!(found, vec!["\"America/New_York\"".to_owned()]);
    }

    #[test]
    fn completes_keywords_in_the_typed_case() {
        assert_eq!(complete("sta").1, vec!["states"]);
        assert_eq!(
            complete("STATES AT NOW sta").1,
            vec!["states", "stale", "state", "stats"]
        );
        assert_eq!(complete("explain fl").1, vec!["flow"]);
        assert_eq!(complete("SHOW DEP").1, vec!["DEPLOYMENTS"]);
        assert_eq!(complete("STATES AT NOW;\nfai").1, vec!["failures"]);
        assert!(complete("STATES IN Pilot A").1.contains(&"AT".to_owned()));
        assert_eq!(
            complete("CLIENTS AT NOW WHERE STATE = Fa").1,
            vec!["FAILURES", "Failed"]
        );
    }

    #[test]
    fn completes_deployment_lists() {
        assert_eq!(complete("STATES FOR ").1, vec!["preproduction", "production"]);
        assert_eq!(complete("STATES FOR production, ").1, vec!["preproduction"]);
        assert_eq!(complete("STATES FOR \"production\",").1, vec!["preproduction"]);
        assert_eq!(
            complete("STATES FOR a, b,p").1,
            vec!["preproduction", "production"]
        );
        assert_eq!(
            complete("STATES FOR production, \"pre").1,
            vec!["\"preproduction\""]
        );
        assert!(complete("STATES IN Pilot AT NOW, ").1.is_empty());
    }

    #[test]
    fn completes_deployments_and_dot_commands() {
        assert_eq!(complete("STATES FOR prep").1, vec!["preproduction"]);
        assert_eq!(complete(".fo").1, vec![".format"]);
    }

    #[test]
    fn bare_words_at_an_empty_prompt() {
        assert_eq!(shell_word("help"), Some(ShellWord::Help));
        assert_eq!(shell_word(" \\? "), Some(ShellWord::Help));
        assert_eq!(shell_word("EXIT;"), Some(ShellWord::Quit));
        assert_eq!(shell_word("quit"), Some(ShellWord::Quit));
        assert_eq!(shell_word("\\q"), Some(ShellWord::Quit));
        assert_eq!(shell_word("STATES AT NOW;"), None);
    }

    #[test]
    fn does_not_complete_inside_comments() {
        let (_, c) = complete("-- \"All\nSTATES IN \"Pil");
        assert_eq!(c, vec!["\"Pilot\""]);
    }
}
