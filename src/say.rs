//! Lines on stderr that cannot panic.
//!
//! `eprintln!` panics when stderr is a pipe whose reader has gone (a log
//! shipper restarted, `lpa ... 2>&1 | head`): a warning would kill a
//! scaling loop, and an error would exit 101 where it means 1. What lpa
//! says on stderr is for people; losing it must not change what lpa does.

/// `eprintln!`, with a write error ignored.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

/// `eprint!`, with a write error ignored: a progress line redrawn in place.
macro_rules! say_partial {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stderr(), $($arg)*);
    }};
}
