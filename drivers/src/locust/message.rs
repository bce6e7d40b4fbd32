//! Locust's own error, out of its stderr, as one line.
//!
//! Locust reports a problem in one of three ways: a Python traceback (a
//! locustfile that does not import: syntax error, removed API), a log line
//! at ERROR level (`[time] host/ERROR/locust.main: No User class found!`),
//! or a bare line (`Could not find 'x.py'. ...`). The traceback's exception
//! line and the innermost frame outside Locust's own code say the most.

use std::path::Path;

use crate::process::one_line;

/// The most telling line of Locust's stderr, bounded for an error message.
pub fn locust_message(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.lines().collect();
    if let Some(msg) = traceback_message(&lines) {
        return one_line(msg.as_bytes());
    }
    if let Some(msg) = lines
        .iter()
        .find_map(|l| log_message(l, &["ERROR", "CRITICAL"]))
    {
        return one_line(msg.as_bytes());
    }
    let last = lines
        .iter()
        .rev()
        .find(|l| !l.trim().is_empty())
        .copied()
        .unwrap_or("");
    if last.is_empty() {
        "no error message on stderr".into()
    } else {
        one_line(last.as_bytes())
    }
}

/// `Exception: message (at file:line)` from the first traceback; the first
/// one is the cause, later ones are often its repeats.
fn traceback_message(lines: &[&str]) -> Option<String> {
    let start = lines
        .iter()
        .position(|l| l.starts_with("Traceback (most recent call last):"))?;
    let mut location = None;
    for line in &lines[start + 1..] {
        if line.starts_with(' ') || line.starts_with('\t') {
            if let Some(loc) = frame_location(line) {
                location = Some(loc);
            }
            continue;
        }
        if line.trim().is_empty() {
            continue;
        }
        return Some(match location {
            Some(loc) => format!("{} (at {loc})", line.trim()),
            None => line.trim().to_string(),
        });
    }
    None
}

/// `file:line` of a traceback frame in the user's code (not Locust's, not
/// Python's own frozen modules, not lpa's plugins: a request's error passes
/// through the plugin's wrapper, and was blamed on it, a file gone by the
/// time the message is read).
fn frame_location(line: &str) -> Option<String> {
    let rest = line.trim_start().strip_prefix("File \"")?;
    let (file, rest) = rest.split_once('"')?;
    let plugin = Path::new(file)
        .parent()
        .and_then(Path::file_name)
        .is_some_and(|dir| dir.to_string_lossy().starts_with("lpa-locust-"));
    if plugin
        || file.starts_with('<')
        || file.contains("site-packages")
        || file.contains("/lib/python")
    {
        return None;
    }
    let num: String = rest
        .trim_start_matches(", line ")
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    Some(if num.is_empty() {
        file.to_string()
    } else {
        format!("{file}:{num}")
    })
}

/// The message of a Locust log line at one of `levels`:
/// `[2026-01-01 00:00:00,000] host/ERROR/locust.main: message`.
fn log_message<'a>(line: &'a str, levels: &[&str]) -> Option<&'a str> {
    let rest = line.strip_prefix('[')?;
    let (_, rest) = rest.split_once("] ")?;
    let (head, msg) = rest.split_once(": ")?;
    let level = head.split('/').nth(1)?;
    levels.contains(&level).then_some(msg.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceback_gives_exception_and_user_frame() {
        let stderr = "Traceback (most recent call last):\n  File \"/v/bin/locust\", line 8, in <module>\n    sys.exit(main())\n  File \"/v/lib/python3.11/site-packages/locust/main.py\", line 167, in main\n  File \"<frozen importlib._bootstrap>\", line 241, in _call\n  File \"/tmp/lc/syntax.py\", line 5\n    self.client.get(\"/x\"\n                   ^\nSyntaxError: '(' was never closed\n";
        assert_eq!(
            locust_message(stderr),
            "SyntaxError: '(' was never closed (at /tmp/lc/syntax.py:5)"
        );
    }

    #[test]
    fn a_request_error_is_the_users_line_not_the_plugins() {
        let stderr = "Traceback (most recent call last):\n  File \"/v/lib/python3.11/site-packages/locust/user/task.py\", line 340, in run\n  File \"/srv/typo.py\", line 6, in a\n    self.client.get(\"/x\", allow_redirect=False)\n  File \"/tmp/lpa-locust-5SqxPi/lpa_failures.py\", line 177, in request\n    return original(self, method, url, *args, **kwargs)\nTypeError: Session.request() got an unexpected keyword argument 'allow_redirect'\n";
        assert_eq!(
            locust_message(stderr),
            "TypeError: Session.request() got an unexpected keyword argument 'allow_redirect' (at /srv/typo.py:6)"
        );
    }

    #[test]
    fn error_log_line() {
        let stderr = "[2026-11-28 01:04:54,729] vm/INFO/locust.main: Starting Locust 2.47.0\n[2026-11-28 01:04:54,729] vm/ERROR/locust.main: No User class found!\n";
        assert_eq!(locust_message(stderr), "No User class found!");
        let stderr = "[2026-11-28 01:05:00,395] vm/INFO/locust.main: Starting Locust 2.47.0\n[2026-11-28 01:05:00,395] vm/ERROR/locust.main: Unknown User(s): Nope\n";
        assert_eq!(locust_message(stderr), "Unknown User(s): Nope");
    }

    #[test]
    fn bare_line_and_nothing() {
        assert_eq!(
            locust_message("Could not find 'x.py'.\n"),
            "Could not find 'x.py'."
        );
        assert_eq!(locust_message(""), "no error message on stderr");
    }
}
