//! Finding the pre-1.0 Locust API in a locustfile before Locust runs it.
//!
//! The original autoscaler's guide wrote locustfiles for Locust 0.x
//! (`HttpLocust`, `task_set = UserBehavior`, `min_wait`/`max_wait`, hatch
//! rate). Locust 1.0 renamed or removed all of these, and some failures are
//! silent: `min_wait`/`max_wait` are ignored (users then hammer the service
//! with no wait, a different load than intended) and `task_set =` leaves a
//! user with no tasks. Scanning first gives one error that lists every change
//! with its line, instead of Locust's first traceback.
//!
//! The scan looks at code only: comments and string contents are blanked
//! first, so a docstring that mentions "HttpLocust" is not a finding.

use std::fmt;

/// One use of a removed API and what replaces it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// 1-based.
    pub line: usize,
    pub change: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.change)
    }
}

/// Renamed identifiers: (old, replacement text).
const RENAMES: &[(&str, &str)] = &[
    ("HttpLocust", "HttpLocust -> HttpUser"),
    ("FastHttpLocust", "FastHttpLocust -> FastHttpUser"),
    ("Locust", "Locust -> User"),
    ("TaskSequence", "TaskSequence -> SequentialTaskSet"),
    (
        "seq_task",
        "@seq_task(n) -> @task (a SequentialTaskSet runs its tasks in the order they are written)",
    ),
    ("hatch_rate", "hatch_rate -> spawn_rate"),
    ("hatch_complete", "events.hatch_complete -> events.spawning_complete"),
    ("wait_function", "wait_function -> wait_time"),
    (
        "request_success",
        "events.request_success -> events.request (removed in Locust 2.0; failures carry an exception argument)",
    ),
    (
        "request_failure",
        "events.request_failure -> events.request (removed in Locust 2.0; failures carry an exception argument)",
    ),
];

/// Every use of the pre-1.0 API in `source`, in line order.
pub fn scan(source: &str) -> Vec<Finding> {
    let code = blank_strings_and_comments(source);
    let mut findings = Vec::new();
    let mut min_wait: Option<(usize, String)> = None;
    let mut max_wait: Option<(usize, String)> = None;
    // The indent of an `except` line: an import in its block is the
    // fallback of a shim (`try: from locust import HttpUser` / `except
    // ImportError: from locust import HttpLocust as HttpUser`), and a
    // locustfile written to run on either Locust uses the new API; it was
    // refused by every driver for the old name in its fallback. Only the
    // imports: a class the block defines is scanned as any other.
    let mut fallback: Option<usize> = None;
    // The blocks a line is in, innermost last: (indent, whether a class).
    // min_wait, max_wait and task_set are the old API as class attributes
    // only; a module's or a function's own variable is not.
    let mut blocks: Vec<(usize, bool)> = Vec::new();
    for (i, line) in code.lines().enumerate() {
        let n = i + 1;
        let text = line.trim_start();
        if text.is_empty() {
            continue;
        }
        let indent = line.len() - text.len();
        if fallback.is_some_and(|at| indent <= at) {
            fallback = None;
        }
        while blocks.last().is_some_and(|&(at, _)| indent <= at) {
            blocks.pop();
        }
        let in_class = blocks.last().is_some_and(|&(_, class)| class);
        let except = find_word(text, "except") == Some(0);
        let imports =
            |text: &str| find_word(text, "from") == Some(0) || find_word(text, "import") == Some(0);
        // `except ImportError: from locust import HttpLocust as HttpUser`.
        let shim = match except.then(|| text.split_once(':')).flatten() {
            Some((_, body)) => imports(body.trim_start()),
            None => fallback.is_some() && imports(text),
        };
        if except {
            fallback = Some(indent);
        }
        for (opener, class) in [("class", true), ("def", false), ("async", false)] {
            if find_word(text, opener) == Some(0) {
                blocks.push((indent, class));
            }
        }
        if shim {
            continue;
        }
        for &(old, change) in RENAMES {
            if find_word(line, old).is_some() {
                findings.push(Finding {
                    line: n,
                    change: change.to_string(),
                });
            }
        }
        if let Some(pos) = find_word(line, "locust") {
            // `self.locust` is the old name of the user a TaskSet belongs to.
            if line[..pos].ends_with("self.") {
                findings.push(Finding {
                    line: n,
                    change: "self.locust -> self.user".into(),
                });
            }
        }
        if !in_class {
            continue;
        }
        if let Some(target) = assigned(line, "task_set") {
            findings.push(Finding {
                line: n,
                change: format!("task_set = {target} -> tasks = [{target}]"),
            });
        }
        if let Some(v) = assigned(line, "min_wait") {
            min_wait = Some((n, v));
        }
        if let Some(v) = assigned(line, "max_wait") {
            max_wait = Some((n, v));
        }
    }
    if min_wait.is_some() || max_wait.is_some() {
        let line = min_wait
            .iter()
            .chain(max_wait.iter())
            .map(|w| w.0)
            .min()
            .unwrap_or(1);
        let secs = |w: &Option<(usize, String)>| {
            w.as_ref()
                .and_then(|(_, v)| v.parse::<f64>().ok())
                .map(|ms| format!("{}", ms / 1000.0))
        };
        let change = match (secs(&min_wait), secs(&max_wait)) {
            (Some(lo), Some(hi)) => format!(
                "min_wait = {}, max_wait = {} (milliseconds) -> wait_time = between({lo}, {hi}) (seconds; \
                 Locust 1.0+ ignores min_wait/max_wait and would not wait at all)",
                min_wait.as_ref().map_or("", |w| &w.1),
                max_wait.as_ref().map_or("", |w| &w.1),
            ),
            _ => "min_wait/max_wait (milliseconds) -> wait_time = between(MIN_SECONDS, MAX_SECONDS) \
                  (Locust 1.0+ ignores min_wait/max_wait and would not wait at all)"
                .to_string(),
        };
        findings.push(Finding { line, change });
    }
    findings.sort_by_key(|f| f.line);
    findings
}

