//! Names someone else chose (a team's, a person's, an account's on a network), made fit to
//! show in a mail: no invisible characters that reorder or hide text, one line, bounded.

use unicode_general_category::{get_general_category, GeneralCategory};

/// How much of an account's display name or a team's name a mail shows.
pub const NAME_CHARS: usize = 80;
/// How much of a person's name a mail shows.
pub const PERSON_CHARS: usize = 60;

/// Display text from a name someone else chose: control and format characters (general
/// categories Cc and Cf: the bidi embeddings, overrides and isolates U+202A–U+202E and
/// U+2066–U+2069, the marks U+200E, U+200F and U+061C, zero-width characters) are removed,
/// every run of whitespace becomes one space, leading and trailing whitespace goes, and a
/// name longer than `max` characters keeps its first `max` and ends in "…".
pub fn clean_name(raw: &str, max: usize) -> String {
    let mut out = String::with_capacity(raw.len().min(max.saturating_mul(4)) + 3);
    let mut kept = 0;
    let mut space = false;
    for c in raw.chars() {
        // Whitespace first: a newline or a tab (both Cc) separates words.
        if c.is_whitespace() {
            space = kept > 0;
            continue;
        }
        if hidden(c) {
            continue;
        }
        let needed = if space { 2 } else { 1 };
        if kept + needed > max {
            out.push('…');
            return out;
        }
        if space {
            out.push(' ');
            space = false;
        }
        out.push(c);
        kept += needed;
    }
    out
}

/// Whether `c` is a control or format character (Cc, Cf): what [`clean_name`] removes, and
/// what a name typed into the preferences may not hold.
pub fn hidden(c: char) -> bool {
    matches!(
        get_general_category(c),
        GeneralCategory::Control | GeneralCategory::Format
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bidi_and_zero_width_characters_are_removed() {
        let raw =
            "\u{202E}evil\u{202C} \u{2066}name\u{2069}\u{200E}\u{200F}\u{061C}\u{200B}\u{FEFF}!";

        assert_eq!(clean_name(raw, 80), "evil name!");
    }

    #[test]
    fn whitespace_runs_become_one_space_and_the_ends_are_trimmed() {
        assert_eq!(
            clean_name(" \t Fake\n\n Bakery \u{00A0}\u{2028} Shop  ", 80),
            "Fake Bakery Shop"
        );
    }

    #[test]
    fn a_long_name_is_cut_on_a_character_with_an_ellipsis() {
        let raw = "é".repeat(300);

        let cleaned = clean_name(&raw, 80);

        assert_eq!(cleaned.chars().count(), 81);
        assert!(cleaned.starts_with(&"é".repeat(80)));
        assert!(cleaned.ends_with('…'));
    }

    #[test]
    fn a_name_of_exactly_max_characters_is_kept_whole() {
        assert_eq!(clean_name("abcde", 5), "abcde");
        assert_eq!(clean_name("abc def", 5), "abc d…");
    }

    #[test]
    fn right_to_left_letters_are_kept() {
        assert_eq!(clean_name("مخبز  שלום", 80), "مخبز שלום");
    }
}
