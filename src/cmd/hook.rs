//! What the CPA hooks (`lpa metric`, `lpa evaluate`) share: CPA's JSON on
//! stdin. Each answers with one line through `settings::print_line`.

use std::time::Duration;

use lpa_core::config::{Override, Overrides};
use lpa_core::duration::format_duration;
use lpa_core::parse::go_reads_json;
use lpa_core::Policy;
use lpa_drivers::load::LoadPlan;
use serde_yaml::{Mapping, Value};

use crate::settings::{Failure, Result};

/// CPA's inputs are small; a runaway producer must not exhaust memory.
const MAX_STDIN: u64 = 16 << 20;

/// All of stdin, up to [`MAX_STDIN`]; `hook` names it in the error. More
/// is an error of its own: cut there, it read as JSON that ended early
/// ("EOF while parsing a string at line 1 column 16777216").
pub(super) fn read_stdin(hook: &str) -> Result<String> {
    crate::settings::read_text_at_most(std::io::stdin(), MAX_STDIN)
        .map_err(|e| Failure::new(format!("{hook} stdin: cannot read: {e}")))?
        .ok_or_else(|| {
            Failure::new(format!(
                "{hook} stdin: more than {} MiB, more than CPA's JSON for one resource holds",
                MAX_STDIN >> 20
            ))
        })
}

/// CPA's defaults (its config/core.go) and where it looks for its file
/// (main.go).
const CPA_CONFIG_PATH: &str = "/config.yaml";
const CPA_MAX_REPLICAS: u32 = 10;
const CPA_INTERVAL_MS: u64 = 15_000;

/// CPA's settings that decide what becomes of lpa's answer, loaded as CPA
/// loads them (main.go, internal/confload): its defaults, then its config
/// file (env `configPath`, default /config.yaml), then an env var named
/// after each key. The hooks inherit CPA's environment, so they read what
/// CPA read; outside CPA the file is usually absent and the env is all.
#[derive(Debug, Default)]
pub(super) struct CpaConfig {
    /// `minReplicas` and `maxReplicas` of the file; the env's reach the
    /// policy through the flags' env, which come first.
    pub(super) file_bounds: Overrides,
    /// Whether `maxReplicas` is set in the env or the file: unset, CPA
    /// clamps every answer to its default, 10.
    max_set: bool,
    /// `downscaleStabilization`, seconds (0: none).
    window_secs: u64,
    interval_ms: u64,
    /// Whether CPA's config says, or leaves to CPA's default, that the
    /// metric hook runs once per pod.
    per_pod: bool,
    /// `evaluate.timeout`, milliseconds: CPA kills the evaluate hook
    /// past it, and takes no answer.
    pub(super) evaluate_timeout_ms: Option<u64>,
    /// `metric.timeout`, milliseconds (0 when the method sets none), and
    /// where it was read: CPA kills the metric hook past it, and has no
    /// metric that interval. None without a metric method.
    metric_timeout: Option<(u64, String)>,
    /// Why the file named by `configPath` was not read.
    pub(super) warning: Option<String>,
    /// What of CPA's file and env vars CPA refuses, and does not start
    /// with: said by `lpa check` when it checks as CPA (its file read).
    pub(super) refused: Vec<String>,
    /// Whether CPA's config file was read: lpa runs under CPA, or is
    /// checked as it would.
    pub(super) found: bool,
    /// CPA's config file (`configPath`, or its default), read or not.
    pub(super) path: std::path::PathBuf,
}