/// The right-hand side of `name = value` at the start of a line, as one
/// token.
fn assigned(line: &str, name: &str) -> Option<String> {
    let rest = line.trim_start().strip_prefix(name)?;
    let rest = rest.trim_start().strip_prefix('=')?;
    if rest.starts_with('=') {
        return None;
    }
    let value: String = rest
        .trim_start()
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '.')
        .collect();
    Some(if value.is_empty() {
        "...".into()
    } else {
        value
    })
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The byte offset of `word` in `line` as a whole identifier.
fn find_word(line: &str, word: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(off) = line[from..].find(word) {
        let at = from + off;
        let before = line[..at].chars().next_back();
        let after = line[at + word.len()..].chars().next();
        if !before.is_some_and(is_ident) && !after.is_some_and(is_ident) {
            return Some(at);
        }
        from = at + word.len();
    }
    None
}

/// Python source with comments and the contents of string literals replaced
/// by spaces; newlines are kept so line numbers stay right.
fn blank_strings_and_comments(source: &str) -> String {
    let chars: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len());
    let mut i = 0;
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    while i < chars.len() {
        let c = chars[i];
        if c == '#' {
            while i < chars.len() && chars[i] != '\n' {
                out.push(' ');
                i += 1;
            }
            continue;
        }
        if c == '"' || c == '\'' {
            let triple = i + 2 < chars.len() && chars[i + 1] == c && chars[i + 2] == c;
            let width = if triple { 3 } else { 1 };
            for _ in 0..width {
                out.push(c);
            }
            i += width;
            while i < chars.len() {
                if chars[i] == '\\' && i + 1 < chars.len() {
                    out.push(' ');
                    out.push(blank(chars[i + 1]));
                    i += 2;
                    continue;
                }
                let closes = if triple {
                    i + 2 < chars.len() && chars[i] == c && chars[i + 1] == c && chars[i + 2] == c
                } else {
                    chars[i] == c
                };
                if closes {
                    for _ in 0..width {
                        out.push(c);
                    }
                    i += width;
                    break;
                }
                if !triple && chars[i] == '\n' {
                    // An unterminated one-line string: Python rejects it;
                    // stop blanking so the rest still scans.
                    break;
                }
                out.push(blank(chars[i]));
                i += 1;
            }
            continue;
        }
        out.push(c);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = include_str!("../../../fixtures/locust/seed_locustfile.py");

    #[test]
    fn the_seed_locustfile_needs_three_changes() {
        let found: Vec<String> = scan(SEED).iter().map(ToString::to_string).collect();
        assert_eq!(
            found,
            [
                "line 1: HttpLocust -> HttpUser",
                "line 8: HttpLocust -> HttpUser",
                "line 9: task_set = UserBehavior -> tasks = [UserBehavior]",
            ]
        );
    }

    #[test]
    fn waits_and_old_names() {
        let src = "from locust import Locust, TaskSequence, seq_task\n\
                   class U(Locust):\n    min_wait = 5000\n    max_wait = 9000\n\
                   \x20   def on_start(self):\n        print(self.locust.host)\n";
        let found: Vec<String> = scan(src).iter().map(ToString::to_string).collect();
        assert_eq!(found[0], "line 1: Locust -> User");
        assert_eq!(found[1], "line 1: TaskSequence -> SequentialTaskSet");
        assert!(
            found[2].starts_with("line 1: @seq_task(n) -> @task"),
            "{found:?}"
        );
        assert_eq!(found[3], "line 2: Locust -> User");
        assert!(
            found[4].starts_with("line 3: min_wait = 5000, max_wait = 9000 (milliseconds) -> wait_time = between(5, 9)"),
            "{found:?}"
        );
        assert_eq!(found[5], "line 6: self.locust -> self.user");
        assert_eq!(found.len(), 6);
    }

    #[test]
    fn modern_locustfiles_and_mentions_in_text_are_clean() {
        let src = "\"\"\"Ported from HttpLocust; task_set = X is gone.\"\"\"\n\
                   from locust import HttpUser, task, between  # was HttpLocust\n\
                   import locust\n\
                   class U(HttpUser):\n    wait_time = between(0.5, 1)\n    tasks = [X]\n\
                   \x20   @task\n    def t(self):\n        self.client.get('/a?hatch_rate=1', name=\"Locust's\")\n\
                   \x20       locust.events.request.fire\n";
        assert_eq!(scan(src), []);
    }

    #[test]
    fn odd_sources_do_not_panic() {
        for src in [
            "",
            "\\",
            "'",
            "\"\"\"",
            "x = 'unterminated\nclass U(HttpLocust): pass\n",
            "s = \"ends with a backslash\\",
            "é = 'ü' # ö\nclass Ü(HttpLocust): pass",
            "task_set",
            "task_set ==",
            "min_wait = \nmax_wait = x",
            "self.locust",
            "\u{1F600}HttpLocust\u{1F600}",
        ] {
            let _ = scan(src);
        }
        // An unterminated one-line string ends at the line end.
        assert_eq!(scan("x = 'open\nclass U(HttpLocust): pass\n").len(), 1);
        assert_eq!(scan("é = 'ü' # ö\nclass Ü(HttpLocust): pass")[0].line, 2);
    }

    /// A shim that runs on either Locust is modern; the old name in its
    /// fallback is no finding, nor is a module's own `min_wait`. What
    /// follows the fallback's block is scanned again.
    #[test]
    fn a_fallback_for_old_locusts_and_module_names_are_clean() {
        let src = "try:\n    from locust import HttpUser\nexcept ImportError:  # Locust < 1.0\n\
                   \x20   from locust import HttpLocust as HttpUser\n\
                   try:\n    from locust import FastHttpUser\n\
                   except (ImportError, AttributeError): from locust.contrib.fasthttp import FastHttpLocust as FastHttpUser\n\
                   from locust import task, constant\nmin_wait = 5\n\
                   class U(HttpUser):\n    wait_time = constant(0.2)\n\
                   \x20   @task\n    def a(self):\n        self.client.get('/shim')\n";
        assert_eq!(scan(src), []);
        let after = format!("{src}class V(HttpLocust):\n    task_set = X\n");
        let found: Vec<String> = scan(&after).iter().map(ToString::to_string).collect();
        assert_eq!(
            found,
            [
                "line 15: HttpLocust -> HttpUser",
                "line 16: task_set = X -> tasks = [X]"
            ]
        );
    }

    /// Only a fallback's imports are passed over: a class that a fallback
    /// defines with the old waits is a finding, and a function's own
    /// `min_wait` is none; any `except` may hold the shim.
    #[test]
    fn a_fallbacks_imports_alone_are_passed_over() {
        let src = "from locust import HttpUser\n\
                   def index(user):\n    min_wait = 1\n    user.client.get('/ok')\n\
                   try:\n    import not_installed\nexcept ImportError:\n\
                   \x20   class WebsiteUser(HttpUser):\n        tasks = [index]\n\
                   \x20       min_wait = 5000\n        max_wait = 9000\n";
        let found: Vec<String> = scan(src).iter().map(ToString::to_string).collect();
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].starts_with("line 10: min_wait = 5000, max_wait = 9000"),
            "{found:?}"
        );
        let shim = "try:\n    from locust import HttpUser\nexcept Exception:\n\
                    \x20   from locust import HttpLocust as HttpUser\n";
        assert_eq!(scan(shim), []);
    }

    #[test]
    fn line_numbers_survive_multiline_strings() {
        let src = "x = '''\nHttpLocust\n'''\nclass U(HttpLocust):\n    pass\n";
        assert_eq!(
            scan(src),
            [Finding {
                line: 4,
                change: "HttpLocust -> HttpUser".into()
            }]
        );
    }
}
