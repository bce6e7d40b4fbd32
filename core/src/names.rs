//! Kubernetes' naming rules, for the names lpa is given (flags, CPA's
//! input) and puts into API paths and log lines: a name that follows them
//! has no `/`, `?`, space or control character to smuggle in.

pub const SUBDOMAIN_RULE: &str = "DNS-1123 subdomain: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters";
pub const LABEL_RULE: &str =
    "DNS-1123 label: lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters";

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, at most 63 characters (Kubernetes'
/// `IsDNS1123Label`): a namespace.
pub fn is_dns1123_label(s: &str) -> bool {
    s.len() <= 63 && is_dns1123_label_unbounded(s)
}

/// Dot-separated DNS-1123 labels, at most 253 characters (Kubernetes'
/// `IsDNS1123Subdomain`): most objects' names.
pub fn is_dns1123_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(is_dns1123_label_unbounded)
}

// In a subdomain only the whole is bounded (253), not each part.
fn is_dns1123_label_unbounded(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_and_characters() {
        assert!(is_dns1123_label(&"a".repeat(63)));
        assert!(!is_dns1123_label(&"a".repeat(64)));
        assert!(!is_dns1123_label("a.b"));
        assert!(!is_dns1123_label(""));
        assert!(is_dns1123_subdomain(&format!(
            "{}.{}",
            "a".repeat(100),
            "b".repeat(100)
        )));
        assert!(!is_dns1123_subdomain(&"a.".repeat(127)));
        for bad in ["-a", "a-", "A", "a/b", "a?b", "a b", "a\nb", "a..b"] {
            assert!(!is_dns1123_subdomain(bad), "{bad:?}");
        }
    }
}
