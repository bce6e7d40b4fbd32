//! Locustfiles read as data: the part of Locust's Python that says what
//! users send and how long they wait, translated into a [`LocustPlan`] that
//! lpa's native users run when Locust itself is not there.
//!
//! Nothing is executed or imported. A small tokenizer (indentation, string
//! literals with their escapes, numbers, brackets) and a parser of Python's
//! statements and literal expressions read the file; the translator then
//! accepts only what it can reproduce exactly:
//!
//! - user classes deriving from `HttpUser` / `FastHttpUser`, or the pre-1.0
//!   `HttpLocust` / `FastHttpLocust` with a `TaskSet` (`task_set = X`,
//!   `tasks = [X]`); their `host`, `weight`, `wait_time = between(a, b) |
//!   constant(x) | constant_throughput(x) | constant_pacing(x)` and, on the
//!   pre-1.0 classes, `min_wait` / `max_wait` (milliseconds; Locust 1.0 and
//!   later ignore them, so on today's classes they are an error, not a
//!   guess); `abstract = True` classes are skipped, as Locust skips them;
//! - tasks: `@task` / `@task(weight)` methods, `tasks = [f, ...]`,
//!   `tasks = {f: weight}`, and module functions taking the user;
//! - in a task, in order: `self.client.get/post/put/patch/delete/head/options(
//!   path, name=..., headers=..., json=..., data=..., params=...)` with
//!   literal arguments;
//! - imports of Locust and of common standard modules, docstrings,
//!   comments, `pass`, `@tag(...)`, module constants that are literals.
//!
//! Anything else (an `on_start` login, loops, a path built from a variable
//! or an f-string, `self.client.request(...)`, another client, an unknown
//! decorator or module) is one [`LocustfileError`] with the file, the line
//! and the construct, and the two ways out: the image with Locust, or a
//! `load:` section in the evaluation config.
//!
//! ```text
//!  source ──► lex (tokens, INDENT/DEDENT) ──► parse (statements, literal expressions)
//!         ──► translate (user classes, TaskSets, tasks, self.client calls) ──► LocustPlan
//! ```
//!
//! ```
//! use lpa_core::locustfile::translate;
//!
//! let plan = translate("locustfile.py", r#"
//! from locust import HttpLocust, TaskSet, task, between
//!
//! class UserBehavior(TaskSet):
//!     @task(1)
//!     def profile(self):
//!         self.client.get("/fibonacci?n=10")
//!
//! class WebsiteUser(HttpLocust):
//!     task_set = UserBehavior
//!     wait_time = between(5, 9)
//! "#).unwrap();
//! assert_eq!(plan.summary(), "1 user class, 1 task");
//! assert_eq!(plan.classes[0].wait_time.to_string(), "between(5, 9)");
//! assert_eq!(plan.classes[0].tasks[0].requests[0].key(), "GET_/fibonacci?n=10");
//!
//! let err = translate("login.py", "from locust import HttpUser\nclass U(HttpUser):\n    def on_start(self):\n        pass\n").unwrap_err();
//! assert!(err.to_string().starts_with("login.py:3: cannot translate on_start"));
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use crate::config::{is_header_name, Method, RequestSpec, WaitTime};

/// What a locustfile's users do, in the native generator's terms.
#[derive(Debug, Clone, PartialEq)]
pub struct LocustPlan {
    /// The user classes Locust would spawn (weight above 0, not abstract),
    /// in file order.
    pub classes: Vec<UserClass>,
}

/// One user class: how many of the users it gets, where they send, how
/// long they wait between tasks, and the tasks they pick from by weight.
#[derive(Debug, Clone, PartialEq)]
pub struct UserClass {
    pub name: String,
    /// 1-based line of the `class` statement.
    pub line: usize,
    /// Relative share of the users (Locust's `weight`, default 1).
    pub weight: u32,
    /// The class's `host`; flags and env win over it.
    pub host: Option<String>,
    pub wait_time: WaitTime,
    /// True when the file sets no wait: Locust's default, `constant(0)`,
    /// users that send as fast as the service answers.
    pub default_wait: bool,
    pub tasks: Vec<Task>,
}

/// A task: picked by weight, its requests sent one after the other.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    /// The function's name.
    pub name: String,
    pub weight: u32,
    /// In order; may be empty (a task that only waits).
    pub requests: Vec<RequestSpec>,
}

impl LocustPlan {
    /// Tasks over all classes.
    pub fn task_count(&self) -> usize {
        self.classes.iter().map(|c| c.tasks.len()).sum()
    }

    /// `"2 user classes, 3 tasks"`.
    pub fn summary(&self) -> String {
        let plural =
            |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        format!(
            "{}, {}",
            plural(self.classes.len(), "user class", "user classes"),
            plural(self.task_count(), "task", "tasks")
        )
    }
}

/// A locustfile lpa cannot translate: the file, the line and the construct,
/// and what to do instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocustfileError {
    pub file: String,
    /// 1-based.
    pub line: usize,
    /// What was found, e.g. `on_start (code that runs before the tasks, such as a login)`.
    pub construct: String,
}

/// The two ways out, said by every [`LocustfileError`].
pub const WAYS_OUT: &str = "use the image with Locust (the Dockerfile's `locust` target), which runs the locustfile itself, or describe the load in the evaluation config's `load:` section (load.requests), which the native users then send instead";

impl fmt::Display for LocustfileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: cannot translate {} for lpa's native users; {WAYS_OUT}",
            self.file, self.line, self.construct
        )
    }
}

impl std::error::Error for LocustfileError {}

/// Translates a locustfile. `file` is only used in errors.
pub fn translate(file: &str, source: &str) -> Result<LocustPlan, LocustfileError> {
    let fail = |(line, construct): (usize, String)| LocustfileError {
        file: file.to_string(),
        line,
        construct,
    };
    let tokens = lex(source).map_err(fail)?;
    let module = Parser::new(tokens).module().map_err(fail)?;
    Translator::default().module(&module).map_err(fail)
}

/// A position and a construct: the error before it knows its file.
type Failed = (usize, String);
type R<T> = Result<T, Failed>;

