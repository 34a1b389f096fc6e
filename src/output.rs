//! Octopus service messages and the step's log.
//!
//! Octopus reads `##octopus[...]` lines from stdout: every attribute value is base64 of its UTF-8
//! text, one message per line. Everything printed goes through [`Reporter`], which scrubs known
//! secrets from each line before it leaves the process, and is the one writer of service
//! messages: Calamari finds `##octopus[` anywhere in a line, so every line of text (target
//! names, Azure's and Octopus's error bodies) has it neutralised by [`neutralise`].

use crate::redacted::Redactor;
use base64::Engine as _;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::borrow::Cow;
use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;

/// Renders one service message: `##octopus[name attr='BASE64' ...]`.
pub fn service_message(name: &str, attributes: &[(&str, &str)]) -> String {
    let mut line = format!("##octopus[{name}");
    for (key, value) in attributes {
        line.push_str(&format!(" {key}='{}'", encode(value)));
    }
    line.push(']');
    line
}

/// Renders `createArtifact`: attaches the file at `path` (absolute) to the task under `name`;
/// `length` is its size in bytes, as Calamari's own `new_octopusartifact` sends it.
pub fn create_artifact(path: &str, name: &str, length: u64) -> String {
    service_message(
        "createArtifact",
        &[
            ("path", path),
            ("name", name),
            ("length", &length.to_string()),
        ],
    )
}

/// Base64 (standard alphabet, padded) of a value's UTF-8 bytes, as Octopus expects.
pub fn encode(value: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(value.as_bytes())
}

/// Decodes one attribute value: base64 (standard alphabet, padded) of UTF-8 text. `None` when
/// it is not, and Calamari then drops the whole message.
pub fn decode(value: &str) -> Option<String> {
    base64::engine::general_purpose::STANDARD
        .decode(value)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
}

/// One service message, decoded: what Octopus makes of a `##octopus[...]` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// `setVariable`: an output variable for later steps.
    SetVariable {
        /// The variable's name.
        name: String,
        /// Its value (may be empty).
        value: String,
        /// Whether Octopus masks it in logs (`sensitive='True'`).
        sensitive: bool,
    },
    /// A log level for the lines that follow, e.g. `stdout-warning`; `stdout-default` switches
    /// back.
    Mode(String),
    /// `progress`: the task's progress bar.
    Progress {
        /// 0 to 100.
        percentage: u8,
        /// What is happening.
        message: String,
    },
    /// `resultMessage`: the sentence that replaces "script returned exit code N".
    Result(String),
    /// `createArtifact`: a file attached to the task.
    Artifact {
        /// Where the file is.
        path: String,
        /// The name Octopus shows and downloads it as.
        name: String,
        /// Its size in bytes, when given.
        length: Option<u64>,
    },
    /// Any other message, its attributes decoded, in order.
    Other {
        /// The message's name.
        name: String,
        /// Its attributes.
        attrs: Vec<(String, String)>,
    },
}

/// Reads a line as a service message, as Calamari does: `##octopus[name attr='BASE64' ...]`,
/// every value base64 of UTF-8. `None` for text, and for a message Calamari would drop (a value
/// that is not base64, a quote left open, a `progress` whose percentage is not 0 to 100).
/// Unlike Calamari, the marker must start the line: [`Reporter`] writes nothing before one, and
/// [`neutralise`] breaks up any other, so a line with text before a marker is text.
pub fn parse(line: &str) -> Option<Message> {
    let line = line.trim_end();
    let head = line.get(..MARKER.len() + 1)?;
    if !head.eq_ignore_ascii_case("##octopus[") {
        return None;
    }
    let body = line[head.len()..].strip_suffix(']')?;
    let (name, mut rest) = body.split_once(' ').unwrap_or((body, ""));
    if name.is_empty() {
        return None;
    }
    let mut attrs = Vec::new();
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            break;
        }
        let (key, after) = rest.split_once("='")?;
        let (value, after) = after.split_once('\'')?;
        if key.is_empty() || key.contains(char::is_whitespace) {
            return None;
        }
        attrs.push((key.to_string(), decode(value)?));
        rest = after;
    }
    let attr = |key: &str| attrs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    Some(match name {
        "setVariable" => Message::SetVariable {
            name: attr("name")?,
            value: attr("value").unwrap_or_default(),
            sensitive: attr("sensitive").is_some_and(|s| s.eq_ignore_ascii_case("true")),
        },
        "progress" => Message::Progress {
            percentage: attr("percentage")?
                .trim()
                .parse()
                .ok()
                .filter(|p| *p <= 100)?,
            message: attr("message").unwrap_or_default(),
        },
        "resultMessage" => Message::Result(attr("message")?),
        "createArtifact" => Message::Artifact {
            path: attr("path")?,
            name: attr("name")?,
            length: match attr("length") {
                Some(l) => Some(l.trim().parse().ok()?),
                None => None,
            },
        },
        _ if attrs.is_empty() && (name.starts_with("stdout-") || name.starts_with("stderr-")) => {
            Message::Mode(name.to_string())
        }
        _ => Message::Other {
            name: name.to_string(),
            attrs,
        },
    })
}