impl CpaConfig {
    pub(super) fn load(env: impl Fn(&str) -> Option<String>) -> CpaConfig {
        let named = env("configPath").filter(|p| !p.is_empty());
        let path = named.clone().unwrap_or_else(|| CPA_CONFIG_PATH.into());
        let read = go_config_text(std::path::Path::new(&path));
        let found = read.is_ok();
        // Go reads a file that starts with `{` as JSON; one it cannot
        // decode at all stops CPA, and has no method to warn of.
        let json = read.as_deref().is_ok_and(go_reads_json);
        let decodes = read.as_deref().map_or(true, |t| go_refused(t).is_none());
        // Of YAML, CPA reads the first document as Go's YAMLReader cuts
        // it, which may hold less than serde_yaml's first; a text Go
        // refuses (go_refused) is read whole, for what it sets.
        let why = match &read {
            Ok(text) => match go_yaml(go_document(text).unwrap_or(text)) {
                Ok(Value::Mapping(m)) => Ok(m),
                Ok(Value::Null) => Ok(Mapping::new()),
                Ok(_) => Err("CPA's config is not a mapping of settings".to_string()),
                Err(e) => Err(format!("CPA's config is not YAML ({e})")),
            },
            Err(e) if named.is_some() => Err(format!("cannot read CPA's config (configPath): {e}")),
            // Not under CPA, which fails to start without its file.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Mapping::new()),
            // There, but not text (Latin-1): CPA stops on it too.
            Err(e) => Err(format!("cannot read CPA's config: {e}")),
        };
        let refused = match (&read, &why) {
            (Ok(text), Ok(m)) => file_refused(text, m, &path),
            _ => Vec::new(),
        };
        let (file, warning) = match why {
            Ok(m) => (go_fields(&m, &cpa_fields(), json), None),
            Err(why) => (
                Mapping::new(),
                Some(format!("{path}: {why}: if Go's YAML cannot read it either, CPA stops at start-up with \"invalid format of YAML/JSON configuration\"; lpa reads its minReplicas, maxReplicas and downscaleStabilization from the env alone")),
            ),
        };
        // CPA reads an int field's env var with ParseInt and its file's
        // value as a YAML number; a value it would refuse is none here.
        let from_env = |key: &str| env(key).filter(|v| !v.trim().is_empty());
        let from_file = |key: &str| {
            let bits = CPA_INT_KEYS
                .iter()
                .find(|(k, _)| *k == key)
                .map_or(64, |(_, b)| *b);
            let n = go_int(file.get(key)?, bits, json).ok().flatten()?;
            u64::try_from(n).ok()
        };
        let file_count = |key: &str| {
            from_file(key)
                .and_then(|v| u32::try_from(v).ok())
                .map(|value| Override {
                    value,
                    source: path.clone(),
                })
        };
        let int = |key: &str| match from_env(key) {
            Some(v) => v.trim().parse::<u64>().ok(),
            None => from_file(key),
        };
        // CPA reads a method from its env var as YAML or JSON, whole; its
        // timeout, where it was read.
        let timeout_ms = |method: &str| {
            // One CPA refuses is said as such (refused), and has no
            // timeout of its own to warn of.
            let usable = |m: &Value, decodes: bool, json: bool| {
                let m = go_fields(m.as_mapping()?, &METHOD_FIELDS, json);
                (decodes && method_refused(&m, json).is_none()).then_some(m)
            };
            let (value, source) = match from_env(method) {
                Some(v) => (
                    go_env_value(&v)
                        .and_then(|m| usable(&m, go_refused(&v).is_none(), go_reads_json(&v))),
                    format!("the env var {method}"),
                ),
                None => (
                    file.get(method).and_then(|m| usable(m, decodes, json)),
                    path.clone(),
                ),
            };
            // A usable method's timeout is one Go takes (go_int).
            let ms = value?
                .get("timeout")
                .and_then(|t| go_int(t, 64, false).ok().flatten())
                .and_then(|n| u64::try_from(n).ok())
                .unwrap_or(0);
            Some((ms, source))
        };
        CpaConfig {
            refused: refused.into_iter().chain(env_refused(&env)).collect(),
            file_bounds: Overrides {
                min_replicas: file_count("minReplicas"),
                max_replicas: file_count("maxReplicas"),
            },
            // An env var of null sets 0 (go_env_value).
            max_set: from_env("maxReplicas").is_some()
                || file
                    .get("maxReplicas")
                    .is_some_and(|v| go_int(v, 32, json).is_ok_and(|n| n.is_some())),
            window_secs: int("downscaleStabilization").unwrap_or(0),
            interval_ms: int("interval").unwrap_or(CPA_INTERVAL_MS),
            per_pod: match from_env("runMode") {
                Some(mode) => mode == "per-pod",
                None => match file.get("runMode").and_then(go_text).as_deref() {
                    Some(mode) => mode == "per-pod",
                    None => found,
                },
            },
            evaluate_timeout_ms: timeout_ms("evaluate")
                .map(|(ms, _)| ms)
                .filter(|&ms| ms > 0),
            metric_timeout: timeout_ms("metric"),
            warning,
            found,
            path: path.into(),
        }
    }

    /// CPA's `downscaleStabilization`, seconds, when above 0: CPA applies
    /// the highest answer of that window, and the decision reads a count
    /// above its last answer as that window holding a decay
    /// (`Observation::applier_window_secs`), not as a person scaling.
    pub(super) fn window_secs(&self) -> Option<u64> {
        Some(self.window_secs).filter(|&w| w > 0)
    }

    /// Whether CPA's config (file or env) runs the metric hook per pod.
    pub(super) fn per_pod(&self) -> bool {
        self.per_pod
    }

    /// With no `maxReplicas` in CPA's env or file, CPA clamps every answer
    /// to its default, 10: lpa decides within it, or it would answer 11,
    /// see 10 running and take that for someone else's change (its calm
    /// runs counted from 0 again, and the model learning nothing from the
    /// run). Returns the warning when the evaluation config (`name`) asks
    /// for more.
    pub(super) fn bound(&self, policy: &mut Policy, name: &str) -> Option<String> {
        if self.max_set {
            return None;
        }
        let cap = CPA_MAX_REPLICAS.max(policy.min_replicas());
        let warning = policy.max_replicas().filter(|&m| m > cap).map(|m| {
            format!("{name}: maxReplicas: {m} is above CPA's maxReplicas, {cap} (its default, as neither its config nor its env sets one): answers are held at {cap}; set maxReplicas in the CustomPodAutoscaler's config to allow more")
        });
        if policy.max_replicas().is_none_or(|m| m > cap) {
            // Cannot fail: cap is at least the minimum.
            let _ = policy.set_replica_bounds(policy.min_replicas(), Some(cap));
        }
        warning
    }
}

/// CPA's integer settings (config/core.go) and the bits of each Go type:
/// its env sets a Go `int` with ParseInt, and an `int32` or `int64` as
/// YAML or JSON, as it sets its objects; of a value that does not parse,
/// CPA's confload says "invalid format of ... field value" and CPA stops.
const CPA_INT_KEYS: [(&str, u32); 8] = [
    ("interval", 64),
    ("minReplicas", 32),
    ("maxReplicas", 32),
    ("startTime", 64),
    ("logVerbosity", 32),
    ("downscaleStabilization", 64),
    ("initialReadinessDelay", 64),
    ("cpuInitializationPeriod", 64),
];
/// Those of [`CPA_INT_KEYS`] of Go's type `int`, which CPA's env sets with
/// ParseInt: " 5" or "null" stops CPA there, where they are YAML's 5 and
/// null to an `int32`.
const CPA_PARSE_INT_KEYS: [&str; 2] = ["interval", "downscaleStabilization"];

