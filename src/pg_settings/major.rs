//! What each PostgreSQL major version from 11 to 18 calls things and can do: one place for every
//! version line, beside the settings tables it goes with, so that `check`, the plan and the
//! tables ask a question instead of comparing numbers.

use std::fmt;

/// The newest major sitewright knows: what `import` guesses when no file says the major.
pub(crate) const NEWEST_MAJOR: u32 = 18;

/// A PostgreSQL major version, 11 to 18 (the schema refuses others).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Major(pub(crate) u32);

/// How much WAL a primary keeps for its standbys, by the setting that major knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WalKeep {
    /// `wal_keep_segments`, a count of 16MB segments (11, 12).
    Segments,
    /// `wal_keep_size`, in MB (13+).
    Size,
}

/// Where a standby's recovery settings live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Standby {
    /// recovery.conf in the data directory, with `standby_mode = on` (11).
    RecoveryConf,
    /// postgresql.conf, and an empty standby.signal in the data directory (12+).
    SignalFile,
}

/// The name of the file-based promotion setting, if the major has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PromoteFile {
    /// `trigger_file` in recovery.conf (11).
    TriggerFile,
    /// `promote_trigger_file` in postgresql.conf (12 to 15).
    PromoteTriggerFile,
    /// Removed in 16: `pg_ctl promote` or `SELECT pg_promote()`.
    Removed,
}

/// The size of one WAL segment in the builds sitewright targets.
pub(crate) const WAL_SEGMENT_BYTES: u64 = 16 * 1024 * 1024;

impl Major {
    pub(crate) fn standby(self) -> Standby {
        if self.0 >= 12 {
            Standby::SignalFile
        } else {
            Standby::RecoveryConf
        }
    }

    pub(crate) fn wal_keep(self) -> WalKeep {
        if self.0 >= 13 {
            WalKeep::Size
        } else {
            WalKeep::Segments
        }
    }

    pub(crate) fn promote_file(self) -> PromoteFile {
        match self.0 {
            ..=11 => PromoteFile::TriggerFile,
            12..=15 => PromoteFile::PromoteTriggerFile,
            _ => PromoteFile::Removed,
        }
    }

    /// `ssl_min_protocol_version` arrived in 12.
    pub(crate) fn has_ssl_min_protocol_version(self) -> bool {
        self.0 >= 12
    }

    /// The `us` time unit arrived in 12.
    pub(crate) fn has_microseconds(self) -> bool {
        self.0 >= 12
    }

    /// Fractions with units (`1.5GB`) arrived in 12; before, a value with a unit is whole.
    pub(crate) fn has_fractional_units(self) -> bool {
        self.0 >= 12
    }

    /// password_encryption defaults to md5 before 14, and to scram-sha-256 from 14.
    pub(crate) fn encrypts_passwords_with_md5_by_default(self) -> bool {
        self.0 < 14
    }

    /// reserved_connections (kept for roles with pg_use_reserved_connections) arrived in 16.
    pub(crate) fn has_reserved_connections(self) -> bool {
        self.0 >= 16
    }

    /// On 11, WAL senders are taken out of max_connections; from 12 they have slots of their own.
    pub(crate) fn wal_senders_use_connections(self) -> bool {
        self.0 < 12
    }

    /// Asynchronous I/O with io_workers arrived in 18.
    pub(crate) fn has_io_workers(self) -> bool {
        self.0 >= 18
    }

    /// hostgssenc and hostnogssenc records arrived in 12.
    pub(crate) fn has_gssenc_records(self) -> bool {
        self.0 >= 12
    }

    /// JIT is on by default from 12, where PGTune turns it off for short queries.
    pub(crate) fn jit_on_by_default(self) -> bool {
        self.0 >= 12
    }
}

impl fmt::Display for Major {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_lines_fall_where_postgres_drew_them() {
        assert_eq!(Major(11).standby(), Standby::RecoveryConf);
        assert_eq!(Major(12).standby(), Standby::SignalFile);
        assert_eq!(Major(12).wal_keep(), WalKeep::Segments);
        assert_eq!(Major(13).wal_keep(), WalKeep::Size);
        assert_eq!(Major(11).promote_file(), PromoteFile::TriggerFile);
        assert_eq!(Major(15).promote_file(), PromoteFile::PromoteTriggerFile);
        assert_eq!(Major(16).promote_file(), PromoteFile::Removed);
        assert!(
            !Major(11).has_ssl_min_protocol_version() && Major(12).has_ssl_min_protocol_version()
        );
        assert!(!Major(11).has_microseconds() && Major(12).has_microseconds());
        assert!(!Major(11).has_fractional_units() && Major(12).has_fractional_units());
        assert!(
            Major(13).encrypts_passwords_with_md5_by_default()
                && !Major(14).encrypts_passwords_with_md5_by_default()
        );
        assert!(!Major(15).has_reserved_connections() && Major(16).has_reserved_connections());
        assert!(
            Major(11).wal_senders_use_connections() && !Major(12).wal_senders_use_connections()
        );
        assert!(!Major(17).has_io_workers() && Major(18).has_io_workers());
    }
}
