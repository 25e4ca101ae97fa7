//! The checks the fuzz target and the corpus-replay test share. Not part of
//! the stable API.

use crate::parse_script;

/// Parses `data` (read as UTF-8, lossily) and checks the properties every
/// input must have: no panic; an error renders to a diagnostic with an exit
/// code of 1 or 2; a parsed statement prints to text that parses back to an
/// equal statement, and that text is a fixed point of printing.
///
/// # Panics
///
/// When a property fails — which is what a fuzzer looks for.
pub fn parse_round_trip(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    match parse_script(&text) {
        Err(e) => {
            let rendered = e.render(&text, "fuzz");
            assert!(rendered.starts_with("error: "), "{rendered}");
            assert!(matches!(e.exit_code(), 1 | 2));
        }
        Ok(script) => {
            let _ = script.parameters();
            for s in &script.statements {
                assert!(s.span.start <= s.span.end && s.span.end <= text.len());
                let printed = s.statement.to_string();
                let again = match parse_script(&printed) {
                    Ok(again) => again,
                    Err(e) => panic!("printed form does not parse:\n{}", e.render(&printed, "printed")),
                };
                assert_eq!(again.statements.len(), 1, "{printed}");
                assert_eq!(again.statements[0].statement, s.statement, "{printed}");
                assert_eq!(again.statements[0].statement.to_string(), printed);
            }
        }
    }
}