/// `v` as Go's YAML decoding (sigs.k8s.io/yaml, goyaml.v2: YAML 1.1) reads
/// it into an integer field of `bits`, or why it refuses it. A string that
/// YAML 1.1 reads as an integer (`1_000`, octal `017`) is taken as one:
/// serde_yaml reads YAML 1.2, and leaves such text a string whether it was
/// quoted (which Go refuses) or not.
pub(crate) fn go_int(
    v: &Value,
    bits: u32,
    json: bool,
) -> std::result::Result<Option<i64>, &'static str> {
    let n = match v {
        Value::Null => return Ok(None),
        Value::Number(n) if n.is_i64() || n.is_u64() => n.as_i64(),
        Value::Number(n) if !json => n
            .as_f64()
            .filter(|f| f.fract() == 0.0 && f.abs() < 9.2e18)
            .map(|f| f as i64),
        // Text serde_yaml would read as a number was quoted (Go refuses
        // a string); other text may be YAML 1.1's plain integer.
        Value::String(text) if !json => {
            let quoted = matches!(serde_yaml::from_str::<Value>(text), Ok(Value::Number(_)));
            (!quoted).then(|| yaml11_int(text)).flatten()
        }
        _ => None,
    };
    let n = n.ok_or("is not a whole number")?;
    let fits = bits >= 64 || i64::from(i32::MIN) <= n && n <= i64::from(i32::MAX);
    if fits {
        Ok(Some(n))
    } else {
        Err("does not fit CPA's 32-bit field")
    }
}

/// An integer as goyaml.v2's resolve reads one from plain text that
/// starts with a digit or a sign: `_` dropped, then Go's ParseInt with
/// base 0 (`0x`, `0o`, `0b` in either case, `0` for octal), or else a
/// float as YAML 1.1 writes one, which Go's JSON takes into an integer
/// field when whole (`08` is 8, `1e3` 1000).
fn yaml11_int(text: &str) -> Option<i64> {
    yaml11_int_only(text).or_else(|| {
        let f = yaml11_float_value(text)?;
        (f.fract() == 0.0 && f.abs() < 9.2e18).then_some(f as i64)
    })
}

/// An integer as goyaml.v2's resolve reads one, and no float: what an
/// `!!int` tag takes (`!!int 08` and `!!int "1e3"` stop CPA).
fn yaml11_int_only(text: &str) -> Option<i64> {
    if !text.starts_with(|c: char| c.is_ascii_digit() || c == '+' || c == '-') {
        return None;
    }
    let plain: String = text.chars().filter(|&c| c != '_').collect();
    let (negative, unsigned) = match plain.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, plain.strip_prefix('+').unwrap_or(&plain)),
    };
    let lower = unsigned.to_ascii_lowercase();
    let (radix, digits) = if let Some(hex) = lower.strip_prefix("0x") {
        (16, hex)
    } else if let Some(octal) = lower.strip_prefix("0o") {
        (8, octal)
    } else if let Some(bin) = lower.strip_prefix("0b") {
        (2, bin)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..])
    } else {
        (10, lower.as_str())
    };
    (!digits.is_empty() && digits.chars().all(|c| c.is_digit(radix)))
        .then(|| {
            i64::from_str_radix(
                &format!("{}{digits}", if negative { "-" } else { "" }),
                radix,
            )
            .ok()
        })
        .flatten()
}

/// YAML `text` as Go's goyaml.v2 reads it: lpa's YAML, or, where that
/// refuses a value its `!!` tag names (`!!bool yes`, `!!int 017`, which
/// serde_yaml reads as YAML 1.2), the tags resolved as goyaml.v2 resolves
/// them (YAML 1.1): CPA ran with the file's maxReplicas, lpa read the file
/// as no YAML and its bounds from the env alone. Either way, a tag
/// goyaml.v2 ignores (any on a mapping or a list) is dropped, and a
/// local one on a scalar makes it text, as to Go.
fn go_yaml(text: &str) -> std::result::Result<Value, String> {
    if !(text.contains("!!") || text.contains(VERBATIM)) {
        return go_tags(lpa_core::parse::yaml_value(text)?);
    }
    // lpa's own tag keeps the scalar's text for goyaml's rules, where
    // serde_yaml's own reads YAML 1.2 (`!!float 017` is 17 to it, 15 to
    // Go). A `!!` inside a quoted string is read as a tag's too, which
    // changes only text lpa shows. `!!merge <<` is `<<`.
    let local = unverbatim(text)
        .replace("!!merge <<", "<<")
        .replace("!!", GO_TAG);
    match lpa_core::parse::yaml_value(&local) {
        Ok(value) => go_tags(value),
        Err(_) => go_tags(lpa_core::parse::yaml_value(text)?),
    }
}