// ---------------------------------------------------------------------------
// Tokens

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StrKind {
    Text,
    Bytes,
    Format,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Name(String),
    /// `int` holds the exact value of an integer literal that fits.
    Num {
        value: f64,
        int: Option<i128>,
    },
    Str(String, StrKind),
    Op(&'static str),
    Newline,
    Indent,
    Dedent,
    End,
}

#[derive(Debug, Clone, PartialEq)]
struct Token {
    tok: Tok,
    line: usize,
}

/// Longest first, so `**=` wins over `**` and `*`.
const OPERATORS: &[&str] = &[
    "**=", "//=", ">>=", "<<=", "...", "!=", "%=", "&=", "**", "*=", "+=", "-=", "->", "//", "/=",
    ":=", "<<", "<=", "==", ">=", ">>", "@=", "^=", "|=", "(", ")", "[", "]", "{", "}", ",", ":",
    ".", ";", "@", "=", "+", "-", "*", "/", "%", "<", ">", "&", "|", "^", "~",
];

struct Lexer {
    chars: Vec<char>,
    pos: usize,
    line: usize,
    tokens: Vec<Token>,
    indents: Vec<usize>,
    /// Open brackets and their lines: newlines inside them join lines.
    brackets: Vec<(char, usize)>,
}

fn lex(source: &str) -> R<Vec<Token>> {
    let text = source
        .strip_prefix('\u{feff}')
        .unwrap_or(source)
        .replace("\r\n", "\n")
        .replace('\r', "\n");
    let mut lx = Lexer {
        chars: text.chars().collect(),
        pos: 0,
        line: 1,
        tokens: Vec::new(),
        indents: vec![0],
        brackets: Vec::new(),
    };
    lx.run()?;
    Ok(lx.tokens)
}

impl Lexer {
    fn peek(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.pos + ahead).copied()
    }

    fn push(&mut self, tok: Tok, line: usize) {
        self.tokens.push(Token { tok, line });
    }

    fn run(&mut self) -> R<()> {
        let mut line_start = true;
        while self.pos < self.chars.len() {
            if line_start && self.brackets.is_empty() {
                line_start = false;
                if !self.indentation()? {
                    line_start = true;
                    continue;
                }
            }
            let c = self.chars[self.pos];
            match c {
                ' ' | '\t' | '\x0c' => self.pos += 1,
                '\n' => {
                    self.pos += 1;
                    if self.brackets.is_empty() {
                        self.push(Tok::Newline, self.line);
                        line_start = true;
                    }
                    self.line += 1;
                }
                '#' => self.skip_comment(),
                '\\' if self.peek(1) == Some('\n') => {
                    self.pos += 2;
                    self.line += 1;
                }
                '\\' => return Err((self.line, "a backslash outside a string".into())),
                '"' | '\'' => self.string("")?,
                c if c.is_ascii_digit()
                    || (c == '.' && self.peek(1).is_some_and(|d| d.is_ascii_digit())) =>
                {
                    self.number()?
                }
                c if c == '_' || c.is_alphabetic() => self.name()?,
                _ => self.operator()?,
            }
        }
        if let Some(&(open, line)) = self.brackets.last() {
            return Err((line, format!("an unclosed {open:?}")));
        }
        if !matches!(
            self.tokens.last().map(|t| &t.tok),
            None | Some(Tok::Newline)
        ) {
            self.push(Tok::Newline, self.line);
        }
        while self.indents.len() > 1 {
            self.indents.pop();
            self.push(Tok::Dedent, self.line);
        }
        self.push(Tok::End, self.line);
        Ok(())
    }

    fn skip_comment(&mut self) {
        while self.peek(0).is_some_and(|c| c != '\n') {
            self.pos += 1;
        }
    }

    /// At the start of a logical line: measures its indentation and emits
    /// INDENT or DEDENTs. False for a blank or comment-only line (consumed).
    fn indentation(&mut self) -> R<bool> {
        let mut col = 0usize;
        loop {
            match self.peek(0) {
                Some(' ') => col += 1,
                Some('\t') => col = (col / 8 + 1) * 8,
                Some('\x0c') => col = 0,
                _ => break,
            }
            self.pos += 1;
        }
        match self.peek(0) {
            None => return Ok(false),
            Some('#') => {
                self.skip_comment();
                if self.peek(0) == Some('\n') {
                    self.pos += 1;
                    self.line += 1;
                }
                return Ok(false);
            }
            Some('\n') => {
                self.pos += 1;
                self.line += 1;
                return Ok(false);
            }
            _ => {}
        }
        let current = *self.indents.last().unwrap_or(&0);
        if col > current {
            self.indents.push(col);
            self.push(Tok::Indent, self.line);
        } else {
            while col < *self.indents.last().unwrap_or(&0) {
                self.indents.pop();
                self.push(Tok::Dedent, self.line);
            }
            if col != *self.indents.last().unwrap_or(&0) {
                return Err((
                    self.line,
                    "an indentation that matches no outer block".into(),
                ));
            }
        }
        Ok(true)
    }

    fn name(&mut self) -> R<()> {
        let start = self.pos;
        while self
            .peek(0)
            .is_some_and(|c| c == '_' || c.is_alphanumeric())
        {
            self.pos += 1;
        }
        let word: String = self.chars[start..self.pos].iter().collect();
        let is_prefix = word.len() <= 2
            && matches!(
                word.to_ascii_lowercase().as_str(),
                "r" | "u" | "b" | "f" | "br" | "rb" | "fr" | "rf"
            );
        if is_prefix && matches!(self.peek(0), Some('"' | '\'')) {
            return self.string(&word.to_ascii_lowercase());
        }
        self.push(Tok::Name(word), self.line);
        Ok(())
    }

    fn number(&mut self) -> R<()> {
        let line = self.line;
        let start = self.pos;
        let bad = || (line, "an invalid number".to_string());
        let radix = match (self.peek(0), self.peek(1)) {
            (Some('0'), Some('x' | 'X')) => 16,
            (Some('0'), Some('o' | 'O')) => 8,
            (Some('0'), Some('b' | 'B')) => 2,
            _ => 10,
        };
        let tok = if radix != 10 {
            self.pos += 2;
            let digits_start = self.pos;
            while self.peek(0).is_some_and(|c| c == '_' || c.is_digit(radix)) {
                self.pos += 1;
            }
            let digits: String = self.chars[digits_start..self.pos]
                .iter()
                .filter(|&&c| c != '_')
                .collect();
            let int = i128::from_str_radix(&digits, radix).map_err(|_| bad())?;
            Tok::Num {
                value: int as f64,
                int: Some(int),
            }
        } else {
            let mut float = false;
            let digits = |lx: &mut Lexer| {
                while lx.peek(0).is_some_and(|c| c == '_' || c.is_ascii_digit()) {
                    lx.pos += 1;
                }
            };
            digits(self);
            if self.peek(0) == Some('.') {
                float = true;
                self.pos += 1;
                digits(self);
            }
            if matches!(self.peek(0), Some('e' | 'E')) {
                float = true;
                self.pos += 1;
                if matches!(self.peek(0), Some('+' | '-')) {
                    self.pos += 1;
                }
                if !self.peek(0).is_some_and(|c| c.is_ascii_digit()) {
                    return Err(bad());
                }
                digits(self);
            }
            if matches!(self.peek(0), Some('j' | 'J')) {
                return Err((line, "a complex number".into()));
            }
            let text: String = self.chars[start..self.pos]
                .iter()
                .filter(|&&c| c != '_')
                .collect();
            let value: f64 = text.parse().map_err(|_| bad())?;
            let int = if float {
                None
            } else {
                Some(text.parse::<i128>().map_err(|_| bad())?)
            };
            Tok::Num { value, int }
        };
        if self
            .peek(0)
            .is_some_and(|c| c == '_' || c.is_alphanumeric())
        {
            return Err(bad());
        }
        self.push(tok, line);
        Ok(())
    }

    fn string(&mut self, prefix: &str) -> R<()> {
        let line = self.line;
        let raw = prefix.contains('r');
        let kind = if prefix.contains('b') {
            StrKind::Bytes
        } else if prefix.contains('f') {
            StrKind::Format
        } else {
            StrKind::Text
        };
        let quote = self.chars[self.pos];
        let triple = self.peek(1) == Some(quote) && self.peek(2) == Some(quote);
        self.pos += if triple { 3 } else { 1 };
        let unterminated = || (line, "an unterminated string".to_string());
        let mut value = String::new();
        loop {
            let Some(c) = self.peek(0) else {
                return Err(unterminated());
            };
            if c == quote
                && (!triple || (self.peek(1) == Some(quote) && self.peek(2) == Some(quote)))
            {
                self.pos += if triple { 3 } else { 1 };
                break;
            }
            if c == '\n' {
                if !triple {
                    return Err(unterminated());
                }
                self.line += 1;
            }
            if c == '\\' {
                let Some(next) = self.peek(1) else {
                    return Err(unterminated());
                };
                if raw {
                    // A raw string keeps the backslash; an escaped quote
                    // still does not end it.
                    value.push('\\');
                    value.push(next);
                    if next == '\n' {
                        self.line += 1;
                    }
                    self.pos += 2;
                    continue;
                }
                self.pos += 1;
                self.escape(&mut value, kind)?;
                continue;
            }
            if kind == StrKind::Bytes && !c.is_ascii() {
                return Err((self.line, "a non-ASCII character in a bytes literal".into()));
            }
            value.push(c);
            self.pos += 1;
        }
        self.push(Tok::Str(value, kind), line);
        Ok(())
    }

    /// After a backslash: Python's escapes (unknown ones keep the backslash).
    fn escape(&mut self, value: &mut String, kind: StrKind) -> R<()> {
        let line = self.line;
        let Some(c) = self.peek(0) else {
            return Err((line, "an unterminated string".into()));
        };
        self.pos += 1;
        let hex = |lx: &mut Lexer, n: usize| -> R<char> {
            let digits: String = (0..n).filter_map(|i| lx.peek(i)).collect();
            if digits.len() != n || !digits.chars().all(|d| d.is_ascii_hexdigit()) {
                return Err((line, format!("an invalid \\{c} escape")));
            }
            lx.pos += n;
            u32::from_str_radix(&digits, 16)
                .ok()
                .and_then(char::from_u32)
                .ok_or((line, format!("an invalid \\{c} escape")))
        };
        match c {
            '\n' => self.line += 1,
            '\\' | '\'' | '"' => value.push(c),
            'a' => value.push('\x07'),
            'b' => value.push('\x08'),
            'f' => value.push('\x0c'),
            'n' => value.push('\n'),
            'r' => value.push('\r'),
            't' => value.push('\t'),
            'v' => value.push('\x0b'),
            '0'..='7' => {
                let mut n = c.to_digit(8).unwrap_or(0);
                for _ in 0..2 {
                    match self.peek(0).and_then(|d| d.to_digit(8)) {
                        Some(d) => {
                            n = n * 8 + d;
                            self.pos += 1;
                        }
                        None => break,
                    }
                }
                value.push(char::from_u32(n).ok_or((line, "an invalid octal escape".to_string()))?);
            }
            'x' => value.push(hex(self, 2)?),
            'u' if kind != StrKind::Bytes => value.push(hex(self, 4)?),
            'U' if kind != StrKind::Bytes => value.push(hex(self, 8)?),
            'N' if kind != StrKind::Bytes => {
                return Err((line, "a \\N{...} escape".into()));
            }
            other => {
                value.push('\\');
                value.push(other);
            }
        }
        Ok(())
    }

    fn operator(&mut self) -> R<()> {
        let line = self.line;
        let Some(op) = OPERATORS
            .iter()
            .copied()
            .find(|op| op.chars().enumerate().all(|(i, c)| self.peek(i) == Some(c)))
        else {
            let c = self.chars[self.pos];
            return Err((line, format!("an unexpected character {c:?}")));
        };
        self.pos += op.chars().count();
        match op {
            "(" | "[" | "{" => self.brackets.push((op.chars().next().unwrap_or('('), line)),
            ")" | "]" | "}" => {
                let open = match op {
                    ")" => '(',
                    "]" => '[',
                    _ => '{',
                };
                if self.brackets.pop().map(|b| b.0) != Some(open) {
                    return Err((line, format!("an unmatched {op:?}")));
                }
            }
            _ => {}
        }
        self.push(Tok::Op(op), line);
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Syntax

#[derive(Debug, Clone, PartialEq)]
struct Expr {
    kind: E,
    line: usize,
}

#[derive(Debug, Clone, PartialEq)]
enum E {
    Str(String, StrKind),
    Num {
        value: f64,
        int: Option<i128>,
    },
    /// `True`, `False`, `None`, `...`.
    Const(&'static str),
    Name(String),
    Attr(Box<Expr>, String),
    Call {
        func: Box<Expr>,
        args: Vec<Expr>,
        kwargs: Vec<(String, Expr)>,
    },
    List(Vec<Expr>),
    Tuple(Vec<Expr>),
    Dict(Vec<(Expr, Expr)>),
    /// Something only Python can evaluate: what it was, for the error.
    Computed(String),
}

#[derive(Debug, Clone, PartialEq)]
struct Def {
    line: usize,
    name: String,
    params: Vec<String>,
    decorators: Vec<Expr>,
    body: Vec<Stmt>,
}

#[derive(Debug, Clone, PartialEq)]
struct ClassDef {
    line: usize,
    name: String,
    bases: Vec<Expr>,
    keywords: Vec<(String, Expr)>,
    decorators: Vec<Expr>,
    body: Vec<Stmt>,
}

#[derive(Debug, Clone, PartialEq)]
enum Stmt {
    /// `import a.b as c`: (module, alias).
    Import {
        line: usize,
        modules: Vec<(String, Option<String>)>,
    },
    /// `from m import a as b`; a name `*` for a star import.
    From {
        line: usize,
        module: String,
        names: Vec<(String, Option<String>)>,
    },
    Class(ClassDef),
    Def(Def),
    Assign {
        line: usize,
        name: String,
        value: Expr,
    },
    Expr(Expr),
    Pass,
    /// A statement outside the subset, kept so that the translator can
    /// report the most telling construct first (an `on_start` before the
    /// loop inside it).
    Other {
        line: usize,
        construct: String,
    },
}

/// A call's positional and keyword arguments.
type Args = (Vec<Expr>, Vec<(String, Expr)>);

/// Deep enough for any real locustfile; bounds the recursion on hostile input.
const MAX_DEPTH: usize = 64;

const KEYWORDS: &[&str] = &[
    "and", "as", "assert", "async", "await", "break", "class", "continue", "def", "del", "elif",
    "else", "except", "finally", "for", "from", "global", "if", "import", "in", "is", "lambda",
    "nonlocal", "not", "or", "pass", "raise", "return", "try", "while", "with", "yield",
];

struct Parser {
    toks: Vec<Token>,
    pos: usize,
    depth: usize,
}

impl Parser {
    fn new(toks: Vec<Token>) -> Parser {
        Parser {
            toks,
            pos: 0,
            depth: 0,
        }
    }

    fn tok(&self) -> &Tok {
        self.toks.get(self.pos).map_or(&Tok::End, |t| &t.tok)
    }

    fn tok_at(&self, ahead: usize) -> &Tok {
        self.toks
            .get(self.pos + ahead)
            .map_or(&Tok::End, |t| &t.tok)
    }

    fn line(&self) -> usize {
        self.toks
            .get(self.pos)
            .or(self.toks.last())
            .map_or(1, |t| t.line)
    }

    fn bump(&mut self) -> Tok {
        let t = self.tok().clone();
        if self.pos < self.toks.len() {
            self.pos += 1;
        }
        t
    }

    fn is_op(&self, op: &str) -> bool {
        matches!(self.tok(), Tok::Op(o) if *o == op)
    }

    fn is_name(&self, name: &str) -> bool {
        matches!(self.tok(), Tok::Name(n) if n == name)
    }

    fn eat_op(&mut self, op: &str) -> bool {
        let yes = self.is_op(op);
        if yes {
            self.bump();
        }
        yes
    }

    fn unexpected(&self) -> Failed {
        let what = match self.tok() {
            Tok::Name(n) => format!("{n:?}"),
            Tok::Num { .. } => "a number".into(),
            Tok::Str(..) => "a string".into(),
            Tok::Op(o) => format!("{o:?}"),
            Tok::Newline => "the end of the line".into(),
            Tok::Indent => "an indented block".into(),
            Tok::Dedent | Tok::End => "the end of the block".into(),
        };
        (
            self.line(),
            format!("invalid Python syntax (unexpected {what})"),
        )
    }

    fn expect_op(&mut self, op: &str) -> R<()> {
        if self.eat_op(op) {
            Ok(())
        } else {
            Err(self.unexpected())
        }
    }

    fn ident(&mut self) -> R<String> {
        match self.tok() {
            Tok::Name(n) if !KEYWORDS.contains(&n.as_str()) => {
                let n = n.clone();
                self.bump();
                Ok(n)
            }
            _ => Err(self.unexpected()),
        }
    }

    fn enter(&mut self) -> R<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err((
                self.line(),
                format!("nesting deeper than {MAX_DEPTH} levels"),
            ));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    fn module(&mut self) -> R<Vec<Stmt>> {
        let mut body = Vec::new();
        while !matches!(self.tok(), Tok::End) {
            if matches!(self.tok(), Tok::Indent) {
                return Err((self.line(), "an unexpected indent".into()));
            }
            self.statement(&mut body)?;
        }
        Ok(body)
    }

    /// After a `:`: an indented block, or simple statements on the same line.
    fn block(&mut self) -> R<Vec<Stmt>> {
        let mut body = Vec::new();
        if matches!(self.tok(), Tok::Newline) {
            self.bump();
            if !matches!(self.tok(), Tok::Indent) {
                return Err((self.line(), "a block that is not indented".into()));
            }
            self.bump();
            while !matches!(self.tok(), Tok::Dedent | Tok::End) {
                self.statement(&mut body)?;
            }
            self.bump();
        } else {
            self.simple_line(&mut body)?;
        }
        Ok(body)
    }

    fn statement(&mut self, out: &mut Vec<Stmt>) -> R<()> {
        self.enter()?;
        let result = self.statement_inner(out);
        self.leave();
        result
    }

    fn statement_inner(&mut self, out: &mut Vec<Stmt>) -> R<()> {
        let line = self.line();
        if self.is_op("@") || self.is_name("class") || self.is_name("def") {
            let mut decorators = Vec::new();
            while self.eat_op("@") {
                decorators.push(self.expr()?);
                if !matches!(self.bump(), Tok::Newline) {
                    return Err((line, "invalid Python syntax (a decorator)".into()));
                }
            }
            if self.is_name("class") {
                out.push(self.class(decorators)?);
            } else if self.is_name("def") {
                out.push(self.def(decorators)?);
            } else if self.is_name("async") {
                out.push(self.other("an async function"));
            } else {
                return Err(self.unexpected());
            }
            return Ok(());
        }
        let compound = match self.tok() {
            Tok::Name(n) => match n.as_str() {
                "if" | "elif" | "else" => Some("an if statement"),
                "for" => Some("a for loop"),
                "while" => Some("a while loop"),
                "with" => Some("a with block (such as catch_response=True)"),
                "try" | "except" | "finally" => Some("a try statement"),
                "async" => Some("an async statement"),
                "match" if matches!(self.tok_at(1), Tok::Name(_) | Tok::Str(..)) => {
                    Some("a match statement")
                }
                _ => None,
            },
            Tok::Indent => return Err((line, "an unexpected indent".into())),
            _ => None,
        };
        match compound {
            Some(construct) => out.push(self.other(construct)),
            None => self.simple_line(out)?,
        }
        Ok(())
    }

    /// A statement outside the subset: skipped with its block.
    fn other(&mut self, construct: &str) -> Stmt {
        let line = self.line();
        while !matches!(self.tok(), Tok::Newline | Tok::End) {
            self.bump();
        }
        self.bump();
        if matches!(self.tok(), Tok::Indent) {
            let mut depth = 0usize;
            loop {
                match self.bump() {
                    Tok::Indent => depth += 1,
                    Tok::Dedent => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    Tok::End => break,
                    _ => {}
                }
            }
        }
        Stmt::Other {
            line,
            construct: construct.to_string(),
        }
    }

    fn simple_line(&mut self, out: &mut Vec<Stmt>) -> R<()> {
        loop {
            out.push(self.simple()?);
            if self.eat_op(";") && !matches!(self.tok(), Tok::Newline | Tok::End) {
                continue;
            }
            return match self.bump() {
                Tok::Newline | Tok::End => Ok(()),
                _ => {
                    self.pos -= 1;
                    Err(self.unexpected())
                }
            };
        }
    }

    /// Skips to the end of a simple statement, for one outside the subset.
    fn skip_simple(&mut self, line: usize, construct: String) -> Stmt {
        while !matches!(self.tok(), Tok::Newline | Tok::End) && !self.is_op(";") {
            self.bump();
        }
        Stmt::Other { line, construct }
    }

    fn simple(&mut self) -> R<Stmt> {
        let line = self.line();
        if let Tok::Name(n) = self.tok() {
            let construct = match n.as_str() {
                "pass" => {
                    self.bump();
                    return Ok(Stmt::Pass);
                }
                "import" => return self.import(),
                "from" => return self.import_from(),
                "return" => "a return statement",
                "raise" => "a raise statement",
                "global" | "nonlocal" => "a global variable",
                "del" => "a del statement",
                "assert" => "an assert statement",
                "yield" => "a yield",
                "break" | "continue" => "a loop control statement",
                _ => "",
            };
            if !construct.is_empty() {
                return Ok(self.skip_simple(line, construct.to_string()));
            }
        }
        let target = self.expr()?;
        if self.is_op(",") {
            return Ok(self.skip_simple(line, "a tuple assignment or expression".into()));
        }
        if self.is_op(":") {
            return Ok(self.skip_simple(line, "an annotated assignment".into()));
        }
        if let Tok::Op(op) = self.tok() {
            if op.len() >= 2 && op.ends_with('=') && !matches!(*op, "==" | "!=" | "<=" | ">=") {
                let construct = format!("an augmented assignment ({op})");
                return Ok(self.skip_simple(line, construct));
            }
        }
        if !self.eat_op("=") {
            return Ok(Stmt::Expr(target));
        }
        let value = self.expr()?;
        if self.is_op("=") {
            return Ok(self.skip_simple(line, "a chained assignment".into()));
        }
        Ok(match target.kind {
            E::Name(name) => Stmt::Assign { line, name, value },
            _ => Stmt::Other {
                line,
                construct: match dotted(&target) {
                    Some(d) => format!("an assignment to {d}"),
                    None => "an assignment".into(),
                },
            },
        })
    }

    fn dotted_name(&mut self) -> R<String> {
        let mut name = self.ident()?;
        while self.eat_op(".") {
            name.push('.');
            name.push_str(&self.ident()?);
        }
        Ok(name)
    }

    fn alias(&mut self) -> R<Option<String>> {
        if self.is_name("as") {
            self.bump();
            return Ok(Some(self.ident()?));
        }
        Ok(None)
    }

    fn import(&mut self) -> R<Stmt> {
        let line = self.line();
        self.bump();
        let mut modules = Vec::new();
        loop {
            let module = self.dotted_name()?;
            modules.push((module, self.alias()?));
            if !self.eat_op(",") {
                break;
            }
        }
        Ok(Stmt::Import { line, modules })
    }

    fn import_from(&mut self) -> R<Stmt> {
        let line = self.line();
        self.bump();
        let mut module = String::new();
        while self.is_op(".") || self.is_op("...") {
            if let Tok::Op(o) = self.bump() {
                module.push_str(o);
            }
        }
        if !self.is_name("import") {
            module.push_str(&self.dotted_name()?);
        }
        if !self.is_name("import") {
            return Err(self.unexpected());
        }
        self.bump();
        let mut names = Vec::new();
        if self.eat_op("*") {
            names.push(("*".to_string(), None));
            return Ok(Stmt::From {
                line,
                module,
                names,
            });
        }
        let parens = self.eat_op("(");
        loop {
            if parens && self.is_op(")") {
                break;
            }
            let name = self.ident()?;
            names.push((name, self.alias()?));
            if !self.eat_op(",") {
                break;
            }
        }
        if parens {
            self.expect_op(")")?;
        }
        Ok(Stmt::From {
            line,
            module,
            names,
        })
    }

    fn class(&mut self, decorators: Vec<Expr>) -> R<Stmt> {
        let line = self.line();
        self.bump();
        let name = self.ident()?;
        let (mut bases, mut keywords) = (Vec::new(), Vec::new());
        if self.eat_op("(") {
            (bases, keywords) = self.call_args()?;
        }
        self.expect_op(":")?;
        let body = self.block()?;
        Ok(Stmt::Class(ClassDef {
            line,
            name,
            bases,
            keywords,
            decorators,
            body,
        }))
    }

    fn def(&mut self, decorators: Vec<Expr>) -> R<Stmt> {
        let line = self.line();
        self.bump();
        let name = self.ident()?;
        self.expect_op("(")?;
        let mut params = Vec::new();
        while !self.eat_op(")") {
            if self.eat_op("*") || self.eat_op("**") || self.eat_op("/") {
                if matches!(self.tok(), Tok::Name(_)) {
                    params.push(self.ident()?);
                }
            } else {
                params.push(self.ident()?);
            }
            if self.eat_op(":") {
                self.expr()?;
            }
            if self.eat_op("=") {
                self.expr()?;
            }
            if !self.eat_op(",") {
                self.expect_op(")")?;
                break;
            }
        }
        if self.eat_op("->") {
            self.expr()?;
        }
        self.expect_op(":")?;
        let body = self.block()?;
        Ok(Stmt::Def(Def {
            line,
            name,
            params,
            decorators,
            body,
        }))
    }

    fn expr(&mut self) -> R<Expr> {
        self.enter()?;
        let result = self.expr_inner();
        self.leave();
        result
    }

    fn expr_inner(&mut self) -> R<Expr> {
        let line = self.line();
        if self.is_name("lambda") {
            self.bump();
            while !self.is_op(":") {
                if matches!(self.tok(), Tok::Newline | Tok::End) {
                    return Err(self.unexpected());
                }
                self.bump();
            }
            self.bump();
            self.expr()?;
            return Ok(computed(line, "a lambda"));
        }
        let e = self.binary()?;
        if self.is_name("if") {
            self.bump();
            self.binary()?;
            if !self.is_name("else") {
                return Err(self.unexpected());
            }
            self.bump();
            self.expr()?;
            return Ok(computed(line, "a conditional expression"));
        }
        Ok(e)
    }

    /// Operands joined by binary operators, comparisons, `and`, `or`, `in`,
    /// `is`: parsed only to be reported (nothing in the subset computes).
    fn binary(&mut self) -> R<Expr> {
        let line = self.line();
        let mut e = self.unary()?;
        loop {
            let op = match self.tok() {
                Tok::Op(o)
                    if matches!(
                        *o,
                        "+" | "-"
                            | "*"
                            | "/"
                            | "//"
                            | "%"
                            | "**"
                            | "@"
                            | "<<"
                            | ">>"
                            | "&"
                            | "|"
                            | "^"
                            | "=="
                            | "!="
                            | "<"
                            | ">"
                            | "<="
                            | ">="
                            | ":="
                    ) =>
                {
                    o.to_string()
                }
                Tok::Name(n) if matches!(n.as_str(), "and" | "or" | "in" | "is" | "not") => {
                    n.clone()
                }
                _ => break,
            };
            self.bump();
            if op == "not" && !self.is_name("in") {
                return Err(self.unexpected());
            }
            if (op == "not" || op == "is") && (self.is_name("in") || self.is_name("not")) {
                self.bump();
            }
            self.unary()?;
            if !matches!(e.kind, E::Computed(_)) {
                e = computed(line, &format!("an expression with {op}"));
            }
        }
        Ok(e)
    }

    fn unary(&mut self) -> R<Expr> {
        self.enter()?;
        let result = self.unary_inner();
        self.leave();
        result
    }

    fn unary_inner(&mut self) -> R<Expr> {
        let line = self.line();
        let op = match self.tok() {
            Tok::Op(o) if matches!(*o, "-" | "+" | "~" | "*" | "**") => o.to_string(),
            Tok::Name(n) if matches!(n.as_str(), "not" | "await" | "yield") => n.clone(),
            _ => return self.primary(),
        };
        self.bump();
        let inner = self.unary()?;
        Ok(match (op.as_str(), inner.kind) {
            ("-", E::Num { value, int }) => Expr {
                kind: E::Num {
                    value: -value,
                    int: int.map(|i| -i),
                },
                line,
            },
            ("+", E::Num { value, int }) => Expr {
                kind: E::Num { value, int },
                line,
            },
            ("*" | "**", _) => computed(line, "a starred expression"),
            (_, _) => computed(line, &format!("an expression with {op}")),
        })
    }

    fn primary(&mut self) -> R<Expr> {
        let mut e = self.atom()?;
        loop {
            let line = self.line();
            if self.eat_op(".") {
                let name = self.ident()?;
                e = Expr {
                    kind: E::Attr(Box::new(e), name),
                    line,
                };
            } else if self.eat_op("(") {
                let (args, kwargs) = self.call_args()?;
                e = Expr {
                    line: e.line,
                    kind: E::Call {
                        func: Box::new(e),
                        args,
                        kwargs,
                    },
                };
            } else if self.eat_op("[") {
                self.skip_to_close();
                e = computed(line, "a subscript");
            } else {
                return Ok(e);
            }
        }
    }

    /// Skips past the bracket closing the one just consumed.
    fn skip_to_close(&mut self) {
        let mut depth = 1usize;
        loop {
            match self.bump() {
                Tok::Op("(" | "[" | "{") => depth += 1,
                Tok::Op(")" | "]" | "}") => {
                    depth -= 1;
                    if depth == 0 {
                        return;
                    }
                }
                Tok::End => return,
                _ => {}
            }
        }
    }

    /// After `(`: positional and keyword arguments up to `)`.
    fn call_args(&mut self) -> R<Args> {
        let (mut args, mut kwargs) = (Vec::new(), Vec::new());
        while !self.eat_op(")") {
            if matches!(self.tok(), Tok::Name(_)) && matches!(self.tok_at(1), Tok::Op("=")) {
                let name = self.ident()?;
                self.bump();
                kwargs.push((name, self.expr()?));
            } else {
                let line = self.line();
                let e = self.expr()?;
                if self.is_name("for") {
                    self.skip_to_close();
                    args.push(computed(line, "a generator expression"));
                    break;
                }
                args.push(e);
            }
            if !self.eat_op(",") {
                self.expect_op(")")?;
                break;
            }
        }
        Ok((args, kwargs))
    }

    fn atom(&mut self) -> R<Expr> {
        let line = self.line();
        let kind = match self.tok().clone() {
            Tok::Name(n) => match n.as_str() {
                "True" => E::Const("True"),
                "False" => E::Const("False"),
                "None" => E::Const("None"),
                _ if KEYWORDS.contains(&n.as_str()) => return Err(self.unexpected()),
                _ => E::Name(n),
            },
            Tok::Num { value, int } => E::Num { value, int },
            Tok::Str(..) => return self.strings(),
            Tok::Op("...") => E::Const("..."),
            Tok::Op("(") => {
                self.bump();
                return self.sequence(line, ")");
            }
            Tok::Op("[") => {
                self.bump();
                return self.sequence(line, "]");
            }
            Tok::Op("{") => {
                self.bump();
                return self.dict(line);
            }
            _ => return Err(self.unexpected()),
        };
        self.bump();
        Ok(Expr { kind, line })
    }

    /// Adjacent string literals, joined as Python joins them.
    fn strings(&mut self) -> R<Expr> {
        let line = self.line();
        let mut value = String::new();
        let mut kind = None;
        while let Tok::Str(s, k) = self.tok().clone() {
            kind = match (kind, k) {
                (None, k) => Some(k),
                (Some(StrKind::Bytes), StrKind::Bytes) => Some(StrKind::Bytes),
                (Some(StrKind::Bytes), _) | (Some(_), StrKind::Bytes) => {
                    return Err((line, "bytes and text literals joined".into()));
                }
                (Some(StrKind::Format), _) | (_, StrKind::Format) => Some(StrKind::Format),
                (Some(k), _) => Some(k),
            };
            value.push_str(&s);
            self.bump();
        }
        Ok(Expr {
            kind: E::Str(value, kind.unwrap_or(StrKind::Text)),
            line,
        })
    }

    /// After `(` or `[`: a tuple, a parenthesized expression or a list.
    fn sequence(&mut self, line: usize, close: &str) -> R<Expr> {
        let mut items = Vec::new();
        let mut trailing_comma = false;
        while !self.eat_op(close) {
            let e = self.expr()?;
            if self.is_name("for") {
                self.skip_to_close();
                return Ok(computed(line, "a comprehension"));
            }
            items.push(e);
            trailing_comma = self.eat_op(",");
            if !trailing_comma {
                self.expect_op(close)?;
                break;
            }
        }
        Ok(match close {
            "]" => Expr {
                kind: E::List(items),
                line,
            },
            _ if items.len() == 1 && !trailing_comma => items.remove(0),
            _ => Expr {
                kind: E::Tuple(items),
                line,
            },
        })
    }

    /// After `{`: a dict of `key: value` pairs (a set or a comprehension is
    /// only reported).
    fn dict(&mut self, line: usize) -> R<Expr> {
        let mut pairs = Vec::new();
        while !self.eat_op("}") {
            if self.is_op("**") {
                self.skip_to_close();
                return Ok(computed(line, "a dict unpacking (**)"));
            }
            let key = self.expr()?;
            if !self.eat_op(":") {
                self.skip_to_close();
                return Ok(computed(line, "a set or comprehension"));
            }
            let value = self.expr()?;
            if self.is_name("for") {
                self.skip_to_close();
                return Ok(computed(line, "a comprehension"));
            }
            pairs.push((key, value));
            if !self.eat_op(",") {
                self.expect_op("}")?;
                break;
            }
        }
        Ok(Expr {
            kind: E::Dict(pairs),
            line,
        })
    }
}

fn computed(line: usize, what: &str) -> Expr {
    Expr {
        kind: E::Computed(what.to_string()),
        line,
    }
}

/// `a.b.c` for a name or attribute chain.
fn dotted(e: &Expr) -> Option<String> {
    match &e.kind {
        E::Name(n) => Some(n.clone()),
        E::Attr(base, name) => dotted(base).map(|b| format!("{b}.{name}")),
        _ => None,
    }
}

/// What an expression is, for an error about where it stands.
fn describe(e: &Expr) -> String {
    match &e.kind {
        E::Str(_, StrKind::Format) => "an f-string".into(),
        E::Str(..) => "a string".into(),
        E::Num { .. } => "a number".into(),
        E::Const(c) => c.to_string(),
        E::Name(n) => format!("a variable ({n})"),
        E::Attr(..) => format!("an attribute ({})", dotted(e).unwrap_or_default()),
        E::Call { func, .. } => match dotted(func) {
            Some(d) => format!("a call to {d}(...)"),
            None => "a call".into(),
        },
        E::List(_) => "a list".into(),
        E::Tuple(_) => "a tuple".into(),
        E::Dict(_) => "a dict".into(),
        E::Computed(what) => what.clone(),
    }
}

fn is_literal(e: &Expr) -> bool {
    match &e.kind {
        E::Str(_, k) => *k != StrKind::Format,
        E::Num { .. } | E::Const(_) => true,
        E::List(items) | E::Tuple(items) => items.iter().all(is_literal),
        E::Dict(pairs) => pairs.iter().all(|(k, v)| is_literal(k) && is_literal(v)),
        _ => false,
    }
}

// ---------------------------------------------------------------------------
// Translation

/// Standard modules a locustfile imports for its own code; importing them
/// changes nothing Locust sends. Any other module might (an event listener,
/// a custom client), so it is outside the subset.
const INERT_MODULES: &[&str] = &[
    "__future__",
    "base64",
    "collections",
    "dataclasses",
    "datetime",
    "enum",
    "functools",
    "hashlib",
    "itertools",
    "json",
    "logging",
    "math",
    "os",
    "random",
    "re",
    "string",
    "sys",
    "time",
    "typing",
    "uuid",
];

/// Names Locust exports that the translator gives a meaning.
const LOCUST_NAMES: &[&str] = &[
    "HttpUser",
    "FastHttpUser",
    "HttpLocust",
    "FastHttpLocust",
    "TaskSet",
    "SequentialTaskSet",
    "TaskSequence",
    "User",
    "Locust",
    "task",
    "tag",
    "seq_task",
    "between",
    "constant",
    "constant_throughput",
    "constant_pacing",
];

/// User and TaskSet methods Locust calls by itself.
const HOOKS: &[(&str, &str)] = &[
    (
        "on_start",
        "on_start (code that runs before the tasks, such as a login)",
    ),
    ("on_stop", "on_stop (code that runs when a user stops)"),
    ("wait_time", "a wait_time method (a computed wait)"),
    ("wait", "an overridden wait method"),
    ("run", "an overridden run method"),
    ("start", "an overridden start method"),
    ("stop", "an overridden stop method"),
    ("context", "a context method (request context)"),
    ("execute_task", "an overridden execute_task method"),
    (
        "execute_next_task",
        "an overridden execute_next_task method",
    ),
    ("schedule_task", "an overridden schedule_task method"),
    ("get_next_task", "an overridden get_next_task method"),
    ("interrupt", "an overridden interrupt method"),
];

const METHODS: &[&str] = &["get", "post", "put", "patch", "delete", "head", "options"];

/// Why a pre-1.0 attribute is not read on today's user classes: Locust
/// would not read it either, and guessing either way changes the load.
fn ignored_since_1_0(name: &str) -> String {
    let instead = match name {
        "task_set" => "write tasks = [TaskSetName]",
        _ => "they do not wait at all; write wait_time = between(MIN, MAX), in seconds",
    };
    format!("{name} on an HttpUser or FastHttpUser (Locust 1.0 and later ignore it: {instead})")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClassKind {
    /// `HttpUser`, `FastHttpUser`.
    User,
    /// `HttpLocust`, `FastHttpLocust`: no default wait.
    OldUser,
    TaskSet,
}

/// The HTTP client a user class has: requests (`HttpUser`) or
/// geventhttpclient (`FastHttpUser`), which encode a few arguments apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Client {
    Requests,
    Fast,
}

/// A TaskSet, translated when it is defined for either client (an error
/// only one client has shows when a user class of that client uses it).
#[derive(Debug, Clone)]
struct TaskSetInfo {
    tasks: Vec<Task>,
    fast_tasks: R<Vec<Task>>,
    waits: Waits,
}

/// The wait settings of one class, as written.
#[derive(Debug, Clone, Default)]
struct Waits {
    wait_time: Option<WaitTime>,
    min_wait: Option<(usize, Duration)>,
    max_wait: Option<(usize, Duration)>,
}

/// One entry of a class's tasks, before TaskSets are resolved.
enum Entry {
    Task(Task),
    Set {
        name: String,
        weight: u32,
        line: usize,
    },
}

#[derive(Default)]
struct Translator {
    /// Local name -> the Locust name it stands for (`from locust import X as Y`).
    locust_names: BTreeMap<String, String>,
    /// Local names bound to Locust modules (`import locust`).
    locust_modules: Vec<String>,
    /// Module functions defined so far.
    functions: BTreeMap<String, Def>,
    /// TaskSets defined so far.
    task_sets: BTreeMap<String, TaskSetInfo>,
    /// Every class defined so far, for a clear error on inheritance.
    classes: Vec<String>,
    users: Vec<UserClass>,
}

fn fail<T>(line: usize, construct: impl Into<String>) -> R<T> {
    Err((line, construct.into()))
}

impl Translator {
    fn module(mut self, body: &[Stmt]) -> R<LocustPlan> {
        for stmt in body {
            match stmt {
                Stmt::Import { line, modules } => {
                    for (module, alias) in modules {
                        self.import(*line, module)?;
                        if is_locust_module(module) {
                            let local = alias.clone().unwrap_or_else(|| {
                                module.split('.').next().unwrap_or_default().to_string()
                            });
                            self.locust_modules.push(local);
                        }
                    }
                }
                Stmt::From {
                    line,
                    module,
                    names,
                } => {
                    self.import(*line, module)?;
                    if is_locust_module(module) {
                        for (name, alias) in names {
                            if LOCUST_NAMES.contains(&name.as_str()) {
                                let local = alias.clone().unwrap_or_else(|| name.clone());
                                self.locust_names.insert(local, name.clone());
                            }
                        }
                    }
                }
                Stmt::Class(c) => self.class(c)?,
                Stmt::Def(d) => {
                    for dec in &d.decorators {
                        self.task_weight(dec)?;
                    }
                    self.forget_user(&d.name);
                    self.functions.insert(d.name.clone(), d.clone());
                }
                Stmt::Assign { line, name, value } => {
                    self.forget_user(name);
                    if !is_literal(value) {
                        return fail(
                            *line,
                            format!("module-level code ({name} = {})", describe(value)),
                        );
                    }
                }
                Stmt::Expr(e) => {
                    if !matches!(e.kind, E::Str(..)) {
                        return fail(e.line, format!("module-level code ({})", describe(e)));
                    }
                }
                Stmt::Pass => {}
                Stmt::Other { line, construct } => return fail(*line, construct.clone()),
            }
        }
        if self.users.is_empty() {
            return fail(
                1,
                "a locustfile without an HttpUser or FastHttpUser class (with a weight above 0)",
            );
        }
        Ok(LocustPlan {
            classes: self.users,
        })
    }

    fn import(&self, line: usize, module: &str) -> R<()> {
        let root = module.split('.').next().unwrap_or_default();
        if root == "locust" || INERT_MODULES.contains(&root) {
            return Ok(());
        }
        fail(
            line,
            format!("an import of {module} (importing it may change what is sent)"),
        )
    }

    /// The Locust name an expression stands for: `HttpUser`, an alias of
    /// it, or `locust.HttpUser`.
    fn locust_name(&self, e: &Expr) -> Option<&str> {
        match &e.kind {
            E::Name(n) => match self.locust_names.get(n) {
                Some(real) => Some(real.as_str()),
                // A star import, or a name used without import (which
                // Locust would reject itself): the name is its meaning.
                None if LOCUST_NAMES.contains(&n.as_str()) => {
                    LOCUST_NAMES.iter().copied().find(|k| k == n)
                }
                None => None,
            },
            E::Attr(base, name) => {
                let root = dotted(base)?;
                let first = root.split('.').next().unwrap_or_default();
                (self.locust_modules.iter().any(|m| m == first)
                    || root.split('.').next() == Some("locust"))
                .then(|| LOCUST_NAMES.iter().copied().find(|k| k == name))
                .flatten()
            }
            _ => None,
        }
    }

    /// A decorator: `Some(weight)` for `@task` / `@task(n)`, `None` for an
    /// accepted decorator that is not a task (`@tag(...)`).
    fn task_weight(&self, dec: &Expr) -> R<Option<u32>> {
        let (func, args, kwargs) = match &dec.kind {
            E::Call { func, args, kwargs } => (func.as_ref(), args.as_slice(), kwargs.as_slice()),
            _ => (dec, &[][..], &[][..]),
        };
        let unknown = || {
            let name = dotted(func).unwrap_or_else(|| describe(func));
            (dec.line, format!("the decorator @{name}"))
        };
        match self.locust_name(func) {
            Some("task") => {
                let weight = match (args, kwargs) {
                    ([], []) => return Ok(Some(1)),
                    ([w], []) => w,
                    ([], [(k, w)]) if k == "weight" => w,
                    _ => return fail(dec.line, "@task with other arguments than a weight"),
                };
                Ok(Some(count(weight, "a task weight")?))
            }
            // Tags only select tasks with --tags, which lpa never passes.
            Some("tag") => Ok(None),
            Some("seq_task") => fail(dec.line, "@seq_task (tasks run in a fixed order)"),
            _ => Err(unknown()),
        }
    }

    fn class(&mut self, c: &ClassDef) -> R<()> {
        if let Some(dec) = c.decorators.first() {
            return fail(
                dec.line,
                format!(
                    "a class decorator @{}",
                    dotted(dec).unwrap_or_else(|| describe(dec))
                ),
            );
        }
        if let Some((k, _)) = c.keywords.first() {
            return fail(c.line, format!("class {}: the class keyword {k}=", c.name));
        }
        let (kind, client) = match c.bases.as_slice() {
            [base] => match self.locust_name(base) {
                Some("HttpUser") => (ClassKind::User, Client::Requests),
                Some("FastHttpUser") => (ClassKind::User, Client::Fast),
                Some("HttpLocust") => (ClassKind::OldUser, Client::Requests),
                Some("FastHttpLocust") => (ClassKind::OldUser, Client::Fast),
                Some("TaskSet") => (ClassKind::TaskSet, Client::Requests),
                Some(name @ ("SequentialTaskSet" | "TaskSequence")) => {
                    return fail(c.line, format!("a {name} (its tasks run in a fixed order)"))
                }
                Some(name @ ("User" | "Locust")) => {
                    return fail(
                        c.line,
                        format!("a {name} class without an HTTP client (class {})", c.name),
                    )
                }
                _ => {
                    let base_name = dotted(base).unwrap_or_else(|| describe(base));
                    if self.classes.contains(&base_name) {
                        return fail(
                            c.line,
                            format!("class {} inheriting from {base_name}", c.name),
                        );
                    }
                    return fail(
                        c.line,
                        format!(
                            "class {} based on {base_name} (not HttpUser, FastHttpUser or TaskSet)",
                            c.name
                        ),
                    );
                }
            },
            [] => {
                return fail(
                    c.line,
                    format!("class {} (neither a Locust user nor a TaskSet)", c.name),
                )
            }
            _ => {
                return fail(
                    c.line,
                    format!("class {} with several base classes", c.name),
                )
            }
        };
        self.classes.push(c.name.clone());
        let at = self.forget_user(&c.name).unwrap_or(self.users.len());
        let body = self.class_body(c, kind, client)?;
        match kind {
            ClassKind::TaskSet => {
                let only_tasks = |entries: Vec<Entry>| {
                    entries
                        .into_iter()
                        .map(|e| match e {
                            Entry::Task(t) => Ok(t),
                            Entry::Set { name, line, .. } => {
                                fail(line, format!("a TaskSet inside a TaskSet ({name})"))
                            }
                        })
                        .collect::<R<Vec<_>>>()
                };
                let tasks = only_tasks(body.entries)?;
                let fast_tasks = self
                    .class_body(c, kind, Client::Fast)
                    .and_then(|b| only_tasks(b.entries));
                self.task_sets.insert(
                    c.name.clone(),
                    TaskSetInfo {
                        tasks,
                        fast_tasks,
                        waits: body.waits,
                    },
                );
            }
            ClassKind::User | ClassKind::OldUser => {
                if body.is_abstract || body.weight == 0 {
                    return Ok(());
                }
                let (tasks, set_waits) = self.user_tasks(c, body.entries, client)?;
                if let (ClassKind::User, Some((line, _))) =
                    (kind, set_waits.min_wait.or(set_waits.max_wait))
                {
                    return fail(
                        line,
                        format!(
                            "{} (in its TaskSet)",
                            ignored_since_1_0("min_wait/max_wait")
                        ),
                    );
                }
                if tasks.iter().all(|t| t.requests.is_empty()) {
                    return fail(c.line, format!("{}: tasks that send no request", c.name));
                }
                let (wait_time, default_wait) = match wait_of(&set_waits, &body.waits)? {
                    Some(w) => (w, false),
                    None if kind == ClassKind::OldUser => {
                        return fail(
                            c.line,
                            format!(
                                "class {} without wait_time or min_wait/max_wait (Locust before 1.0 had no default wait)",
                                c.name
                            ),
                        )
                    }
                    None => (WaitTime::Constant(Duration::ZERO), true),
                };
                self.users.insert(
                    at,
                    UserClass {
                        name: c.name.clone(),
                        line: c.line,
                        weight: body.weight,
                        host: body.host,
                        wait_time,
                        default_wait,
                        tasks,
                    },
                );
            }
        }
        Ok(())
    }

    /// Drops the user class bound to `name`, which is being bound anew:
    /// Locust finds user classes among the module's names once it has run,
    /// so it sees the last binding, where the first stood; returns where.
    fn forget_user(&mut self, name: &str) -> Option<usize> {
        let at = self.users.iter().position(|u| u.name == name)?;
        self.users.remove(at);
        Some(at)
    }

    /// The tasks of a user class: its own, or those of its one TaskSet
    /// (with the TaskSet's wait settings).
    fn user_tasks(
        &self,
        c: &ClassDef,
        entries: Vec<Entry>,
        client: Client,
    ) -> R<(Vec<Task>, Waits)> {
        let sets = entries
            .iter()
            .filter(|e| matches!(e, Entry::Set { .. }))
            .count();
        let mut tasks = Vec::new();
        let mut waits = Waits::default();
        if sets > 0 && entries.len() > 1 {
            return fail(
                c.line,
                format!(
                    "class {} with a TaskSet beside other tasks (each user stays in the TaskSet it picks)",
                    c.name
                ),
            );
        }
        for entry in entries {
            match entry {
                Entry::Task(t) => tasks.push(t),
                Entry::Set { name, weight, .. } => {
                    if weight > 0 {
                        let set = &self.task_sets[&name];
                        tasks = match client {
                            Client::Requests => set.tasks.clone(),
                            Client::Fast => set.fast_tasks.clone()?,
                        };
                        waits = set.waits.clone();
                    }
                }
            }
        }
        tasks.retain(|t| t.weight > 0);
        if tasks.is_empty() {
            return fail(c.line, format!("class {} without tasks", c.name));
        }
        Ok((tasks, waits))
    }

    fn class_body(&self, c: &ClassDef, kind: ClassKind, client: Client) -> R<ClassBody> {
        let user = kind != ClassKind::TaskSet;
        let mut body = ClassBody {
            weight: 1,
            ..ClassBody::default()
        };
        // Each name's last def, where its first stood: a class body binds
        // names as a dict does, and Locust reads @task off that dict.
        let mut defs: Vec<(&Def, Option<u32>)> = Vec::new();
        let mut listed: Vec<(usize, &Expr)> = Vec::new();
        for stmt in &c.body {
            match stmt {
                Stmt::Pass => {}
                Stmt::Expr(e) if matches!(e.kind, E::Str(_, StrKind::Text)) => {}
                Stmt::Assign { line, name, value } => match name.as_str() {
                    "host" if user => {
                        body.host = match &value.kind {
                            E::Const("None") => None,
                            _ => Some(host(value)?),
                        }
                    }
                    "weight" if user => body.weight = count(value, "a class weight")?,
                    "abstract" if user => {
                        body.is_abstract = match value.kind {
                            E::Const("True") => true,
                            E::Const("False") => false,
                            _ => return fail(*line, "an abstract = that is not True or False"),
                        }
                    }
                    "wait_time" => body.waits.wait_time = Some(self.wait_time(value)?),
                    "min_wait" | "max_wait" | "task_set" if kind == ClassKind::User => {
                        return fail(*line, ignored_since_1_0(name));
                    }
                    "min_wait" => body.waits.min_wait = Some((*line, millis(value, "min_wait")?)),
                    "max_wait" => body.waits.max_wait = Some((*line, millis(value, "max_wait")?)),
                    "tasks" => listed.push((*line, value)),
                    "task_set" if user => listed.push((*line, value)),
                    _ => {
                        let known = if user {
                            "host, weight, wait_time, min_wait, max_wait, tasks, task_set, abstract"
                        } else {
                            "wait_time, min_wait, max_wait, tasks"
                        };
                        return fail(
                            *line,
                            format!("the class attribute {name} (lpa reads {known})"),
                        );
                    }
                },
                Stmt::Def(d) => {
                    let mut weight = None;
                    for dec in &d.decorators {
                        if let Some(w) = self.task_weight(dec)? {
                            weight = Some(w);
                        }
                    }
                    if let Some((_, construct)) = HOOKS.iter().find(|(h, _)| *h == d.name) {
                        return fail(d.line, *construct);
                    }
                    match defs.iter_mut().find(|(seen, _)| seen.name == d.name) {
                        Some(slot) => *slot = (d, weight),
                        None => defs.push((d, weight)),
                    }
                }
                Stmt::Class(inner) => {
                    return fail(
                        inner.line,
                        format!("a class inside a class ({})", inner.name),
                    )
                }
                Stmt::Expr(e) => {
                    return fail(e.line, format!("code in a class body ({})", describe(e)))
                }
                Stmt::Import { line, .. } | Stmt::From { line, .. } => {
                    return fail(*line, "an import inside a class")
                }
                Stmt::Other { line, construct } => return fail(*line, construct.clone()),
            }
        }
        let methods: BTreeMap<&str, &Def> = defs
            .iter()
            .filter(|(_, weight)| weight.is_none())
            .map(|(d, _)| (d.name.as_str(), *d))
            .collect();
        // As Locust: the `tasks` attribute's entries, then the @task methods.
        if let Some((line, value)) = listed.last() {
            if listed.len() > 1 {
                return fail(*line, "both tasks and task_set, or tasks set twice");
            }
            for (expr, weight) in task_list(value)? {
                body.entries
                    .push(self.entry(expr, weight, &methods, user, client)?);
            }
        }
        for (d, weight) in defs {
            if let Some(weight) = weight {
                body.entries.push(Entry::Task(Task {
                    name: d.name.clone(),
                    weight,
                    requests: task_requests(d, !user, client)?,
                }));
            }
        }
        Ok(body)
    }

    /// A name in `tasks`: a method of the class, a module function, or a
    /// TaskSet.
    fn entry(
        &self,
        e: &Expr,
        weight: u32,
        methods: &BTreeMap<&str, &Def>,
        user: bool,
        client: Client,
    ) -> R<Entry> {
        let E::Name(name) = &e.kind else {
            return fail(
                e.line,
                format!(
                    "a tasks entry that is {} (not a function or TaskSet name)",
                    describe(e)
                ),
            );
        };
        if let Some(d) = methods
            .get(name.as_str())
            .copied()
            .or(self.functions.get(name))
        {
            return Ok(Entry::Task(Task {
                name: d.name.clone(),
                weight,
                requests: task_requests(d, !user, client)?,
            }));
        }
        if self.task_sets.contains_key(name) {
            return Ok(Entry::Set {
                name: name.clone(),
                weight,
                line: e.line,
            });
        }
        fail(
            e.line,
            format!("the tasks entry {name} (not a function or TaskSet defined before it)"),
        )
    }

    fn wait_time(&self, value: &Expr) -> R<WaitTime> {
        let bad = || {
            (
                value.line,
                format!(
                    "wait_time = {} (lpa reads between, constant, constant_throughput and constant_pacing of numbers)",
                    describe(value)
                ),
            )
        };
        let E::Call { func, args, kwargs } = &value.kind else {
            return Err(bad());
        };
        let name = self.locust_name(func).ok_or_else(bad)?;
        let params: &[&str] = match name {
            "between" => &["min_wait", "max_wait"],
            "constant" | "constant_pacing" => &["wait_time"],
            "constant_throughput" => &["task_runs_per_second"],
            _ => return Err(bad()),
        };
        let mut values: Vec<Option<f64>> = vec![None; params.len()];
        if args.len() > params.len() {
            return Err(bad());
        }
        for (i, a) in args.iter().enumerate() {
            values[i] = Some(seconds(a).ok_or_else(bad)?);
        }
        for (k, a) in kwargs {
            let i = params.iter().position(|p| p == k).ok_or_else(bad)?;
            if values[i].is_some() {
                return Err(bad());
            }
            values[i] = Some(seconds(a).ok_or_else(bad)?);
        }
        let values: Vec<f64> = values.into_iter().collect::<Option<_>>().ok_or_else(bad)?;
        // Numbers, out of what lpa waits: said so, where the message
        // asked for numbers it had been given.
        let range = || {
            (
                value.line,
                format!(
                    "wait_time = {} (lpa waits seconds from 0, between's MIN at most its MAX, and a constant_throughput above 0)",
                    describe(value)
                ),
            )
        };
        let dur = |s: f64| Duration::try_from_secs_f64(s).map_err(|_| range());
        Ok(match (name, values.as_slice()) {
            ("between", [a, b]) if a <= b => WaitTime::Between(dur(*a)?, dur(*b)?),
            ("constant", [s]) => WaitTime::Constant(dur(*s)?),
            ("constant_pacing", [s]) => WaitTime::ConstantPacing(dur(*s)?),
            ("constant_throughput", [n]) if *n > 0.0 => WaitTime::ConstantThroughput(*n),
            _ => return Err(range()),
        })
    }
}

#[derive(Default)]
struct ClassBody {
    weight: u32,
    host: Option<String>,
    is_abstract: bool,
    waits: Waits,
    entries: Vec<Entry>,
}

fn is_locust_module(module: &str) -> bool {
    module == "locust" || module.starts_with("locust.")
}

/// The effective wait: the TaskSet's `wait_time`, the user's, then the
/// old `min_wait`/`max_wait` (each the TaskSet's, else the user's).
fn wait_of(set: &Waits, user: &Waits) -> R<Option<WaitTime>> {
    if let Some(w) = set.wait_time.or(user.wait_time) {
        return Ok(Some(w));
    }
    let min = set.min_wait.or(user.min_wait);
    let max = set.max_wait.or(user.max_wait);
    match (min, max) {
        (None, None) => Ok(None),
        (Some((_, a)), Some((line, b))) => {
            if a > b {
                return fail(line, "min_wait above max_wait");
            }
            Ok(Some(WaitTime::Between(a, b)))
        }
        (Some((line, _)), None) => fail(line, "min_wait without max_wait"),
        (None, Some((line, _))) => fail(line, "max_wait without min_wait"),
    }
}

/// A whole number >= 0 that fits a u32 (weights).
fn count(e: &Expr, what: &str) -> R<u32> {
    match &e.kind {
        E::Num { int: Some(n), .. } => u32::try_from(*n)
            .or_else(|_| fail(e.line, format!("{what} of {n} (expected 0 or more)"))),
        _ => fail(e.line, format!("{what} that is {}", describe(e))),
    }
}

/// A non-negative finite number.
fn seconds(e: &Expr) -> Option<f64> {
    match e.kind {
        E::Num { value, .. } if value.is_finite() && value >= 0.0 => Some(value),
        _ => None,
    }
}

fn millis(e: &Expr, what: &str) -> R<Duration> {
    seconds(e)
        .and_then(|ms| Duration::try_from_secs_f64(ms / 1000.0).ok())
        .ok_or_else(|| {
            (
                e.line,
                format!("{what} = {} (expected milliseconds)", describe(e)),
            )
        })
}

fn host(e: &Expr) -> R<String> {
    match &e.kind {
        E::Str(s, StrKind::Text)
            if (s.starts_with("http://") || s.starts_with("https://"))
                && !s.chars().any(|c| c.is_whitespace() || c.is_control()) =>
        {
            Ok(s.trim_end_matches('/').to_string())
        }
        E::Str(s, StrKind::Text) => fail(
            e.line,
            format!("host = {s:?} (expected an http:// or https:// URL)"),
        ),
        _ => fail(e.line, format!("a host that is {}", describe(e))),
    }
}

/// `tasks = [f, g]`, `[(f, 2)]` or `{f: 2}`: (name expression, weight).
fn task_list(value: &Expr) -> R<Vec<(&Expr, u32)>> {
    match &value.kind {
        E::List(items) | E::Tuple(items) => items
            .iter()
            .map(|item| match &item.kind {
                E::Tuple(pair) if pair.len() == 2 => {
                    Ok((&pair[0], count(&pair[1], "a task weight")?))
                }
                _ => Ok((item, 1)),
            })
            .collect(),
        E::Dict(pairs) => pairs
            .iter()
            .map(|(k, v)| Ok((k, count(v, "a task weight")?)))
            .collect(),
        // `task_set = X`.
        E::Name(_) => Ok(vec![(value, 1)]),
        _ => fail(
            value.line,
            format!(
                "tasks = {} (expected a list or dict of names)",
                describe(value)
            ),
        ),
    }
}

/// The requests of a task function, in order. `task_set`: the first
/// parameter is a TaskSet, whose user may also be named.
fn task_requests(d: &Def, task_set: bool, client: Client) -> R<Vec<RequestSpec>> {
    let Some(me) = d.params.first() else {
        return fail(
            d.line,
            format!("the task {} without a parameter for the user", d.name),
        );
    };
    let mut requests = Vec::new();
    for stmt in &d.body {
        match stmt {
            Stmt::Pass => {}
            Stmt::Expr(e) if matches!(e.kind, E::Str(_, StrKind::Text)) => {}
            Stmt::Expr(e) => requests.push(request(e, me, task_set, client)?),
            Stmt::Assign { line, name, value } => {
                return fail(
                    *line,
                    format!("an assignment in a task ({name} = {})", describe(value)),
                )
            }
            Stmt::Def(inner) => return fail(inner.line, "a function inside a task"),
            Stmt::Class(inner) => return fail(inner.line, "a class inside a task"),
            Stmt::Import { line, .. } | Stmt::From { line, .. } => {
                return fail(*line, "an import inside a task")
            }
            Stmt::Other { line, construct } => return fail(*line, construct.clone()),
        }
    }
    Ok(requests)
}

/// `self.client.get("/path", name=..., ...)` as a request.
fn request(e: &Expr, me: &str, task_set: bool, client: Client) -> R<RequestSpec> {
    let E::Call { func, args, kwargs } = &e.kind else {
        return fail(e.line, format!("{} in a task", describe(e)));
    };
    let callee = dotted(func).unwrap_or_default();
    let parts: Vec<&str> = callee.split('.').collect();
    let method = match parts.as_slice() {
        [p, "client", m] if *p == me => *m,
        [p, "user" | "locust", "client", m] if *p == me && task_set => *m,
        _ if callee.is_empty() => return fail(e.line, "a call in a task"),
        _ => {
            return fail(
                e.line,
                format!("a call to {callee}(...) (lpa translates only {me}.client requests)"),
            )
        }
    };
    if method == "request" {
        return fail(
            e.line,
            format!("{callee}(...) (write {me}.client.get, .post, ... instead)"),
        );
    }
    let Some(http_method) = METHODS
        .contains(&method)
        .then(|| Method::parse(method))
        .flatten()
    else {
        return fail(e.line, format!("{callee}(...)"));
    };
    let mut path_expr = match args.as_slice() {
        [] => None,
        [p] => Some(p),
        _ => {
            return fail(
                e.line,
                format!("{callee}(...) with more than one positional argument"),
            )
        }
    };
    let mut spec = RequestSpec {
        method: http_method,
        path: String::new(),
        name: String::new(),
        weight: 1,
        headers: BTreeMap::new(),
        body: None,
        // As Locust's clients: HttpUser's head() alone passes
        // allow_redirects=False (requests' Session.head); FastHttpUser
        // follows for every method.
        follow_redirects: !(http_method == Method::Head && client == Client::Requests),
    };
    let mut name = None;
    let mut params = String::new();
    // Headers the client adds unless the task set them.
    let mut implied: Vec<(&str, &str)> = Vec::new();
    let fast = client == Client::Fast;
    let mut seen: Vec<&str> = Vec::new();
    let mut seen_data = false;
    for (k, v) in kwargs {
        if seen.contains(&k.as_str()) {
            return fail(v.line, format!("the argument {k}= given twice"));
        }
        seen.push(k);
        match k.as_str() {
            "url" if path_expr.is_none() => path_expr = Some(v),
            "name" => match &v.kind {
                E::Str(s, StrKind::Text) if !s.chars().any(char::is_control) => {
                    name = Some(s.clone())
                }
                _ => return fail(v.line, format!("name= that is {}", describe(v))),
            },
            // Their default: as not given.
            "json" | "data" | "params" | "headers" if matches!(v.kind, E::Const("None")) => {}
            "headers" => {
                let E::Dict(pairs) = &v.kind else {
                    return fail(v.line, format!("headers= that is {}", describe(v)));
                };
                for (hk, hv) in pairs {
                    let (E::Str(hname, StrKind::Text), E::Str(hvalue, StrKind::Text)) =
                        (&hk.kind, &hv.kind)
                    else {
                        return fail(
                            hk.line,
                            "a header that is not a string literal (name and value)",
                        );
                    };
                    if !is_header_name(hname) || hvalue.chars().any(|c| c.is_control() && c != '\t')
                    {
                        return fail(hk.line, format!("the header {hname:?} (invalid in HTTP)"));
                    }
                    spec.headers.insert(hname.clone(), hvalue.clone());
                }
            }
            "json" => {
                if spec.body.is_some() || seen_data {
                    return fail(v.line, "both json= and data=");
                }
                let mut text = String::new();
                json(v, &mut text)?;
                spec.body = Some(text);
                implied.push(("Content-Type", "application/json"));
                if fast {
                    implied.push(("Accept", "application/json"));
                }
            }
            "data" => {
                if spec.body.is_some() {
                    return fail(v.line, "both json= and data=");
                }
                seen_data = true;
                match &v.kind {
                    // Both clients send no body for an empty one (`if data:`).
                    E::Str(s, StrKind::Text | StrKind::Bytes) if s.is_empty() => {}
                    E::Dict(items) if items.is_empty() => {}
                    E::List(items) | E::Tuple(items) if items.is_empty() && !fast => {}
                    E::Str(s, kind @ (StrKind::Text | StrKind::Bytes)) => {
                        spec.body = Some(s.clone());
                        if fast && *kind == StrKind::Text {
                            implied.push(("Content-Type", "text/plain; charset=utf-8"));
                        }
                    }
                    E::Dict(_) if fast => {
                        spec.body = Some(form(v, false)?);
                        implied.push((
                            "Content-Type",
                            "application/x-www-form-urlencoded; charset=utf-8",
                        ));
                    }
                    E::Dict(_) | E::List(_) | E::Tuple(_) if !fast => {
                        spec.body = Some(form(v, true)?);
                        implied.push(("Content-Type", "application/x-www-form-urlencoded"));
                    }
                    _ => return fail(v.line, format!("data= that is {}", describe(v))),
                }
            }
            "params" if fast => {
                return fail(
                    v.line,
                    "params= with FastHttpUser (geventhttpclient builds the query its own way; write it into the path)",
                )
            }
            "params" => params = form(v, true)?,
            "catch_response" => {
                return fail(v.line, "catch_response= (the task decides what fails)")
            }
            "allow_redirects" => match &v.kind {
                E::Const("True") => spec.follow_redirects = true,
                E::Const("False") => spec.follow_redirects = false,
                _ => return fail(v.line, format!("allow_redirects= that is {}", describe(v))),
            },
            _ => {
                return fail(
                    v.line,
                    format!(
                    "the argument {k}= (lpa translates name=, headers=, json=, data=, params= and allow_redirects=)"
                ),
                )
            }
        }
    }
    let Some(path_expr) = path_expr else {
        return fail(e.line, format!("{callee}() without a path"));
    };
    spec.path = path(path_expr)?;
    if !params.is_empty() {
        spec.path
            .push(if spec.path.contains('?') { '&' } else { '?' });
        spec.path.push_str(&params);
    }
    for (header, value) in implied {
        if !spec.headers.keys().any(|h| h.eq_ignore_ascii_case(header)) {
            spec.headers.insert(header.into(), value.into());
        }
    }
    // Locust names a request by the path it sent, query included.
    spec.name = name.unwrap_or_else(|| spec.path.clone());
    Ok(spec)
}

fn path(e: &Expr) -> R<String> {
    match &e.kind {
        E::Str(s, StrKind::Text) => {
            if s.starts_with("http://") || s.starts_with("https://") {
                return fail(
                    e.line,
                    format!("an absolute URL ({s:?}; the native users send to the host)"),
                );
            }
            if !s.starts_with('/') {
                return fail(e.line, format!("a path that does not start with / ({s:?})"));
            }
            if !s.chars().all(|c| c.is_ascii_graphic()) || s.contains('#') {
                return fail(
                    e.line,
                    format!("a path with spaces, a fragment or characters to escape ({s:?})"),
                );
            }
            Ok(s.clone())
        }
        E::Str(_, StrKind::Format) => fail(e.line, "a path built by an f-string"),
        E::Str(_, StrKind::Bytes) => fail(e.line, "a bytes path"),
        E::Name(n) => fail(e.line, format!("a path from a variable ({n})")),
        E::Computed(what) => fail(e.line, format!("a computed path ({what})")),
        _ => fail(e.line, format!("a path that is {}", describe(e))),
    }
}

/// A literal as Python's `json.dumps` writes it (requests' `json=`): keys in
/// order, `", "` and `": "` separators, non-ASCII escaped.
fn json(e: &Expr, out: &mut String) -> R<()> {
    match &e.kind {
        E::Str(s, StrKind::Text) => json_string(s, out),
        E::Num { int: Some(n), .. } => out.push_str(&n.to_string()),
        E::Num { value, .. } => {
            if !value.is_finite() {
                return fail(e.line, "a number JSON cannot carry (inf or nan)");
            }
            out.push_str(&python_float(*value));
        }
        E::Const("True") => out.push_str("true"),
        E::Const("False") => out.push_str("false"),
        E::Const("None") => out.push_str("null"),
        E::List(items) | E::Tuple(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                json(item, out)?;
            }
            out.push(']');
        }
        E::Dict(pairs) => {
            out.push('{');
            for (i, (k, v)) in pairs.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                let E::Str(key, StrKind::Text) = &k.kind else {
                    return fail(k.line, format!("a JSON key that is {}", describe(k)));
                };
                json_string(key, out);
                out.push_str(": ");
                json(v, out)?;
            }
            out.push('}');
        }
        _ => return fail(e.line, format!("json= holding {}", describe(e))),
    }
    Ok(())
}

fn json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            c if c.is_ascii() && !c.is_ascii_control() => out.push(c),
            c => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{u:04x}"));
                }
            }
        }
    }
    out.push('"');
}

