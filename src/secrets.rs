//! Resolving secret references at the edge: environment variables and files, read only when the
//! user asks for a tree with secrets, or a diff that compares them. Errors name the reference,
//! never a value; a diff compares keyed hashes, so no value reaches what it prints.

use std::collections::HashMap;
use std::fmt;

use sha2::{Digest, Sha256};

use crate::plan::Plan;
use crate::spec::SecretRef;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SecretError {
    pub(crate) secret: SecretRef,
    pub(crate) reason: String,
}

impl fmt::Display for SecretError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot read the secret from {}: {}",
            self.secret, self.reason
        )
    }
}

impl std::error::Error for SecretError {}

/// Reads one secret: the variable's value, or the file's text without its trailing newline.
pub(crate) fn read(secret: &SecretRef) -> Result<String, SecretError> {
    let fail = |reason: String| SecretError {
        secret: secret.clone(),
        reason,
    };
    let value = match secret {
        SecretRef::Env(name) => std::env::var(name).map_err(|e| {
            fail(match e {
                std::env::VarError::NotPresent => "the variable is not set".to_owned(),
                std::env::VarError::NotUnicode(_) => "the value is not UTF-8".to_owned(),
            })
        })?,
        SecretRef::File(path) => std::fs::read_to_string(path.as_str())
            .map_err(|e| fail(e.to_string()))?
            .trim_end_matches(['\n', '\r'])
            .to_owned(),
    };
    if value.is_empty() {
        return Err(fail("it is empty".to_owned()));
    }
    Ok(value)
}

/// Reads every secret the plan's files need.
pub(crate) fn resolve(plan: &Plan) -> Result<HashMap<SecretRef, String>, SecretError> {
    let mut values = HashMap::new();
    for slot in plan.files.iter().flat_map(|f| &f.secrets) {
        if !values.contains_key(&slot.secret) {
            values.insert(slot.secret.clone(), read(&slot.secret)?);
        }
    }
    Ok(values)
}

/// A keyed hash of a secret value: equal for equal values within one run, and nothing a reader
/// of the output could test a guess against, since the key is made afresh each run and dropped.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fingerprint([u8; 32]);

/// Written by hand so that not even the hash is ever printed.
impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Fingerprint(..)")
    }
}

/// HMAC-SHA256 (RFC 2104) under a key of this run.
pub(crate) struct Fingerprints {
    key: [u8; 64],
}

/// Written by hand so that the key is never printed.
impl fmt::Debug for Fingerprints {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Fingerprints(..)")
    }
}

impl Fingerprints {
    /// A fresh random key: 32 bytes from the kernel, or, where /dev/urandom cannot be read, from
    /// the random seeds std gives each `RandomState`.
    pub(crate) fn new() -> Self {
        let mut key = [0u8; 64];
        let read = std::fs::File::open("/dev/urandom")
            .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut key[..32]));
        if read.is_err() {
            use std::hash::{BuildHasher as _, Hasher as _};
            for chunk in key[..32].chunks_mut(8) {
                let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
                hasher.write_usize(chunk.as_ptr() as usize);
                chunk.copy_from_slice(&hasher.finish().to_le_bytes());
            }
        }
        Self { key }
    }

    pub(crate) fn of(&self, value: &str) -> Fingerprint {
        let pad = |byte: u8| self.key.map(|k| k ^ byte);
        let inner = Sha256::new()
            .chain_update(pad(0x36))
            .chain_update(value.as_bytes())
            .finalize();
        let outer = Sha256::new()
            .chain_update(pad(0x5c))
            .chain_update(inner)
            .finalize();
        Fingerprint(outer.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_tell_values_apart_and_differ_between_runs() {
        let run = Fingerprints::new();
        assert_eq!(run.of("s3cret"), run.of("s3cret"));
        assert_ne!(run.of("s3cret"), run.of("s3cret2"));
        assert_ne!(run.of("s3cret"), Fingerprints::new().of("s3cret"));
        assert_eq!(format!("{:?}", run.of("s3cret")), "Fingerprint(..)");
    }

    #[test]
    fn hmac_matches_rfc_4231_case_2() {
        // Key "Jefe", data "what do ya want for nothing?".
        let mut key = [0u8; 64];
        key[..4].copy_from_slice(b"Jefe");
        let mac = Fingerprints { key }.of("what do ya want for nothing?");
        let hex: String = mac.0.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