/// `text` with YAML's own verbatim tags (`!<tag:yaml.org,2002:int>`)
/// written as the `!!` they are (`!!int`).
fn unverbatim(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(VERBATIM) {
        out.push_str(&rest[..at]);
        let after = &rest[at + VERBATIM.len()..];
        match after.find('>') {
            Some(end) if !after[..end].contains(char::is_whitespace) => {
                out.push_str("!!");
                out.push_str(&after[..end]);
                rest = &after[end + 1..];
            }
            _ => {
                out.push_str(VERBATIM);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The tag `!!` is made for [`go_yaml`]'s second reading.
const GO_TAG: &str = "!lpa-go-";
/// How a verbatim tag of YAML's own spells `!!`.
const VERBATIM: &str = "!<tag:yaml.org,2002:";

/// `value` with [`GO_TAG`]'s tags resolved as goyaml.v2 resolves `!!`
/// tags (resolve.go), and any other tag as goyaml.v2 takes it: ignored on
/// a mapping or a list (decode.go keeps a node's tag for scalars alone),
/// the scalar's text on a scalar (an unknown tag resolves to a string).
fn go_tags(value: Value) -> std::result::Result<Value, String> {
    Ok(match value {
        Value::Tagged(t) => {
            let tag = t.tag.to_string();
            let inner = go_tags(t.value)?;
            if matches!(inner, Value::Mapping(_) | Value::Sequence(_)) {
                inner
            } else {
                match tag.strip_prefix(GO_TAG) {
                    Some(kind) => go_tagged(kind, inner)?,
                    None => go_text(&inner).map_or(inner, Value::String),
                }
            }
        }
        Value::Mapping(m) => Value::Mapping(
            m.into_iter()
                .map(|(k, v)| Ok((go_tags(k)?, go_tags(v)?)))
                .collect::<std::result::Result<_, String>>()?,
        ),
        Value::Sequence(s) => Value::Sequence(
            s.into_iter()
                .map(go_tags)
                .collect::<std::result::Result<_, _>>()?,
        ),
        other => other,
    })
}

/// A scalar under goyaml.v2's `!!kind`, or why goyaml.v2 refuses it
/// (resolve.go: its YAML 1.1 ints, floats, bools and nulls; a tag it
/// does not know leaves the text).
fn go_tagged(kind: &str, v: Value) -> std::result::Result<Value, String> {
    let text = match &v {
        Value::Null => String::new(),
        v => go_text(v).unwrap_or_default(),
    };
    let refused = || {
        format!(
            "cannot decode {} as a !!{kind}",
            serde_json::to_string(&v).unwrap_or_default()
        )
    };
    // goyaml.v2 reads an integer first (ParseInt, base 0), then a float.
    let int = || match &v {
        Value::Number(n) if n.is_i64() || n.is_u64() => Some(v.clone()),
        Value::String(t) => yaml11_int_only(t).map(Value::from),
        _ => None,
    };
    let resolved = match kind {
        "int" => int(),
        "float" => int()
            .and_then(|i| i.as_f64())
            .or_else(|| match &v {
                Value::Number(n) => n.as_f64(),
                Value::String(t) => yaml11_float_value(t),
                _ => None,
            })
            .map(Value::from),
        "bool" => match text.as_str() {
            "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
                Some(Value::Bool(true))
            }
            "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off"
            | "OFF" => Some(Value::Bool(false)),
            _ => None,
        },
        "null" => {
            matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL").then_some(Value::Null)
        }
        // decode.go base64-decodes every !!binary scalar.
        "binary" => base64(&text)
            .and_then(|b| String::from_utf8(b).ok())
            .map(Value::String),
        // !!str, and any other tag on a scalar (!!seq, !!timestamp, one
        // goyaml.v2 does not know): resolve.go leaves its text.
        _ => Some(Value::String(text.clone())),
    };
    resolved.ok_or_else(refused)
}

/// Standard base64 (Go's base64.StdEncoding, padded), whitespace
/// dropped as goyaml.v2 drops it; `None` where Go refuses it.
fn base64(text: &str) -> Option<Vec<u8>> {
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if !digits.len().is_multiple_of(4) {
        return None;
    }
    let value = |b: u8| match b {
        b'A'..=b'Z' => Some(b - b'A'),
        b'a'..=b'z' => Some(b - b'a' + 26),
        b'0'..=b'9' => Some(b - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let quads = digits.len() / 4;
    let mut out = Vec::with_capacity(quads * 3);
    for (i, quad) in digits.chunks(4).enumerate() {
        let pad = quad.iter().rev().take_while(|&&b| b == b'=').count();
        if pad > 2 || (pad > 0 && i + 1 != quads) {
            return None;
        }
        let mut n = 0u32;
        for &b in &quad[..4 - pad] {
            n = n << 6 | u32::from(value(b)?);
        }
        n <<= 6 * pad;
        out.extend_from_slice(&n.to_be_bytes()[1..4 - pad]);
    }
    Some(out)
}

/// A float as goyaml.v2 reads one from plain text: `_` dropped, then
/// YAML 1.1's float ([`yaml11_float`]).
fn yaml11_float_value(text: &str) -> Option<f64> {
    let plain: String = text.chars().filter(|&c| c != '_').collect();
    yaml11_float(&plain).then(|| plain.parse().ok()).flatten()
}

/// Whether `plain` is a float as goyaml.v2 writes one (its yamlStyleFloat:
/// `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`).
fn yaml11_float(plain: &str) -> bool {
    let digits = |s: &str| s.bytes().take_while(u8::is_ascii_digit).count();
    let rest = plain.strip_prefix(['+', '-']).unwrap_or(plain);
    let rest = match rest.strip_prefix('.') {
        Some(fraction) => match digits(fraction) {
            0 => return false,
            n => &fraction[n..],
        },
        None => match digits(rest) {
            0 => return false,
            n => {
                let after = &rest[n..];
                after.strip_prefix('.').map_or(after, |f| &f[digits(f)..])
            }
        },
    };
    match rest.strip_prefix(['e', 'E']) {
        None => rest.is_empty(),
        Some(exponent) => {
            let exponent = exponent.strip_prefix(['+', '-']).unwrap_or(exponent);
            !exponent.is_empty() && digits(exponent) == exponent.len()
        }
    }
}
/// Beside [`CPA_METHOD_KEYS`], CPA's fields read as YAML or JSON objects.
const CPA_OBJECT_KEYS: [&str; 2] = ["scaleTargetRef", "apiConfig"];

/// What CPA's env sets that CPA refuses: lpa reads such a value as unset,
/// which CPA never runs with, so `lpa check` says it.
fn env_refused(env: impl Fn(&str) -> Option<String>) -> Vec<String> {
    let shown = |v: &str| {
        let cut: String = v.chars().take(80).collect();
        let more = if cut.len() < v.len() { "..." } else { "" };
        format!("{cut:?}{more}")
    };
    let ints = CPA_INT_KEYS.iter().filter_map(|&(key, bits)| {
        let v = env(key)?;
        if CPA_PARSE_INT_KEYS.contains(&key) {
            return v.parse::<i64>().is_err().then(|| {
                format!(
                    "CPA's env var {key}={} is not an integer: CPA stops at start-up with \"invalid format of integer field value\"",
                    shown(&v)
                )
            });
        }
        let value = go_env_value(&v);
        if value.as_ref().is_some_and(Value::is_null) {
            let zero = match key {
                "maxReplicas" => ": CPA scales the workload to 0",
                "startTime" => ": CPA panics at start-up (it divides by startTime) and never scales",
                _ => "",
            };
            return Some(format!(
                "CPA's env var {key}={} is null, which CPA decodes as 0, not as its default{zero}",
                shown(&v)
            ));
        }
        let why = go_refused(&v).or_else(|| go_int(&value?, bits, go_reads_json(&v)).err())?;
        Some(format!(
            "CPA's env var {key}={} {why}: CPA stops at start-up with \"invalid format of YAML/JSON field value\"",
            shown(&v)
        ))
    });
    let objects = CPA_OBJECT_KEYS.iter().chain(&CPA_METHOD_KEYS).filter_map(|&key| {
        let v = env(key)?;
        let value = go_env_value(&v);
        if ["evaluate", "metric"].contains(&key) && value.as_ref().is_some_and(Value::is_null) {
            return Some(format!(
                "CPA's env var {key}={} is null, which leaves CPA no {key} method: CPA fails at its first {key}",
                shown(&v)
            ));
        }
        let why = go_refused(&v).or_else(|| object_refused(key, value.as_ref(), go_reads_json(&v)))?;
        Some(format!(
            "CPA's env var {key}={} {why}: CPA stops at start-up with \"invalid format of YAML/JSON field value\"",
            shown(&v)
        ))
    });
    let mode = env("runMode")
        .filter(|m| !RUN_MODES.contains(&m.as_str()))
        .map(|m| format!("CPA's env var runMode={} {UNKNOWN_MODE}", shown(&m)));
    let crashes = ["interval", "startTime"].into_iter().filter_map(|key| {
        let v = env(key)?;
        let n = if CPA_PARSE_INT_KEYS.contains(&key) {
            v.parse::<i64>().ok()?
        } else {
            go_int(&go_env_value(&v)?, 64, go_reads_json(&v))
                .ok()
                .flatten()?
        };
        let why = go_crash(key, n)?;
        Some(format!("CPA's env var {key}={} {why}", shown(&v)))
    });
    // CPA reads the file the env var names, set, whatever it holds.
    let path = env("configPath")
        .filter(String::is_empty)
        .map(|_| "CPA's env var configPath is empty: CPA cannot read a config at \"\" and stops at start-up with \"Fail to read configuration file\"".to_string());
    ints.chain(objects)
        .chain(mode)
        .chain(crashes)
        .chain(path)
        .collect()
}

/// A scalar as Go reads it into a string field (sigs.k8s.io/yaml turns a
/// number or a boolean into its text).
fn go_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Why CPA panics on `n` as its `key` (main.go), where it decodes it.
fn go_crash(key: &str, n: i64) -> Option<&'static str> {
    match (key, n) {
        ("interval", ..=0) => Some("is not above 0: CPA panics as it starts its loop (Go's time.NewTicker refuses a non-positive interval) and never scales"),
        // Milliseconds made a Go Duration (nanoseconds) past int64.
        ("interval", n) if n > i64::MAX / 1_000_000 => Some("is more milliseconds than Go's time.Duration holds: negative once multiplied, CPA panics as it starts its loop and never scales"),
        ("startTime", 0) => Some("is 0: CPA panics at start-up (it divides by startTime) and never scales"),
        _ => None,
    }
}

/// CPA's run modes, which it compares as written (metricget.go).
const RUN_MODES: [&str; 2] = ["per-pod", "per-resource"];
const UNKNOWN_MODE: &str = "is neither per-pod nor per-resource as CPA compares it, space and case included: CPA fails every interval with \"unknown run mode\" and never scales";

/// CPA's config file as text Go reads: UTF-8; UTF-16 with its byte order
/// mark, which goyaml.v2 decodes (readerc.go); and JSON whose strings hold
/// bytes that are not UTF-8, which Go's encoding/json takes (a Latin-1
/// `namespace`): lpa said CPA stops on them, and decided without the
/// file's bounds. Bytes Go refuses (not UTF-8 in YAML) are an error.
fn go_config_text(path: &std::path::Path) -> std::io::Result<String> {
    let bytes = lpa_drivers::files::read_settings(path)?;
    let utf16 = |big: bool| {
        let units: Vec<u16> = bytes[2..]
            .chunks(2)
            .map(|c| {
                let pair = [c[0], c.get(1).copied().unwrap_or(0)];
                if big {
                    u16::from_be_bytes(pair)
                } else {
                    u16::from_le_bytes(pair)
                }
            })
            .collect();
        String::from_utf16(&units)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
    };
    match bytes.get(..2) {
        Some([0xFF, 0xFE]) => return utf16(false),
        Some([0xFE, 0xFF]) => return utf16(true),
        _ => {}
    }
    match String::from_utf8(bytes) {
        Ok(text) => Ok(text),
        Err(e) => {
            let lossy = String::from_utf8_lossy(e.as_bytes()).into_owned();
            if go_reads_json(&lossy) {
                Ok(lossy)
            } else {
                crate::settings::utf8_text(e.into_bytes(), false)
            }
        }
    }
}

/// What Go decodes from the text of CPA's env var: JSON, or YAML's first
/// document as Go's YAML reader cuts it (`# max`, `---`, `5` is a comment
/// alone: null). CPA decodes it into a fresh zero value, so a null sets a
/// number to 0 and a method to none, where its file's null leaves the
/// default; `None` where it does not decode.
pub(crate) fn go_env_value(text: &str) -> Option<Value> {
    go_yaml(go_document(text)?).ok()
}

/// The text Go decodes of `text`: the whole of JSON, the first document
/// of YAML ([`go_first_document`]); `None` where Go refuses the cut.
fn go_document(text: &str) -> Option<&str> {
    if go_reads_json(text) {
        Some(text)
    } else {
        go_first_document(text).ok()
    }
}

/// What of CPA's config file `text` (read as `file`) CPA refuses, as Go
/// decodes it into CPA's Config (confload's loadFromBytes): the file whole
/// is refused, and CPA does not start. Before, lpa read such a value as
/// unset, and its advice followed from that (a timeout of 3000.5 read as
/// none, "set its timeout").
fn file_refused(text: &str, read: &Mapping, path: &str) -> Vec<String> {
    let stops = "CPA stops at start-up with \"invalid format of YAML/JSON configuration\"";
    if let Some(why) = go_refused(text) {
        return vec![format!("CPA's config {path} {why}: {stops}")];
    }
    let json = go_reads_json(text);
    // Go decodes every key of a field, and stops at any it refuses.
    let spellings = go_spellings(read, &cpa_fields(), json);
    let values = |key: &'static str| {
        spellings
            .iter()
            .filter(move |(field, _)| *field == key)
            .flat_map(|(_, values)| values.iter().copied())
    };
    let ints = CPA_INT_KEYS.iter().filter_map(|&(key, bits)| {
        values(key).find_map(|v| {
            let why = go_int(v, bits, json).err()?;
            Some(format!(
                "CPA's config {path}: {key}: {} {why}: {stops}",
                serde_json::to_string(v).unwrap_or_default()
            ))
        })
    });
    let objects = CPA_OBJECT_KEYS
        .iter()
        .chain(&CPA_METHOD_KEYS)
        .filter_map(|&key| {
            values(key).find_map(|v| {
                let why = object_refused(key, Some(v), json)?;
                Some(format!("CPA's config {path}: {key} {why}: {stops}"))
            })
        });
    // `read` is Go's first document: settings past it CPA never reads.
    let unread = (!json).then(|| unread_settings_line(text)).flatten().map(|line| {
        if read.is_empty() {
            format!("CPA's config {path}: CPA reads only its first YAML document, the lines before its first --- line, which hold no settings (a comment or a blank line makes a document to Go's YAML reader): CPA runs on its defaults and env alone; remove what comes before the ---, or the --- line")
        } else {
            format!("CPA's config {path}: the settings from line {line} on follow a --- or ... line, in a YAML document past its first, which CPA never reads: CPA runs without them; move them into the first document")
        }
    });
    let fields = go_fields(read, &cpa_fields(), json);
    // CPA clamps every answer to it, and Kubernetes refuses a negative
    // count; lpa took it for none set, and CPA's default 10.
    let crashes = ["interval", "startTime"].into_iter().filter_map(|key| {
        let n = go_int(fields.get(key)?, 64, json).ok().flatten()?;
        let why = go_crash(key, n)?;
        Some(format!("CPA's config {path}: {key}: {n} {why}"))
    });
    let negative = fields
        .get("maxReplicas")
        .and_then(|v| go_int(v, 32, json).ok().flatten())
        .filter(|&n| n < 0)
        .map(|n| {
            format!("CPA's config {path}: maxReplicas: {n} is below 0: CPA asks for {n} replicas every interval, which Kubernetes refuses, and never scales")
        });
    // Into CPA's string field, sigs.k8s.io/yaml makes a number or a
    // boolean its text: `runMode: 5` is "5".
    // Into CPA's string field: YAML's number or boolean is its text
    // (sigs.k8s.io/yaml), JSON's is refused (encoding/json), as is a
    // mapping or a list in either; null leaves the default.
    let mode = fields.get("runMode").and_then(|m| {
        let shown = serde_json::to_string(m).unwrap_or_default();
        match (m, go_text(m)) {
            (Value::Null, _) => None,
            (_, Some(t)) if !json || m.is_string() => (!RUN_MODES.contains(&t.as_str()))
                .then(|| format!("CPA's config {path}: runMode: {shown} {UNKNOWN_MODE}")),
            _ => Some(format!(
                "CPA's config {path}: runMode: {shown} is not a string: {stops}"
            )),
        }
    });
    ints.chain(objects)
        .chain(crashes)
        .chain(negative)
        .chain(mode)
        .chain(unread)
        .collect()
}

/// The most documents past its first of CPA's config that are read for
/// the settings CPA never reads: each may hold a million values of
/// aliases, and 5000 of them took `lpa evaluate` 37 s.
const MAX_DOCUMENTS_READ: usize = 8;

/// The first line of settings in YAML `text` that CPA never reads, for
/// they are in a document past its first: after a `---` line that
/// follows any other (Go's YAMLReader ends the first document there, at a
/// comment's too), or after a `...` line (goyaml ends it there). lpa
/// warned only where the first document held no settings at all.
fn unread_settings_line(text: &str) -> Option<usize> {
    let marker = |line: &str| {
        ["---", "..."].iter().any(|m| {
            line.strip_prefix(m).is_some_and(|rest| {
                let rest = rest.trim();
                rest.is_empty() || rest.starts_with('#')
            })
        })
    };
    // Where each document past the first starts: its line and offset. Of
    // the first few: each is read, with its aliases, to find settings.
    let mut starts = Vec::new();
    let mut at = 0;
    for (n, line) in text.split_inclusive('\n').enumerate() {
        at += line.len();
        if marker(line) && (n > 0 || line.starts_with("...")) {
            starts.push((n + 2, at));
        }
    }
    starts
        .iter()
        .take(MAX_DOCUMENTS_READ)
        .enumerate()
        .find_map(|(i, &(line, from))| {
            let to = starts.get(i + 1).map_or(text.len(), |&(_, to)| to);
            let settings = lpa_core::parse::yaml_value(&text[from..to]);
            matches!(settings, Ok(Value::Mapping(m)) if !m.is_empty()).then_some(line)
        })
}

/// Why Go refuses `value` (of the field `key`) as CPA's object or method;
/// `json` when Go read it as JSON. A value that did not parse as YAML
/// (`None`) is no mapping.
fn object_refused(key: &str, value: Option<&Value>, json: bool) -> Option<&'static str> {
    match value {
        // Go decodes null into the field's pointer: unset, no error.
        Some(Value::Null) => None,
        Some(Value::Mapping(m)) if CPA_METHOD_KEYS.contains(&key) => method_refused(m, json),
        Some(Value::Mapping(_)) => None,
        _ => Some("is not a YAML or JSON mapping"),
    }
}

/// Why Go's YAMLOrJSONDecoder refuses `text` before any field: JSON that
/// does not parse (`{timeout: 3000}` is YAML, and JSON to Go), or YAML
/// with no document or a bad separator ([`go_first_document`]).
fn go_refused(text: &str) -> Option<&'static str> {
    if go_reads_json(text) {
        let first = serde_json::Deserializer::from_str(text)
            .into_iter::<serde_json::Value>()
            .next();
        return (!matches!(first, Some(Ok(_))))
            .then_some("starts with { and is not JSON, as Go reads it");
    }
    go_first_document(text).err()
}

/// The first document of YAML `text` as Go's YAMLReader reads it: its
/// lines up to the first `---` line after any other, a `---` first line,
/// comments and blank lines included (a comment, then `---`, then
/// settings: CPA reads the comment alone, and none of the settings; so
/// `---`, `---`, settings); or why it refuses the text: no document (an
/// empty text: EOF; `---` alone is a document, of null), or more than a
/// comment after a line's `---`.
fn go_first_document(text: &str) -> std::result::Result<&str, &'static str> {
    if text.is_empty() {
        return Err("holds no YAML document (Go's decoder answers EOF)");
    }
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        if let Some(rest) = line.strip_prefix("---") {
            let rest = rest.trim();
            if !(rest.is_empty() || rest.starts_with('#')) {
                return Err(
                    "has more than a comment after --- on a line, which Go's YAML reader refuses",
                );
            }
            if at > 0 {
                return Ok(&text[..at]);
            }
        }
        at += line.len();
    }
    Ok(text)
}

