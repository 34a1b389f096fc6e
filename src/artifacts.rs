//! The decision record's files: the JSON ([`crate::record`]) and the HTML
//! ([`crate::record::html`]) written beside the step and attached to the task as Octopus
//! artifacts. Its own module so that neither of the two imports the other.

use crate::outcome::Outcome;
use crate::output::Reporter;
use crate::record::{Record, HTML_FILE, JSON_FILE};
use crate::report;
use crate::settings::Settings;
use std::path::{Path, PathBuf};

/// A file name part from an id: letters, digits, `-` and `.` only.
fn file_part(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The artifact's name: after the environment and the task, so that runs do not overwrite
/// each other's (`vmss-check-report-Environments-1-ServerTasks-9001.json`).
pub fn artifact_name(settings: &Settings, extension: &str) -> String {
    let mut name = String::from("vmss-check-report");
    for part in [
        Some(&settings.run.environment_id),
        settings.run.task_id.as_ref(),
    ]
    .into_iter()
    .flatten()
    {
        name.push('-');
        name.push_str(&file_part(part));
    }
    format!("{name}.{extension}")
}

/// How one of the record's files is written to a path.
type WriteFile<'a> = &'a dyn Fn(&Path) -> std::io::Result<()>;

/// Writes both files into `dir` and attaches them; a failure is a warning naming the file
/// and what to do, never the step's failure. Returns the paths written.
pub fn attach(
    settings: &Settings,
    outcome: &Outcome,
    dir: &Path,
    reporter: &Reporter,
) -> Vec<PathBuf> {
    let Some(record) = Record::new(settings, outcome) else {
        reporter.warn(report::RECORD_NOT_SCRUBBED);
        return Vec::new();
    };
    // Written one after the other, the JSON streamed straight to its file: at 10,000 VMs each
    // text is megabytes, and neither need be held whole beside the record.
    let writes: [(&str, &str, WriteFile); 2] = [
        (JSON_FILE, "json", &|path| record.write_json(path)),
        (HTML_FILE, "html", &|path| {
            std::fs::write(path, crate::record::html::render(&record))
        }),
    ];
    let mut written = Vec::new();
    for (file, extension, write) in writes {
        let path = dir.join(file);
        match write(&path).and_then(|()| std::fs::metadata(&path)) {
            Ok(meta) => {
                let shown = std::path::absolute(&path).unwrap_or(path);
                let name = artifact_name(settings, extension);
                reporter.verbose(&report::record_attached(&name, &shown));
                reporter.artifact(&shown.to_string_lossy(), &name, meta.len());
                written.push(shown);
            }
            Err(e) => reporter.warn(&report::record_not_written(&path, &e)),
        }
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_parts_keep_ids_and_drop_path_characters() {
        assert_eq!(file_part("ServerTasks-9001"), "ServerTasks-9001");
        assert_eq!(file_part("../a b"), "___a_b");
    }
}