/// Python's `repr` of a float: the shortest digits that read back, with an
/// exponent below 1e-4 and from 1e16.
fn python_float(v: f64) -> String {
    if v == 0.0 {
        return if v.is_sign_negative() { "-0.0" } else { "0.0" }.into();
    }
    let sci = format!("{v:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-4..16).contains(&exp) {
        let s = format!("{v}");
        if s.contains('.') {
            s
        } else {
            format!("{s}.0")
        }
    } else {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    }
}

/// `urlencode(...)` as requests and geventhttpclient encode `data=` and
/// `params=`. requests (`as_requests`) repeats the key of a list value and
/// drops a None value; geventhttpclient takes a dict, no lists, and writes
/// None as `None`.
fn form(e: &Expr, as_requests: bool) -> R<String> {
    let pairs: Vec<(&Expr, &Expr)> = match &e.kind {
        E::Dict(pairs) => pairs.iter().map(|(k, v)| (k, v)).collect(),
        E::List(items) | E::Tuple(items) => items
            .iter()
            .map(|item| match &item.kind {
                E::Tuple(pair) if pair.len() == 2 => Ok((&pair[0], &pair[1])),
                _ => fail(
                    item.line,
                    format!("a form field that is {}", describe(item)),
                ),
            })
            .collect::<R<_>>()?,
        _ => return fail(e.line, format!("form fields that are {}", describe(e))),
    };
    let mut out = String::new();
    for (k, v) in pairs {
        let key = form_value(k)?;
        let values = match &v.kind {
            E::List(items) | E::Tuple(items) if as_requests => items.iter().collect(),
            _ => vec![v],
        };
        let values = values
            .into_iter()
            .filter(|v| !(as_requests && matches!(v.kind, E::Const("None"))))
            .map(form_value)
            .collect::<R<Vec<_>>>()?;
        for value in values {
            if !out.is_empty() {
                out.push('&');
            }
            quote_plus(&key, &mut out);
            out.push('=');
            quote_plus(&value, &mut out);
        }
    }
    Ok(out)
}