/// The fields of CPA's Config (config/core.go), by their JSON names:
/// its integers, objects and methods, and these.
const CPA_OTHER_FIELDS: [&str; 4] = [
    "namespace",
    "runMode",
    "kubernetesMetricSpecs",
    "requireKubernetesMetrics",
];

fn cpa_fields() -> Vec<&'static str> {
    CPA_INT_KEYS
        .iter()
        .map(|(key, _)| *key)
        .chain(CPA_OBJECT_KEYS)
        .chain(CPA_METHOD_KEYS)
        .chain(CPA_OTHER_FIELDS)
        .collect()
}
/// The fields of CPA's Method (config/execute.go).
const METHOD_FIELDS: [&str; 4] = ["type", "timeout", "shell", "http"];

/// Each of a Go struct's `fields` that `read` sets, with the values of
/// its keys in the order Go's JSON decoding sets the field from them: a
/// key names the field its name matches with case folded (`MaxReplicas`,
/// `maxreplicas`; Go folds `ſ` to s and the Kelvin sign to k too), in the
/// order of the keys sorted where sigs.k8s.io/yaml writes a YAML mapping
/// as JSON, as written of JSON. Keys of no field are left out. lpa read
/// the exact name alone, and decided within CPA's default bounds where
/// CPA held `MaxReplicas: 3`.
fn go_spellings<'a>(
    read: &'a Mapping,
    fields: &[&'static str],
    json: bool,
) -> Vec<(&'static str, Vec<&'a Value>)> {
    let fold = |s: &str| -> String {
        s.chars()
            .map(|c| match c {
                '\u{17f}' => 'S',
                '\u{212a}' => 'K',
                c => c.to_ascii_uppercase(),
            })
            .collect()
    };
    let mut found: Vec<(&str, Vec<(&str, &Value)>)> = Vec::new();
    for (key, value) in read {
        let Some(key) = key.as_str() else { continue };
        let Some(&field) = fields.iter().find(|f| fold(f) == fold(key)) else {
            continue;
        };
        match found.iter_mut().find(|(f, _)| *f == field) {
            Some((_, keys)) => keys.push((key, value)),
            None => found.push((field, vec![(key, value)])),
        }
    }
    found
        .into_iter()
        .map(|(field, mut keys)| {
            if !json {
                keys.sort_by_key(|&(key, _)| key);
            }
            (field, keys.into_iter().map(|(_, value)| value).collect())
        })
        .collect()
}

