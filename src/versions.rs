//! The version rules of nginx, OpenSSL and Django in one place, as `pg_settings::Major` holds
//! PostgreSQL's: every stage asks these what a version can do, never compares numbers itself.

use crate::spec::Version;

/// What an nginx version reads.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NginxVersion<'a>(pub(crate) &'a Version);

impl NginxVersion<'_> {
    /// 1.18 and later: what sitewright writes for.
    pub(crate) fn is_supported(self) -> bool {
        self.0.at_least(1, 18, 0)
    }

    /// `http2 on;` from 1.25.1, which deprecates `listen … http2`.
    pub(crate) fn has_http2_directive(self) -> bool {
        self.0.at_least(1, 25, 1)
    }

    /// From 1.5.9 to 1.23.1 nginx rotates no session ticket keys itself, so tickets are turned off.
    pub(crate) fn needs_session_tickets_off(self) -> bool {
        self.0.at_least(1, 5, 9) && !self.0.at_least(1, 23, 2)
    }
}

/// What the OpenSSL nginx is built with offers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OpenSsl<'a>(pub(crate) &'a Version);

impl OpenSsl<'_> {
    /// TLS 1.3, which both TLS profiles offer, from 1.1.1.
    pub(crate) fn has_tls13(self) -> bool {
        self.0.at_least(1, 1, 1)
    }

    /// The post-quantum X25519MLKEM768 group, from 3.5.
    pub(crate) fn has_mlkem(self) -> bool {
        self.0.at_least(3, 5, 0)
    }
}

/// What a Django release reads.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DjangoRelease<'a>(pub(crate) &'a Version);

impl DjangoRelease<'_> {
    /// The oldest and newest Django releases sitewright writes settings for.
    pub(crate) const OLDEST: (u32, u32) = (3, 2);
    pub(crate) const NEWEST: (u32, u32) = (6, 0);

    /// Major and minor, the part that decides the settings.
    pub(crate) fn series(self) -> (u32, u32) {
        let (major, minor, _) = self.0.parts();
        (major, minor)
    }

    /// PyMemcacheCache and CONN_HEALTH_CHECKS arrived in 4.1, which also removed MemcachedCache.
    pub(crate) fn has_pymemcache(self) -> bool {
        self.0.at_least(4, 1, 0)
    }

    /// CONN_HEALTH_CHECKS, from 4.1.
    pub(crate) fn has_health_checks(self) -> bool {
        self.0.at_least(4, 1, 0)
    }
}