/// Kept here too, where the clients and the log's writer have always found it.
pub use crate::text::printable;

/// What text must never contain, lest Calamari read it as a service message.
const MARKER: &str = "##octopus";

/// Makes a line of text unable to form a service message, on its own or with the next line:
/// - every `##octopus` (any case) becomes `## octopus`, which no parser reads and a person
///   still does;
/// - a line ending in a start of `##octopus` (`#`, `##o`...) gets a trailing space. Calamari's
///   `ServiceMessageParser` keeps its state across lines: after a line ending in `#`, the
///   `##` of a service message on the next line would be taken as the rest of a marker and
///   the message lost.
pub fn neutralise(text: &str) -> Cow<'_, str> {
    let lower = text.to_ascii_lowercase();
    let dangling = (1..MARKER.len()).any(|n| lower.ends_with(&MARKER[..n]));
    if !lower.contains(MARKER) && !dangling {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    let mut rest = 0;
    for (at, _) in lower.match_indices(MARKER) {
        out.push_str(&text[rest..at + 2]);
        out.push(' ');
        rest = at + 2;
    }
    out.push_str(&text[rest..]);
    if dangling {
        out.push(' ');
    }
    Cow::Owned(out)
}

/// Where the step's lines go: stdout, through the redactor.
pub struct Reporter {
    redactor: Redactor,
    out: Mutex<Box<dyn Write + Send>>,
    spinner: ProgressBar,
}

