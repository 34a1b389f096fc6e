//! Text from outside the step, made safe to show: pure, so a rule that quotes such text (a
//! paging fault naming the link that went round) need not import the log's writer
//! ([`crate::output`], which still has to neutralise every line it writes).

use std::borrow::Cow;

/// Text from outside the step (a target's name, a VM's computer name, Azure's and Octopus's
/// error messages) as one line of the log may show it: every control character is replaced
/// by a visible escape (`\r`, `\n`, `\t`, `\x1B`, `\u{85}`). Calamari reads the step's
/// output with .NET's line reader, which ends a line at `\r` as well as `\n`, so a bare `\r`
/// would start a new line in Octopus's eyes, and with it a service message; C1 controls and
/// Unicode's line and paragraph separators are escaped too, for readers that split on them.
/// [`crate::output::neutralise`] still has to run after this: escaping makes lines, not
/// markers, harmless.
pub fn printable(text: &str) -> Cow<'_, str> {
    let unsafe_char = |c: char| c.is_control() || matches!(c, '\u{2028}' | '\u{2029}');
    if !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\r' => out.push_str("\\r"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x80 && unsafe_char(c) => {
                out.push_str(&format!("\\x{:02X}", c as u32))
            }
            c if unsafe_char(c) => out.push_str(&format!("\\u{{{:X}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_become_visible_escapes() {
        assert!(matches!(printable("web-01 (ok)"), Cow::Borrowed(_)));
        assert_eq!(
            printable("a\rb\nc\td\u{1B}[2Je\u{85}f\u{2028}g"),
            "a\\rb\\nc\\td\\x1B[2Je\\u{85}f\\u{2028}g"
        );
    }
}
