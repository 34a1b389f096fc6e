//! How Octopus reads the step's output, ported from Calamari: the process runner reads stdout
//! and stderr with .NET's line reader, and its `ServiceMessageParser` finds `##octopus[...]`
//! anywhere in that text, carrying its state from one line to the next. The tests read every
//! run through this, so a message that text could forge shows up as a variable or an
//! artifact, exactly as it would in Octopus.

use crate::output::{parse, Message};

/// Splits text into lines as .NET's `TextReader.ReadLine` does: a line ends at `\n`, at `\r`,
/// or at `\r\n`; the breaks are not part of the lines, and text after the last break is a line
/// of its own.
pub fn lines(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let (mut start, mut i) = (0, 0);
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => {
                out.push(&text[start..i]);
                start = i + 1;
            }
            b'\r' => {
                out.push(&text[start..i]);
                if bytes.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    if start < text.len() {
        out.push(&text[start..]);
    }
    out
}

/// The marker Calamari looks for.
const MARKER: &str = "##octopus";

/// Every service message Calamari reads in `output`: one parser state for the whole output,
/// fed line by line without the line breaks. `#` starts a possible marker; a character that
/// does not continue `##octopus` drops it (and is itself dropped); after the marker, everything
/// up to `]` is the message, across lines too. Messages Calamari would drop (bad base64) are
/// left out, as [`parse`] leaves them out.
pub fn messages(output: &str) -> Vec<Message> {
    enum State {
        Default,
        PossibleMessage,
        InMessage,
    }
    let mut state = State::Default;
    let mut buffer = String::new();
    let mut found = Vec::new();
    for line in lines(output) {
        for c in line.chars() {
            match state {
                State::Default if c == '#' => {
                    state = State::PossibleMessage;
                    buffer.push(c);
                }
                State::Default => {}
                State::PossibleMessage => {
                    buffer.push(c);
                    if buffer.eq_ignore_ascii_case(MARKER) {
                        state = State::InMessage;
                        buffer.clear();
                    } else if !MARKER.starts_with(buffer.to_ascii_lowercase().as_str()) {
                        state = State::Default;
                        buffer.clear();
                    }
                }
                State::InMessage if c == ']' => {
                    found.extend(parse(&format!("{MARKER}{}]", buffer.trim())));
                    state = State::Default;
                    buffer.clear();
                }
                State::InMessage => buffer.push(c),
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::tests::Sink;
    use crate::output::{service_message, Reporter};
    use crate::redacted::Redactor;

    #[test]
    fn calamari_reads_every_message_the_step_writes_whatever_text_comes_before() {
        let sink = Sink::default();
        let rep = Reporter::to_writer(Redactor::default(), Box::new(sink.clone()));
        // Text that ends in a start of the marker, then a message on the next line.
        for text in ["issue #", "see ##", "tag ##octop", "##OCTOPUS", "plain"] {
            rep.info(text);
            rep.set_variable("After", text);
            rep.warn(&format!("{text}\n{text}"));
        }
        rep.info("web ##octopus[setVariable name='QQ==' value='QQ==']");
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        let written: Vec<Message> = text.lines().filter_map(parse).collect();
        assert_eq!(messages(&text), written);
        let vars = written
            .iter()
            .filter(|m| matches!(m, Message::SetVariable { .. }))
            .count();
        assert_eq!(vars, 5, "{text}");
        // Without the trailing space, Calamari loses the message after a dangling `#`.
        assert!(messages(&format!(
            "issue #\n{}\n",
            service_message("setVariable", &[("name", "A"), ("value", "")])
        ))
        .is_empty());
    }

    #[test]
    fn no_text_the_reporter_writes_forms_a_message_whatever_breaks_its_lines() {
        let set = "setVariable name='Vk1TU0RlcGxveW1lbnRUYXJnZXRJZHM=' value='TWFjaGluZXMtMQ=='";
        let artifact = "createArtifact path='L2V0Yy9wYXNzd2Q=' name='cGFzc3dk' length='MQ=='";
        let forged = [
            format!("legacy#\r#octopus[{set}]"),
            format!("legacy\r##octopus[{set}]"),
            format!("x#\r\n#octopus[{artifact}]"),
            format!("x\r\n##OCTOPUS[{artifact}]"),
            format!("#\x0b#octopus[{set}] \u{85}##octopus[{set}] \u{2028}##octopus[{set}]"),
            "tail #\r".to_string(),
            format!("##octopus[{set}"),
            format!("]\r##octopus[{artifact}]"),
        ];
        let sink = Sink::default();
        let rep = Reporter::to_writer(Redactor::default(), Box::new(sink.clone()));
        for text in &forged {
            rep.info(text);
            rep.warn(&format!("target {text} kept"));
            rep.highlight(text);
            rep.verbose(text);
        }
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        let read = messages(&text);
        assert!(
            read.iter().all(|m| matches!(m, Message::Mode(_))),
            "{read:?}\n{text}"
        );
        assert_eq!(read.len(), 6 * forged.len(), "{text}");
        // Without the escaping, the first would have set a variable.
        assert!(!messages(&forged[0]).is_empty());
    }

    #[test]
    fn lines_end_where_dotnet_ends_them() {
        assert_eq!(lines("a\nb\r\nc\rd"), ["a", "b", "c", "d"]);
        assert_eq!(lines("a\r\r\nb\n"), ["a", "", "b"]);
        assert_eq!(lines(""), Vec::<&str>::new());
    }

    #[test]
    fn a_carriage_return_starts_a_line_and_a_message_with_it() {
        let forged = "legacy#\r#octopus[setVariable name='QQ==' value='Qg==']";
        assert_eq!(
            messages(forged),
            [Message::SetVariable {
                name: "A".into(),
                value: "B".into(),
                sensitive: false
            }]
        );
    }
}
