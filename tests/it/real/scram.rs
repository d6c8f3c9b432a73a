//! SCRAM-SHA-256 verifiers as sitewright computes them (src/scram.rs), against real PostgreSQL 11
//! and 18 (the unit tests hold 16's answers): for each password, a mapped one, one that SASLprep
//! refuses and a right-to-left one among them, the server's own verifier is what sitewright
//! computes for the server's salt, and a role given sitewright's verifier (with its derived salt)
//! logs in with the plain password over TCP through `scram-sha-256` in pg_hba.conf, and not with
//! another password.
//!
//! The library keeps the module crate-private and nothing renders a verifier yet, so this test
//! compiles the module's file in as it is. Once the PgBouncer plan renders `userlist.txt`, the
//! proof belongs there (psql through PgBouncer, with the rendered file) and this test can go.

use std::fs;
use std::process::Command;

use crate::support::pg::{Binaries, Server, free_port};
use crate::support::{installed, temp_dir};

#[path = "../../../src/scram.rs"]
mod sitewright_scram;

use sitewright_scram::{ITERATIONS, deterministic_salt, verifier};

const PASSWORDS: &[(&str, &str)] = &[
    ("plain", "correct horse battery staple"),
    ("mapped", "I\u{00AD}X"),
    ("refused", "x\u{E000}y"),
    ("right_to_left", "\u{FB21}\u{2801}\u{05D0}"),
];

/// `text` as an SQL string literal, every character a Unicode escape, so no quoting can go wrong.
fn literal(text: &str) -> String {
    let escaped: String = text
        .chars()
        .map(|c| format!("\\+{:06X}", u32::from(c)))
        .collect();
    format!("U&'{escaped}'")
}

/// psql over TCP to 127.0.0.1 as `role` with `password`; `Some(current_user)` when it got in.
fn log_in(port: u16, role: &str, password: &str) -> Option<String> {
    let output = Command::new(installed("SITEWRIGHT_PSQL"))
        .args(["-X", "-A", "-t", "-w", "-h", "127.0.0.1", "-p"])
        .arg(port.to_string())
        .args(["-U", role, "-d", "postgres", "-c", "select current_user"])
        .env("PGPASSWORD", password)
        .env("PGPASSFILE", "/dev/null")
        .output()
        .expect("psql runs");
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

fn verifiers_work_with(major: u32) {
    let pg = Binaries::of(major);
    let work = temp_dir();
    let w = work.path();
    let (data, socket_dir, hba) = (w.join("data"), w.join("socket"), w.join("pg_hba.conf"));
    fs::create_dir(&socket_dir).unwrap();
    fs::write(
        &hba,
        format!(
            "local all {} trust\nhost all all 127.0.0.1/32 scram-sha-256\n",
            pg.user
        ),
    )
    .unwrap();
    pg.give(w);
    pg.initdb(&data);
    let port = free_port();
    let server = Server::start(
        &pg,
        &data,
        port,
        &socket_dir,
        &w.join("log"),
        &[
            ("listen_addresses", "127.0.0.1".to_owned()),
            ("hba_file", hba.display().to_string()),
            ("password_encryption", "scram-sha-256".to_owned()),
        ],
    );
    let stored = |role: &str| {
        server.sql(&format!(
            "select rolpassword from pg_authid where rolname = '{role}'"
        ))
    };

    for &(role, password) in PASSWORDS {
        server.sql(&format!("create role {role} login"));

        // The server's verifier, for a salt it drew: sitewright computes the same from that salt.
        server.sql(&format!("alter role {role} password {}", literal(password)));
        let theirs = stored(role);
        let (iterations, salt) = theirs
            .strip_prefix("SCRAM-SHA-256$")
            .and_then(|v| v.split_once('$'))
            .and_then(|(parameters, _)| parameters.split_once(':'))
            .unwrap_or_else(|| panic!("{role}: not a SCRAM verifier: {theirs}"));
        let salt: [u8; 16] =
            base64::Engine::decode(&base64::engine::general_purpose::STANDARD, salt)
                .unwrap()
                .try_into()
                .unwrap();
        assert_eq!(
            verifier(password, &salt, iterations.parse().unwrap()),
            theirs,
            "PostgreSQL {major}, {role}"
        );

        // sitewright's verifier, stored as given, lets the password in and no other.
        let ours = verifier(
            password,
            &deterministic_salt("scram test", role, password),
            ITERATIONS,
        );
        server.sql(&format!("alter role {role} password '{ours}'"));
        assert_eq!(stored(role), ours, "PostgreSQL {major}, {role}");
        assert_eq!(
            log_in(port, role, password).as_deref(),
            Some(role),
            "PostgreSQL {major}, {role}: the password did not log in\n{}",
            server.log()
        );
        assert_eq!(
            log_in(port, role, &format!("{password}!")),
            None,
            "PostgreSQL {major}, {role}: another password logged in"
        );
    }
}

#[test]
fn postgres_11_takes_sitewright_scram_verifiers() {
    verifiers_work_with(11);
}

#[test]
fn postgres_18_takes_sitewright_scram_verifiers() {
    verifiers_work_with(18);
}
