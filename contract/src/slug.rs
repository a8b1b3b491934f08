//! Slugs: the URL-safe names of products and categories. command-api makes and checks
//! them, query-api checks them, and the upcaster derives them for events written before
//! products had one (apart from `event` so that `event` → `upcast` → `slug` has no cycle).

/// Whether `s` is a slug as every program accepts one: 1 to 100 characters of a-z, 0-9
/// and `-` (what [`slugify`] makes).
pub fn is_slug(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 100
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// A URL-safe slug of a product or category name: lowercase ASCII letters and digits
/// joined by single dashes.
pub fn slugify(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    while out.ends_with('-') {
        out.pop();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_lowercase_words_joined_by_dashes() {
        assert_eq!(slugify("  Ultra Phone X (2026)! "), "ultra-phone-x-2026");
    }

    #[test]
    fn a_slug_is_what_slugify_makes() {
        assert!(is_slug(&slugify("Travel Camera 3")));
        assert!(!is_slug("Travel Camera"));
        assert!(!is_slug(""));
    }
}
