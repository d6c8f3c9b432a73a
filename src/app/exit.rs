//! Exit codes, as DESIGN.md's interface gives them: 0 done, 1 the spec has errors or the files
//! differ, 2 could not run. Each outcome and each stage's error says its own code here, at the edge,
//! since the codes are a promise of the command line, not of the stages.

use std::process::ExitCode;

use super::Failure;
use crate::export::ExportError;
use crate::load::Invalid;
use crate::render::RenderError;
use crate::secrets::SecretError;
use crate::write::WriteError;

/// Done, nothing to report.
const SUCCESS: u8 = 0;
/// Ran, and found what a script must stop for: errors in the spec, or files that differ.
const FOUND: u8 = 1;
/// Could not run: usage, an unreadable or invalid spec, a template or a write that failed; or a
/// diff that could not compare everything.
const COULD_NOT_RUN: u8 = 2;

/// What a process exit says about how a command ended.
pub(super) trait ExitStatus {
    fn exit_code(&self) -> u8;
}

/// How a command that ran to its end came out.
#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
    Done,
    /// `check`: the spec has errors, or warnings that `--deny-warnings` fails.
    Findings,
    /// `diff` or `render --check`: the files are not what the spec renders.
    Differs,
    /// `diff` ran to its end but could not compare everything (a secret it could not read): a
    /// script must not take its silence about those for "no difference".
    Incomplete,
}

impl ExitStatus for Outcome {
    fn exit_code(&self) -> u8 {
        match self {
            Self::Done => SUCCESS,
            Self::Findings | Self::Differs => FOUND,
            Self::Incomplete => COULD_NOT_RUN,
        }
    }
}

/// Outside `check`, an invalid spec stops the command before it does anything: it could not run.
impl ExitStatus for Invalid {
    fn exit_code(&self) -> u8 {
        COULD_NOT_RUN
    }
}

impl ExitStatus for RenderError {
    fn exit_code(&self) -> u8 {
        COULD_NOT_RUN
    }
}

impl ExitStatus for SecretError {
    fn exit_code(&self) -> u8 {
        COULD_NOT_RUN
    }
}

impl ExitStatus for WriteError {
    fn exit_code(&self) -> u8 {
        COULD_NOT_RUN
    }
}

impl ExitStatus for ExportError {
    fn exit_code(&self) -> u8 {
        COULD_NOT_RUN
    }
}

impl ExitStatus for Failure {
    fn exit_code(&self) -> u8 {
        match self {
            // What the reader wanted, it has had: the command ends as a finished one would.
            Self::ReaderGone => SUCCESS,
            Self::Invalid(_, invalid) | Self::NotRendered(_, invalid) => invalid.exit_code(),
            Self::Render(error) => error.exit_code(),
            Self::Secret(error) => error.exit_code(),
            Self::Write(error) => error.exit_code(),
            Self::Export(error) => error.exit_code(),
            Self::Read(..)
            | Self::UnknownHost(..)
            | Self::Templates(_)
            | Self::Output(_)
            | Self::Usage(_) => COULD_NOT_RUN,
        }
    }
}

/// The one conversion of a command's end to the process's exit code.
pub(super) fn exit_code(result: &Result<Outcome, Failure>) -> ExitCode {
    ExitCode::from(match result {
        Ok(outcome) => outcome.exit_code(),
        Err(failure) => failure.exit_code(),
    })
}
