//! Files read whole, no further than a bound: a path to `/dev/zero` or an
//! endless pipe read until memory ran out, and ended lpa with no error line.

use std::io::Read;
use std::path::Path;

/// The most a file a person writes (a config, a scenario, a sweep, a
/// locustfile) may hold: the largest here are a few KiB. The YAML parser
/// takes 3.5 s and 170 MB on 1 MiB of nested `[`, before the depth limit
/// stops it; it took 57 s and 2.7 GB when 16 MiB were read.
pub const MAX_SETTINGS_BYTES: u64 = 1 << 20;

/// All of `path`, or an error saying it holds more than `max` bytes and
/// `why` that is too much; no more than one byte past `max` is read.
pub fn read_at_most(path: &Path, max: u64, why: &str) -> std::io::Result<Vec<u8>> {
    let too_big = || std::io::Error::other(format!("more than {} MiB, {why}", max >> 20));
    let file = std::fs::File::open(path)?;
    // A regular file's size is known: one too big is refused unread, where
    // its first 256 MiB were read to find it so. A pipe's is read to tell.
    if file.metadata().is_ok_and(|m| m.is_file() && m.len() > max) {
        return Err(too_big());
    }
    let mut bytes = Vec::new();
    file.take(max + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(too_big());
    }
    Ok(bytes)
}

/// [`read_at_most`] for a file of settings.
pub fn read_settings(path: &Path) -> std::io::Result<Vec<u8>> {
    read_at_most(
        path,
        MAX_SETTINGS_BYTES,
        "more than a file of settings holds",
    )
}