impl Reporter {
    /// A reporter printing to stdout, with a spinner on stderr when it is a terminal.
    pub fn stdout(redactor: Redactor) -> Reporter {
        let spinner = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        spinner.set_style(
            ProgressStyle::with_template("{spinner} {elapsed} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        Reporter {
            redactor,
            out: Mutex::new(Box::new(std::io::stdout())),
            spinner,
        }
    }

    /// A reporter writing into any sink (tests, the demo's capture).
    pub fn to_writer(redactor: Redactor, out: Box<dyn Write + Send>) -> Reporter {
        Reporter {
            redactor,
            out: Mutex::new(out),
            spinner: ProgressBar::hidden(),
        }
    }

    /// Writes lines as they are: only for service messages this module rendered.
    fn write(&self, lines: &str) {
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        self.spinner.suspend(|| {
            for l in lines.lines() {
                let _ = writeln!(out, "{l}");
            }
            let _ = out.flush();
        });
    }

    /// Writes a service message of this module's own (attribute values are base64, so no
    /// text inside can break out of it), scrubbed all the same.
    fn message(&self, message: &str) {
        self.write(&self.redactor.scrub(message));
    }

    /// Writes text: secrets scrubbed, and no line able to pass for a service message. The
    /// step's own sentences break lines with `\n`; any other control character (a `\r` in a
    /// name or an error that reached a sentence) is escaped by [`printable`] first, so each
    /// line written is one line for Calamari too.
    fn line(&self, text: &str) {
        let clean = self.redactor.scrub(text);
        let safe: Vec<String> = clean
            .split('\n')
            .map(|l| neutralise(&printable(l.strip_suffix('\r').unwrap_or(l))).into_owned())
            .collect();
        self.write(&safe.join("\n"));
    }

    fn in_mode(&self, mode: &str, text: &str) {
        self.message(&format!("##octopus[{mode}]"));
        self.line(text);
        self.message("##octopus[stdout-default]");
    }

    /// An ordinary log line.
    pub fn info(&self, text: &str) {
        self.line(text);
    }

    /// A line the user should see in the task summary.
    pub fn highlight(&self, text: &str) {
        self.in_mode("stdout-highlight", text);
    }

    /// Detail, shown only in the verbose log.
    pub fn verbose(&self, text: &str) {
        self.in_mode("stdout-verbose", text);
    }

    /// A warning: something the user may want to fix, but the step goes on.
    pub fn warn(&self, text: &str) {
        self.in_mode("stdout-warning", text);
    }

    /// Sets an output variable for later steps.
    pub fn set_variable(&self, name: &str, value: &str) {
        self.message(&service_message(
            "setVariable",
            &[("name", name), ("value", value)],
        ));
    }

    /// Moves the task's progress bar (and the terminal spinner).
    pub fn progress(&self, percentage: u8, message: &str) {
        let pct = percentage.min(100).to_string();
        self.message(&service_message(
            "progress",
            &[("percentage", &pct), ("message", message)],
        ));
        self.spinner.enable_steady_tick(Duration::from_millis(120));
        self.spinner
            .set_message(self.redactor.scrub(message).into_owned());
    }

    /// Attaches a file to the task (see [`create_artifact`]).
    pub fn artifact(&self, path: &str, name: &str, length: u64) {
        self.message(&create_artifact(path, name, length));
    }

    /// Replaces Octopus's "script returned exit code N" with a sentence the user can act on.
    pub fn fail(&self, message: &str) {
        self.spinner.finish_and_clear();
        let clean = self.redactor.scrub(message).into_owned();
        self.in_mode("stdout-error", &clean);
        self.message(&service_message("resultMessage", &[("message", &clean)]));
    }

    /// Clears the terminal spinner.
    pub fn done(&self) {
        self.spinner.finish_and_clear();
    }
}

/// A panic is a bug, but it still ends the step with a resultMessage, and its text is scrubbed
/// of secrets like every other line (the default hook would print it as is).
pub fn install_panic_hook(redactor: Redactor) {
    std::panic::set_hook(Box::new(move |info| {
        let payload = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let message = format!(
            "vmss-check stopped on an internal error{at} ({payload}); nothing more was removed. Please report it with this log."
        );
        Reporter::stdout(redactor.clone()).fail(&message);
    }));
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::redacted::Secret;
    use std::sync::Arc;

    /// A writer the tests read back.
    #[derive(Clone, Default)]
    pub(crate) struct Sink(pub(crate) Arc<Mutex<Vec<u8>>>);
    impl Write for Sink {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn set_variable_is_base64_encoded() {
        // Known values: base64("VMSSHasServersToDeployTo") and base64("True").
        assert_eq!(
            service_message(
                "setVariable",
                &[("name", "VMSSHasServersToDeployTo"), ("value", "True")]
            ),
            "##octopus[setVariable name='Vk1TU0hhc1NlcnZlcnNUb0RlcGxveVRv' value='VHJ1ZQ==']"
        );
        // An empty value is still sent, as value=''.
        assert_eq!(
            service_message("setVariable", &[("name", "A"), ("value", "")]),
            "##octopus[setVariable name='QQ==' value='']"
        );
        // UTF-8, not Latin-1.
        assert_eq!(encode("é"), "w6k=");
    }

    #[test]
    fn parse_reads_back_what_service_message_writes() {
        let cases = [
            (
                service_message(
                    "setVariable",
                    &[("name", "VMSSDuplicateRun"), ("value", "False")],
                ),
                Message::SetVariable {
                    name: "VMSSDuplicateRun".into(),
                    value: "False".into(),
                    sensitive: false,
                },
            ),
            (
                service_message("setVariable", &[("name", "A"), ("value", "")]),
                Message::SetVariable {
                    name: "A".into(),
                    value: String::new(),
                    sensitive: false,
                },
            ),
            (
                service_message(
                    "setVariable",
                    &[
                        ("name", "Key"),
                        ("value", "é ' ] ##octopus[x]"),
                        ("sensitive", "True"),
                    ],
                ),
                Message::SetVariable {
                    name: "Key".into(),
                    value: "é ' ] ##octopus[x]".into(),
                    sensitive: true,
                },
            ),
            (
                service_message("progress", &[("percentage", "57"), ("message", "8 of 14")]),
                Message::Progress {
                    percentage: 57,
                    message: "8 of 14".into(),
                },
            ),
            (
                service_message("resultMessage", &[("message", "Timed out.")]),
                Message::Result("Timed out.".into()),
            ),
            (
                service_message("stdout-warning", &[]),
                Message::Mode("stdout-warning".into()),
            ),
            (
                create_artifact("/tmp/a b/r.json", "r-Environments-1.json", 1234),
                Message::Artifact {
                    path: "/tmp/a b/r.json".into(),
                    name: "r-Environments-1.json".into(),
                    length: Some(1234),
                },
            ),
            (
                service_message("createArtifact", &[("path", "/tmp/x"), ("name", "x")]),
                Message::Artifact {
                    path: "/tmp/x".into(),
                    name: "x".into(),
                    length: None,
                },
            ),
            (
                service_message("createArtifacts", &[("path", "/tmp/x")]),
                Message::Other {
                    name: "createArtifacts".into(),
                    attrs: vec![("path".into(), "/tmp/x".into())],
                },
            ),
        ];
        for (line, message) in cases {
            assert_eq!(parse(&line), Some(message), "{line}");
        }
    }

    #[test]
    fn parse_reads_every_line_the_reporter_writes() {
        let sink = Sink::default();
        let rep = Reporter::to_writer(Redactor::default(), Box::new(sink.clone()));
        rep.warn("kept ##octopus[x]");
        rep.progress(140, "done");
        rep.set_variable("N", "V");
        rep.fail("stopped");
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        let parsed: Vec<Option<Message>> = text.lines().map(parse).collect();
        assert_eq!(
            parsed,
            vec![
                Some(Message::Mode("stdout-warning".into())),
                None,
                Some(Message::Mode("stdout-default".into())),
                Some(Message::Progress {
                    percentage: 100,
                    message: "done".into()
                }),
                Some(Message::SetVariable {
                    name: "N".into(),
                    value: "V".into(),
                    sensitive: false
                }),
                Some(Message::Mode("stdout-error".into())),
                None,
                Some(Message::Mode("stdout-default".into())),
                Some(Message::Result("stopped".into())),
            ],
            "{text}"
        );
    }

    #[test]
    fn parse_drops_what_calamari_drops() {
        for line in [
            "plain text",
            "",
            "##octopus[",
            "##octopus[]",
            "##octopus[setVariable name='not base64!' value='']",
            "##octopus[setVariable name='QQ==' value='QQ==",
            "##octopus[setVariable name='QQ== value='QQ==']",
            "##octopus[setVariable value='QQ==']",
            "##octopus[progress percentage='MTAx' message='']",
            "##octopus[progress percentage='aGFsZg==' message='']",
            "##octopus[resultMessage]",
            "##octopus[createArtifact path='eA==' name='eA==' length='bWFueQ==']",
            "## octopus[stdout-warning]",
        ] {
            assert_eq!(parse(line), None, "{line:?}");
        }
        // Calamari would read a marker after text; nothing here writes one, so it is text.
        assert_eq!(parse("text ##octopus[stdout-warning]"), None);
        // The marker in any case, and a Windows line ending, as Calamari accepts them.
        assert_eq!(
            parse("##OCTOPUS[stdout-verbose]\r"),
            Some(Message::Mode("stdout-verbose".into()))
        );
        assert_eq!(decode("w6k="), Some("é".into()));
        assert_eq!(decode("/w=="), None, "not UTF-8");
    }

    #[test]
    fn text_can_never_pass_for_a_service_message() {
        assert_eq!(
            neutralise("web ##octopus[setVariable name='QQ==' value='QQ==']"),
            "web ## octopus[setVariable name='QQ==' value='QQ==']"
        );
        assert_eq!(
            neutralise("##OCTOPUS[x] and ##Octopus[y]"),
            "## OCTOPUS[x] and ## Octopus[y]"
        );
        assert!(matches!(neutralise("# octopus, ##oct!"), Cow::Borrowed(_)));
        // A start of the marker at the end of a line would run on into the next line.
        for dangling in ["cost #", "##", "see ##OCTO", "x ##octopu"] {
            assert_eq!(neutralise(dangling), format!("{dangling} "));
        }
        let sink = Sink::default();
        let rep = Reporter::to_writer(Redactor::default(), Box::new(sink.clone()));
        rep.warn(
            "kept ##octopus[setVariable name='QQ==' value='QQ==']\nand ##octopus[stdout-error]",
        );
        rep.set_variable("A", "##octopus[x]");
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        assert_eq!(
            text,
            format!(
                "##octopus[stdout-warning]\nkept ## octopus[setVariable name='QQ==' value='QQ==']\nand ## octopus[stdout-error]\n##octopus[stdout-default]\n##octopus[setVariable name='QQ==' value='{}']\n",
                encode("##octopus[x]")
            )
        );
    }

    #[test]
    fn reporter_scrubs_secrets_and_wraps_modes() {
        let sink = Sink::default();
        let mut r = Redactor::default();
        r.add(&Secret::new("API-SECRETKEY"));
        let rep = Reporter::to_writer(r, Box::new(sink.clone()));
        rep.highlight("key is API-SECRETKEY");
        rep.fail("failed with API-SECRETKEY");
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        assert!(!text.contains("API-SECRETKEY"), "{text}");
        assert!(text.starts_with(
            "##octopus[stdout-highlight]\nkey is (redacted)\n##octopus[stdout-default]\n"
        ));
        assert!(text.contains(&format!(
            "##octopus[resultMessage message='{}']",
            encode("failed with (redacted)")
        )));
    }
}
