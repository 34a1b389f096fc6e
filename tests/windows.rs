//! What differs on a Windows worker, through the built binary: the same tests run the native
//! binary and, under scripts/windows-test.sh, `vmss-check.exe` under Wine.

mod common;

use common::*;
use vmss_check::sim::Sim;

#[test]
fn a_token_file_written_by_windows_powershell_at_a_windows_path_signs_in() {
    let sim = Sim::start(settled_set(2));
    let token = sim.world().federated_token.clone();
    // A folder with a space, as under C:\Octopus\Work; the binary gets it as a Windows path.
    let dir = std::env::temp_dir().join(format!("vmss-check work {}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("token.jwt");
    // Windows PowerShell 5.1's `$token > token.jwt`: UTF-16LE with a BOM, CRLF.
    let utf16: Vec<u8> = [0xFF, 0xFE]
        .into_iter()
        .chain(
            format!("{token}\r\n")
                .encode_utf16()
                .flat_map(u16::to_le_bytes),
        )
        .collect();
    for (name, bytes) in [
        ("UTF-16LE", utf16),
        (
            "UTF-8 with a BOM",
            format!("\u{FEFF}{token}\r\n").into_bytes(),
        ),
    ] {
        std::fs::write(&file, bytes).unwrap();
        let run = run_step(
            &sim,
            &[
                ("AZURE_CLIENT_SECRET", ""),
                (
                    "AZURE_FEDERATED_TOKEN_FILE",
                    path_for_binary(&file).as_str(),
                ),
            ],
        );
        assert_eq!(run.code, 0, "{name}\n{}\n{}", run.stdout, run.stderr);
        assert_eq!(run.var("VMSSDeploymentTargetNames"), "web000000,web000001");
        assert_no_secrets(&sim, &run);
    }
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn a_missing_token_file_is_named_as_given() {
    let sim = Sim::start(settled_set(2));
    let missing = std::env::temp_dir()
        .join("vmss-check no such dir")
        .join("token.jwt");
    let given = path_for_binary(&missing);
    let run = run_step(
        &sim,
        &[
            ("AZURE_CLIENT_SECRET", ""),
            ("AZURE_FEDERATED_TOKEN_FILE", given.as_str()),
        ],
    );
    run.assert_failed(
        2,
        &format!("AZURE_FEDERATED_TOKEN_FILE \"{given}\" could not be read"),
    );
    assert!(sim.world().seen.is_empty());
}

#[test]
fn service_messages_are_whole_lines_with_the_same_line_ends_everywhere() {
    let sim = Sim::start(settled_set(2));
    let run = run_step(&sim, &[]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    // `\n` on every worker: Calamari splits lines on `\n` or `\r\n`, and a stray `\r` would
    // end up inside a value.
    assert!(!run.stdout.contains('\r'), "{:?}", run.stdout);
    let messages: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.to_ascii_lowercase().contains("##octopus["))
        .collect();
    assert!(messages.len() > 5, "{}", run.stdout);
    for line in messages {
        assert!(line.starts_with("##octopus["), "{line:?}");
        assert!(line.ends_with(']'), "{line:?}");
    }
    // Nothing on stderr: Calamari marks the step as having errors for every stderr line, so
    // neither the binary nor Wine may write there.
    assert_eq!(run.stderr, "");
}
