//! `sitewright render`: the CATMAID tree byte for byte, modes, the manifest, secrets, and nothing
//! written for an invalid spec.