/// What `read` sets each of `fields` to, as Go's JSON decoding leaves it
/// ([`go_spellings`]): the last value, where a null sets a pointer (a
/// method, an object, a list) to none and leaves any other field as it
/// was (`maxReplicas: 5` then `maxreplicas: null` is 5).
fn go_fields(read: &Mapping, fields: &[&'static str], json: bool) -> Mapping {
    let pointer = |field: &str| {
        CPA_METHOD_KEYS.contains(&field)
            || CPA_OBJECT_KEYS.contains(&field)
            || ["kubernetesMetricSpecs", "shell", "http"].contains(&field)
    };
    go_spellings(read, fields, json)
        .into_iter()
        .filter_map(|(field, values)| {
            let set = if pointer(field) {
                values.last()
            } else {
                values.iter().rev().find(|v| !v.is_null())
            };
            Some((Value::from(field), (*set?).clone()))
        })
        .collect()
}

/// CPA's fields of its type `Method`.
const CPA_METHOD_KEYS: [&str; 8] = [
    "preMetric",
    "postMetric",
    "preEvaluate",
    "postEvaluate",
    "preScale",
    "postScale",
    "evaluate",
    "metric",
];

/// What of a method Go's decoding into CPA's `Method` refuses (`Timeout
/// int`, `Type string`): a timeout of `"12000"` or 2.5 stops CPA, where it
/// was read as no timeout. A float with a whole value (3000.0) Go takes in
/// YAML, and refuses in JSON (`json`).
fn method_refused(method: &Mapping, json: bool) -> Option<&'static str> {
    let method = go_fields(method, &METHOD_FIELDS, json);
    match (method.get("timeout"), method.get("type")) {
        (Some(t), _) if go_int(t, 64, json).is_err() => {
            Some("has a timeout that is not a whole number of milliseconds")
        }
        (_, Some(t)) if !(t.is_string() || t.is_null()) => Some("has a type that is not a string"),
        _ => None,
    }
}

