//! `sitewright diff`.
