//! What the plan works out for each host once, for every stage that needs it: the check stage's
//! rules about what the files will say read the same settings the plan writes, instead of
//! planning them again.

use std::sync::OnceLock;

use super::Setting;
use super::postgres::conf::{Conf, conf};
use super::postgres::hba::{Record, records};
use crate::spec::{Host, Role, Site};

/// Each host's derived settings, worked out when first asked for and kept.
#[derive(Debug, Clone)]
pub(crate) struct Derived {
    confs: Vec<OnceLock<Option<Conf>>>,
    sysctl: Vec<OnceLock<Option<Vec<Setting>>>>,
    hba: OnceLock<Vec<Record>>,
}

impl Derived {
    /// Nothing worked out yet, room for every host of `site`.
    pub(crate) fn new(site: &Site) -> Self {
        Self {
            confs: site.hosts.iter().map(|_| OnceLock::new()).collect(),
            sysctl: site.hosts.iter().map(|_| OnceLock::new()).collect(),
            hba: OnceLock::new(),
        }
    }

    /// The settings of `host`'s postgresql.conf (and recovery.conf), or none when it runs no
    /// PostgreSQL server.
    pub(crate) fn conf(&self, site: &Site, host: &Host) -> Option<&Conf> {
        let compute = || {
            let pg = site.postgres.as_ref()?;
            (host.has(Role::PostgresPrimary) || host.has(Role::PostgresReplica))
                .then(|| conf(site, self, pg, host))
        };
        self.cached(&self.confs, site, host, compute)
    }

    /// The settings of `host`'s sysctl file, or none when the spec's sysctl section does not
    /// apply to it.
    pub(crate) fn sysctl(&self, site: &Site, host: &Host) -> Option<&[Setting]> {
        self.cached(&self.sysctl, site, host, || {
            super::sysctl::settings(site, self, host)
        })
        .map(Vec::as_slice)
    }

    /// The site's pg_hba.conf records, the same on every server.
    pub(crate) fn hba(&self, site: &Site) -> &[Record] {
        self.hba.get_or_init(|| {
            site.postgres
                .as_ref()
                .map(|pg| records(site, pg))
                .unwrap_or_default()
        })
    }

    fn cached<'a, T>(
        &'a self,
        cells: &'a [OnceLock<Option<T>>],
        site: &Site,
        host: &Host,
        compute: impl FnOnce() -> Option<T>,
    ) -> Option<&'a T> {
        let index =
            index_of(site, host).expect("the plan is asked only about the site's own hosts");
        cells[index].get_or_init(compute).as_ref()
    }
}

/// Where `host` sits in `site.hosts`, found from its address in the vector rather than by a
/// search, since a large site asks for each of its thousands of hosts.
fn index_of(site: &Site, host: &Host) -> Option<usize> {
    let size = std::mem::size_of::<Host>();
    let offset = (host as *const Host as usize).checked_sub(site.hosts.as_ptr() as usize)?;
    let index = offset / size;
    (offset % size == 0)
        .then_some(index)
        .filter(|&i| site.hosts.get(i).is_some_and(|h| std::ptr::eq(h, host)))
}