/// `lpa check`'s warnings on the probe's length against CPA's clock, from
/// CPA's config file when it was read: CPA kills a metric hook that runs
/// past `metric.timeout` and takes no metric (no scale that interval, and
/// its log says only "timed out"), and a probe as long as `interval` keeps
/// its load on the service all the time.
pub(super) fn cpa_probe_warnings(plan: &LoadPlan, locust: bool, cpa: &CpaConfig) -> Vec<String> {
    if !cpa.found {
        return Vec::new();
    }
    let mut warnings = Vec::new();
    let run = format_duration(plan.run_time);
    // Locust takes a second or two to start before its run time counts.
    let startup = Duration::from_secs(if locust { 2 } else { 0 });
    let longest = plan.run_time + plan.grace + startup;
    if let Some((ms, source)) = &cpa.metric_timeout {
        let startup = if locust {
            " and Locust's start-up (2 s)"
        } else {
            ""
        };
        let within = match ms {
            // CPA waits time.After(0): the hook is killed as it starts.
            0 => "sets no timeout (0 ms), and CPA kills the hook as it starts".to_string(),
            ms if Duration::from_millis(*ms) <= longest => format!(
                "timeout {ms} ms is within the load test's {run}, its {} grace{startup}",
                format_duration(plan.grace)
            ),
            _ => String::new(),
        };
        if !within.is_empty() {
            warnings.push(format!(
                "CPA's metric method ({source}) {within}: the metric hook does not answer, and CPA scales nothing; set its timeout a few seconds above {} ms, or shorten the run time (locustRunTime, --run-time or load.runTime)",
                longest.as_millis(),
            ));
        }
    }
    if plan.run_time.as_millis() >= u128::from(cpa.interval_ms) {
        warnings.push(format!(
            "the load test runs {run} of every {} ms interval of CPA's: the service is always under lpa's load, and measured with it as its own; keep the interval above the run time",
            cpa.interval_ms
        ));
    }
    warnings
}

