//! rollcall-query: RQL parsed with nom, run on an engine snapshot.
#![forbid(unsafe_code)]