/// Python's `str()` of a form key or value.
fn form_value(e: &Expr) -> R<String> {
    Ok(match &e.kind {
        E::Str(s, StrKind::Text | StrKind::Bytes) => s.clone(),
        E::Num { int: Some(n), .. } => n.to_string(),
        E::Num { value, .. } if value.is_finite() => python_float(*value),
        E::Const(c @ ("True" | "False" | "None")) => c.to_string(),
        _ => return fail(e.line, format!("a form value that is {}", describe(e))),
    })
}

/// `urllib.parse.quote_plus`: letters, digits and `_.-~` as they are, a
/// space as `+`, every other byte of the UTF-8 as `%XX`.
fn quote_plus(s: &str, out: &mut String) {
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(source: &str) -> LocustPlan {
        translate("locustfile.py", source).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The error's line and construct.
    fn error(source: &str) -> (usize, String) {
        let e = translate("locustfile.py", source).unwrap_err();
        assert!(
            e.to_string().ends_with(WAYS_OUT),
            "every error says the ways out: {e}"
        );
        (e.line, e.construct)
    }

    fn keys(task: &Task) -> Vec<String> {
        task.requests.iter().map(RequestSpec::key).collect()
    }

    /// The seed guide's locustfile, pre-1.0 API.
    const SEED: &str = include_str!("../../fixtures/locust/seed_locustfile.py");

    #[test]
    fn the_seed_guides_locustfile() {
        let p = plan(SEED);
        assert_eq!(p.classes.len(), 1);
        let c = &p.classes[0];
        assert_eq!((c.name.as_str(), c.line, c.weight), ("WebsiteUser", 8, 1));
        assert_eq!(
            c.wait_time,
            WaitTime::Between(Duration::from_secs(5), Duration::from_secs(9))
        );
        assert!(!c.default_wait);
        assert_eq!(c.host, None);
        assert_eq!(c.tasks.len(), 1);
        assert_eq!(
            (c.tasks[0].name.as_str(), c.tasks[0].weight),
            ("profile", 1)
        );
        assert_eq!(keys(&c.tasks[0]), ["GET_/fibonacci?n=10"]);
        assert_eq!(p.summary(), "1 user class, 1 task");
    }

    /// Locust's clients follow redirects but for HttpUser's head()
    /// (requests' Session.head), unless allow_redirects= says otherwise.
    #[test]
    fn redirects_are_followed_as_each_client_follows_them() {
        let p = plan(
            r#"
from locust import HttpUser, FastHttpUser, task

class Slow(HttpUser):
    @task
    def a(self):
        self.client.get("/a")
        self.client.head("/a")
        self.client.get("/a", allow_redirects=False)
        self.client.head("/a", allow_redirects=True)

class Fast(FastHttpUser):
    @task
    def a(self):
        self.client.post("/a")
        self.client.head("/a")
        self.client.get("/a", allow_redirects=False)
"#,
        );
        let follows = |c: usize| -> Vec<bool> {
            p.classes[c].tasks[0]
                .requests
                .iter()
                .map(|r| r.follow_redirects)
                .collect()
        };
        assert_eq!(follows(0), [true, false, false, true]);
        assert_eq!(follows(1), [true, true, false]);
    }

    #[test]
    fn todays_form_with_weights_hosts_and_several_classes() {
        let p = plan(
            r#"
"""Two kinds of users."""
import random  # unused: inert
from locust import HttpUser, FastHttpUser, task, constant_pacing, constant_throughput

class Reader(HttpUser):
    host = "http://svc:8080/"
    weight = 3
    wait_time = constant_pacing(2)

    @task(3)
    def index(self):
        self.client.get("/", name="home")

    @task
    def item(self):
        """Two calls, in order."""
        self.client.get("/item?id=1")
        self.client.head('/item?id=1')

class Writer(HttpUser):
    wait_time = constant_throughput(0.5)

    @task
    def write(self):
        self.client.post("/items", json={"name": "é", "n": [1, 2.5, True, None]})
        self.client.put("/items/1", data="raw", headers={"X-Id": "7"})
        self.client.delete("/items/1")
        self.client.patch("/items/1", data={"a": "b c", "d": [1, 2]})
        self.client.options("/items")
"#,
        );
        assert_eq!(p.summary(), "2 user classes, 3 tasks");
        let (r, w) = (&p.classes[0], &p.classes[1]);
        assert_eq!((r.weight, r.host.as_deref()), (3, Some("http://svc:8080")));
        assert_eq!(
            r.wait_time,
            WaitTime::ConstantPacing(Duration::from_secs(2))
        );
        assert_eq!(r.tasks.iter().map(|t| t.weight).collect::<Vec<_>>(), [3, 1]);
        assert_eq!(keys(&r.tasks[0]), ["GET_home"]);
        assert_eq!(keys(&r.tasks[1]), ["GET_/item?id=1", "HEAD_/item?id=1"]);
        assert_eq!(w.wait_time, WaitTime::ConstantThroughput(0.5));
        let reqs = &w.tasks[0].requests;
        assert_eq!(
            reqs.iter().map(RequestSpec::key).collect::<Vec<_>>(),
            [
                "POST_/items",
                "PUT_/items/1",
                "DELETE_/items/1",
                "PATCH_/items/1",
                "OPTIONS_/items"
            ]
        );
        assert_eq!(
            reqs[0].body.as_deref(),
            Some(r#"{"name": "\u00e9", "n": [1, 2.5, true, null]}"#)
        );
        assert_eq!(reqs[0].headers["Content-Type"], "application/json");
        assert_eq!(reqs[1].body.as_deref(), Some("raw"));
        assert_eq!(reqs[1].headers.len(), 1);
        assert_eq!(reqs[1].headers["X-Id"], "7");
        assert_eq!(reqs[3].body.as_deref(), Some("a=b+c&d=1&d=2"));
        assert_eq!(
            reqs[3].headers["Content-Type"],
            "application/x-www-form-urlencoded"
        );
        assert_eq!(reqs[2].body, None);
    }

    #[test]
    fn fast_http_user_headers_as_geventhttpclient_sends_them() {
        let p = plan(
            "from locust import FastHttpUser, task\nclass F(FastHttpUser):\n    @task\n    def a(self):\n        self.client.post('/j', json=[1])\n        self.client.post('/t', data='x')\n        self.client.post('/f', data={'a': 1}, headers={'accept': 'text/html'})\n",
        );
        let r = &p.classes[0].tasks[0].requests;
        assert_eq!(r[0].headers["Content-Type"], "application/json");
        assert_eq!(r[0].headers["Accept"], "application/json");
        assert_eq!(r[1].headers["Content-Type"], "text/plain; charset=utf-8");
        assert_eq!(r[2].body.as_deref(), Some("a=1"));
        assert_eq!(
            r[2].headers["Content-Type"],
            "application/x-www-form-urlencoded; charset=utf-8"
        );
        assert_eq!(r[2].headers.get("Accept"), None);
        assert_eq!(r[2].headers["accept"], "text/html");
        // A TaskSet's params= is fine for HttpUser, not for FastHttpUser.
        let set = "from locust import HttpUser, FastHttpUser, TaskSet, task\nclass S(TaskSet):\n    @task\n    def a(self):\n        self.client.get('/a', params={'x': 1})\n";
        assert_eq!(
            keys(&plan(&format!("{set}class U(HttpUser):\n    tasks = [S]\n")).classes[0].tasks[0]),
            ["GET_/a?x=1"]
        );
        let (line, what) = error(&format!("{set}class U(FastHttpUser):\n    tasks = [S]\n"));
        assert_eq!(line, 5);
        assert!(what.starts_with("params= with FastHttpUser"), "{what}");
    }

    #[test]
    fn tasks_lists_dicts_functions_and_defaults() {
        let p = plan(
            r#"
import locust
from locust import HttpUser as Base, between as b

def outside(user):
    user.client.get("/outside", params={"q": "a b", "n": 2})

class U(Base):
    def helper(self):
        self.client.get("/helper?x=1", params=[("y", "2")])
    tasks = {outside: 2, helper: 1}
    wait_time = b(0.5, 1)

class V(locust.HttpUser):
    tasks = [outside, (outside, 3)]

class Hidden(Base):
    abstract = True

class Off(Base):
    weight = 0
    @locust.task
    def t(self): self.client.get("/off")
"#,
        );
        assert_eq!(
            p.classes
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>(),
            ["U", "V"]
        );
        let u = &p.classes[0];
        assert_eq!(
            u.wait_time,
            WaitTime::Between(Duration::from_millis(500), Duration::from_secs(1))
        );
        assert_eq!(keys(&u.tasks[0]), ["GET_/outside?q=a+b&n=2"]);
        assert_eq!(u.tasks[0].weight, 2);
        assert_eq!(keys(&u.tasks[1]), ["GET_/helper?x=1&y=2"]);
        let v = &p.classes[1];
        assert!(v.default_wait, "no wait: Locust's constant(0)");
        assert_eq!(v.wait_time, WaitTime::Constant(Duration::ZERO));
        assert_eq!(v.tasks.iter().map(|t| t.weight).collect::<Vec<_>>(), [1, 3]);
    }

    #[test]
    fn old_min_and_max_wait_are_milliseconds() {
        let p = plan(
            r#"from locust import HttpLocust, TaskSet, task
class B(TaskSet):
    min_wait = 1000
    @task
    def a(self):
        self.locust.client.get("/a")
class U(HttpLocust):
    task_set = B
    host = "http://h"
    min_wait = 5000
    max_wait = 9000
"#,
        );
        assert_eq!(
            p.classes[0].wait_time,
            WaitTime::Between(Duration::from_secs(1), Duration::from_secs(9))
        );
        let (line, what) = error(
            "from locust import HttpLocust, TaskSet, task\nclass B(TaskSet):\n    @task\n    def a(self):\n        self.client.get('/a')\nclass U(HttpLocust):\n    task_set = B\n",
        );
        assert_eq!(line, 6);
        assert!(
            what.contains("without wait_time or min_wait/max_wait"),
            "{what}"
        );
        let (line, what) = error(
            "from locust import HttpLocust, task\nclass U(HttpLocust):\n    min_wait = 100\n    @task\n    def a(self):\n        self.client.get('/a')\n",
        );
        assert_eq!((line, what.as_str()), (3, "min_wait without max_wait"));
        // Locust 1.0 and later read neither on today's classes: not guessed.
        let (line, what) = error(
            "from locust import HttpUser, task\nclass U(HttpUser):\n    min_wait = 100\n    max_wait = 200\n    @task\n    def a(self):\n        self.client.get('/a')\n",
        );
        assert_eq!(
            (line, what.as_str()),
            (3, "min_wait on an HttpUser or FastHttpUser (Locust 1.0 and later ignore it: they do not wait at all; write wait_time = between(MIN, MAX), in seconds)")
        );
        let (line, what) = error(
            "from locust import HttpUser, TaskSet, task\nclass S(TaskSet):\n    max_wait = 9000\n    @task\n    def a(self):\n        self.client.get('/a')\nclass U(HttpUser):\n    tasks = [S]\n",
        );
        assert_eq!(line, 3);
        assert!(what.ends_with("(in its TaskSet)"), "{what}");
        let (line, what) = error(
            "from locust import HttpUser, TaskSet, task\nclass S(TaskSet):\n    @task\n    def a(self):\n        self.client.get('/a')\nclass U(HttpUser):\n    task_set = S\n",
        );
        assert_eq!(
            (line, what.as_str()),
            (7, "task_set on an HttpUser or FastHttpUser (Locust 1.0 and later ignore it: write tasks = [TaskSetName])")
        );
    }

    #[test]
    fn a_taskset_may_set_its_own_wait() {
        let p = plan(
            "from locust import HttpUser, TaskSet, task, constant\nclass S(TaskSet):\n    wait_time = constant(2)\n    @task\n    def a(self):\n        self.user.client.get('/a')\nclass U(HttpUser):\n    tasks = [S]\n    wait_time = constant(1)\n",
        );
        assert_eq!(
            p.classes[0].wait_time,
            WaitTime::Constant(Duration::from_secs(2))
        );
    }

    #[test]
    fn escapes_and_concatenation() {
        let p = plan(
            "from locust import HttpUser, task\nclass U(HttpUser):\n    @task\n    def a(self):\n        self.client.get('/a' \"/b\" '''/c''', name=\"xy\\u00e9\\x41\\101\\q\", headers={r'X-R': r'a\\nb', 'X-T': 'a\\tb'})\n        self.client.post(\"/p\", data=b'\\x00\\n')\n",
        );
        let r = &p.classes[0].tasks[0].requests;
        assert_eq!(r[0].path, "/a/b/c");
        assert_eq!(r[0].name, "xy\u{e9}AA\\q");
        assert_eq!(r[0].headers["X-R"], "a\\nb");
        assert_eq!(r[0].headers["X-T"], "a\tb");
        assert_eq!(r[1].body.as_deref(), Some("\0\n"));
    }

    #[test]
    fn json_numbers_as_python_writes_them() {
        for (v, text) in [
            (1.5, "1.5"),
            (1.0, "1.0"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1e16, "1e+16"),
            (123456789.0, "123456789.0"),
            (-2.5e-7, "-2.5e-07"),
        ] {
            assert_eq!(python_float(v), text, "{v}");
        }
    }

    #[test]
    fn outside_the_subset_is_one_error_with_line_and_construct() {
        let head = "from locust import HttpUser, task, between\n\nclass U(HttpUser):\n    wait_time = between(1, 2)\n";
        let cases: &[(&str, usize, &str)] = &[
            (
                "    def on_start(self):\n        self.client.post('/login', json={'u': 'a'})\n    @task\n    def a(self):\n        self.client.get('/a')\n",
                5,
                "on_start (code that runs before the tasks, such as a login)",
            ),
            (
                "    @task\n    def a(self):\n        for i in range(3):\n            self.client.get('/a')\n",
                7,
                "a for loop",
            ),
            (
                "    @task\n    def a(self):\n        self.client.get(f'/item/{1}')\n",
                7,
                "a path built by an f-string",
            ),
            (
                "    @task\n    def a(self):\n        self.client.get('/item/' + str(1))\n",
                7,
                "a computed path (an expression with +)",
            ),
            (
                "    @task\n    def a(self):\n        self.client.get(PATH)\n",
                7,
                "a path from a variable (PATH)",
            ),
            (
                "    @task\n    def a(self):\n        self.client.request('GET', '/a')\n",
                7,
                "self.client.request(...) (write self.client.get, .post, ... instead)",
            ),
            (
                "    @task\n    def a(self):\n        requests.get('/a')\n",
                7,
                "a call to requests.get(...) (lpa translates only self.client requests)",
            ),
            (
                "    @task\n    def a(self):\n        with self.client.get('/a', catch_response=True) as r:\n            pass\n",
                7,
                "a with block (such as catch_response=True)",
            ),
            (
                "    @task\n    def a(self):\n        self.client.get('/a', timeout=3)\n",
                7,
                "the argument timeout= (lpa translates name=, headers=, json=, data=, params= and allow_redirects=)",
            ),
            (
                "    @task\n    def a(self):\n        self.client.get('/a', allow_redirects=1)\n",
                7,
                "allow_redirects= that is a number",
            ),
            (
                "    @events.test_start.add_listener\n    def a(self):\n        pass\n",
                5,
                "the decorator @events.test_start.add_listener",
            ),
            (
                "    network_timeout = 3.0\n",
                5,
                "the class attribute network_timeout (lpa reads host, weight, wait_time, min_wait, max_wait, tasks, task_set, abstract)",
            ),
            (
                "    @task\n    def a(self):\n        x = 1\n",
                7,
                "an assignment in a task (x = a number)",
            ),
            (
                "    @task\n    def a(self):\n        self.client.get('http://other/a')\n",
                7,
                "an absolute URL (\"http://other/a\"; the native users send to the host)",
            ),
            (
                "    @task\n    def a(self):\n        self.client.get('/a')\n        time.sleep(1)\n",
                8,
                "a call to time.sleep(...) (lpa translates only self.client requests)",
            ),
        ];
        for (body, line, construct) in cases {
            let (l, c) = error(&format!("{head}{body}"));
            assert_eq!((l, c.as_str()), (*line, *construct), "{body}");
        }
    }

    #[test]
    fn module_level_constructs_outside_the_subset() {
        let cases: &[(&str, usize, &str)] = &[
            (
                "import mylib\n",
                1,
                "an import of mylib (importing it may change what is sent)",
            ),
            (
                "from locust import events\nevents.init.add_listener(f)\n",
                2,
                "module-level code (a call to events.init.add_listener(...))",
            ),
            (
                "x = compute()\n",
                1,
                "module-level code (x = a call to compute(...))",
            ),
            ("if True:\n    pass\n", 1, "an if statement"),
            (
                "class C:\n    pass\n",
                1,
                "class C (neither a Locust user nor a TaskSet)",
            ),
            (
                "from locust import User\nclass C(User):\n    pass\n",
                2,
                "a User class without an HTTP client (class C)",
            ),
            (
                "",
                1,
                "a locustfile without an HttpUser or FastHttpUser class (with a weight above 0)",
            ),
            ("x = 'a\n", 1, "an unterminated string"),
            (
                "def f(x y):\n",
                1,
                "invalid Python syntax (unexpected \"y\")",
            ),
            ("class A:\n  pass\n   pass\n", 3, "an unexpected indent"),
            ("(\n", 1, "an unclosed '('"),
            ("x = 1 $ 2\n", 1, "an unexpected character '$'"),
        ];
        for (src, line, construct) in cases {
            let (l, c) = error(src);
            assert_eq!((l, c.as_str()), (*line, *construct), "{src:?}");
        }
        let (l, c) = error(
            "from locust import HttpUser, task\nclass U(HttpUser):\n    @task\n    def a(self):\n        pass\n",
        );
        assert_eq!((l, c.as_str()), (2, "U: tasks that send no request"));
    }

    #[test]
    fn the_error_line_names_file_line_construct_and_both_ways_out() {
        let e = translate(
            "fixtures/x.py",
            "from locust import HttpUser\nclass U(HttpUser):\n    def on_start(self):\n        pass\n",
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "fixtures/x.py:3: cannot translate on_start (code that runs before the tasks, such as a login) for lpa's native users; {WAYS_OUT}"
            )
        );
        assert!(
            e.to_string().contains("`locust` target") && e.to_string().contains("`load:` section")
        );
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let deep = format!("x = {}1{}\n", "[".repeat(10_000), "]".repeat(10_000));
        let (line, what) = error(&deep);
        assert_eq!(line, 1);
        assert!(what.starts_with("nesting deeper than"), "{what}");
        let unary = format!("x = {}1\n", "-".repeat(10_000));
        assert!(error(&unary).1.starts_with("nesting deeper than"));
    }

    #[test]
    fn windows_line_endings_tabs_and_one_line_bodies() {
        let p = plan("from locust import HttpUser, task\r\nclass U(HttpUser):\r\n\t@task\r\n\tdef a(self): self.client.get('/a'); self.client.get('/b')\r\n");
        assert_eq!(keys(&p.classes[0].tasks[0]), ["GET_/a", "GET_/b"]);
    }

    mod never_panics {
        use super::super::translate;
        use proptest::prelude::*;

        const PIECES: &[&str] = &[
            "class ",
            "def ",
            "(",
            ")",
            "[",
            "]",
            "{",
            "}",
            ":",
            ",",
            ".",
            "=",
            "@task",
            "@task(",
            "self",
            ".client",
            ".get",
            "\"/a\"",
            "'",
            "\"",
            "\"\"\"",
            "\\",
            "\n",
            "    ",
            "\t",
            "HttpUser",
            "TaskSet",
            "between(",
            "1",
            "0.5",
            "-",
            "+",
            "#",
            "f'",
            "b'",
            "r'",
            "tasks = ",
            "task_set = ",
            "wait_time = ",
            "from locust import ",
            "import ",
            "pass",
            "lambda",
            "if ",
            "for ",
            "**",
            "*",
            "json=",
            "{'a': ",
            "1e999",
            "0x",
            "_",
            "é",
        ];

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2000))]

            #[test]
            fn on_arbitrary_text(s in "(?s).{0,400}") {
                // An error names a line of the file (\r\n, \r, \n end one).
                if let Err(e) = translate("f.py", &s) {
                    let breaks = s.replace("\r\n", "\n").matches(['\n', '\r']).count();
                    prop_assert!(e.line >= 1 && e.line <= breaks + 1, "line {}", e.line);
                }
            }

            #[test]
            fn on_python_like_pieces(idx in proptest::collection::vec(0..PIECES.len(), 0..80)) {
                let s: String = idx.iter().map(|&i| PIECES[i]).collect();
                let _ = translate("f.py", &s);
            }

            #[test]
            fn on_a_mutated_seed(cut in 0usize..400, insert in "\\PC{0,3}") {
                let seed = super::SEED;
                let at = seed.char_indices().map(|(i, _)| i).nth(cut % seed.chars().count()).unwrap_or(0);
                let s = format!("{}{}{}", &seed[..at], insert, &seed[at..]);
                let _ = translate("f.py", &s);
            }
        }
    }
}