/// Why the metric hook does not start its load test: CPA's metric
/// timeout (its file read) ends before the run time does, so CPA kills
/// every run before it answers, and its log says only "timed out" (it
/// drops the hook's stderr then). Said as an error, which CPA logs with
/// the hook's stderr; a timeout that only a hung service or Locust's
/// start-up would reach is `lpa check`'s warning, not this.
pub(super) fn cpa_metric_timeout_error(plan: &LoadPlan, cpa: &CpaConfig) -> Option<String> {
    let (ms, source) = cpa.metric_timeout.as_ref().filter(|_| cpa.found)?;
    (*ms > 0 && Duration::from_millis(*ms) <= plan.run_time).then(|| {
        format!(
            "CPA's metric method ({source}) timeout {ms} ms is within the load test's run time {}: CPA kills this hook before it answers, every interval, and scales nothing; set the timeout a few seconds above {} ms, or shorten the run time (locustRunTime, --run-time or load.runTime)",
            format_duration(plan.run_time),
            (plan.run_time + plan.grace).as_millis()
        )
    })
}

/// `lpa check`'s note on CPA's window: how long it holds each decay. A
/// window shorter than CPA's `interval` (milliseconds, default 15000)
/// holds only the answer of the run itself.
pub(super) fn cpa_window_note(policy: &Policy, cpa: &CpaConfig) -> Option<String> {
    let window = cpa.window_secs()?;
    if policy.decay().replicas == 0 || window.saturating_mul(1000) < cpa.interval_ms {
        return None;
    }
    Some(format!(
        "CPA's downscaleStabilization ({window}s) delays each decay that long: CPA applies the highest answer of its window, and lpa answers a decay again at each calm run until CPA applies it (the evaluation config's downscaleStabilization holds decays inside the decision instead)"
    ))
}
