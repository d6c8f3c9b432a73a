//! Settings derived from the host, as PGTune (le0pard/pgtune) derives them: memory from RAM,
//! parallelism from cpus, planner costs from the storage, checkpoints from the workload. Each
//! value says how it was derived.
//!
//! PGTune computes in kB with floor division and prints a value in GB or MB only when it divides
//! evenly; so does this module, and its tests pin PGTune's own outputs. Where PGTune assumes a
//! server build that sitewright cannot (lz4, io_uring), the setting is left at what every build has.

use serde_json::json;

use crate::plan::Setting;
use crate::spec::{StorageKind, Workload};
use crate::units::ByteSize;

use crate::pg_settings::Major;

/// Sizes in kB, PGTune's unit of account.
const MB: u64 = 1024;
const GB: u64 = 1024 * MB;

/// What the derivation starts from.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Host {
    pub(crate) memory: ByteSize,
    pub(crate) cpus: u32,
    pub(crate) storage: StorageKind,
}

/// What a derived setting is worked out from, for `explain`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Basis {
    Memory,
    Cpus,
    Storage,
    Workload,
    /// PGTune's or sitewright's value for every host.
    Default,
}

/// What the setting `name` of [`tune`] is worked out from.
pub(crate) fn basis(name: &str) -> Basis {
    match name {
        "shared_buffers"
        | "effective_cache_size"
        | "maintenance_work_mem"
        | "wal_buffers"
        | "work_mem"
        | "huge_pages"
        | "autovacuum_work_mem" => Basis::Memory,
        "autovacuum_max_workers"
        | "io_workers"
        | "max_worker_processes"
        | "max_parallel_workers_per_gather"
        | "max_parallel_workers"
        | "max_parallel_maintenance_workers" => Basis::Cpus,
        "random_page_cost" | "effective_io_concurrency" => Basis::Storage,
        "checkpoint_completion_target" | "wal_compression" => Basis::Default,
        _ => Basis::Workload,
    }
}

/// Connections a workload expects when the spec does not say.
pub(crate) fn default_connections(workload: Workload) -> u64 {
    match workload {
        Workload::Web => 200,
        Workload::Oltp => 300,
        Workload::Dw => 40,
        Workload::Desktop => 20,
        Workload::Mixed => 100,
    }
}

pub(crate) fn name(workload: Workload) -> &'static str {
    match workload {
        Workload::Web => "web",
        Workload::Oltp => "oltp",
        Workload::Dw => "dw",
        Workload::Desktop => "desktop",
        Workload::Mixed => "mixed",
    }
}

/// PGTune's printing of a kB count: GB or MB when it divides evenly, else kB.
fn kb(value: u64) -> String {
    if value != 0 && value.is_multiple_of(GB) {
        format!("{}GB", value / GB)
    } else if value != 0 && value.is_multiple_of(MB) {
        format!("{}MB", value / MB)
    } else {
        format!("{value}kB")
    }
}

/// The derived settings, in PGTune's order. `connections` is max_connections as it will be
/// written; `connections_why` says where it came from, or `None` when the spec sets it itself.
pub(crate) fn tune(
    host: Host,
    workload: Workload,
    major: Major,
    connections: u64,
    connections_why: Option<String>,
) -> Vec<Setting> {
    let t = Tuning::new(host, workload);
    let mut out = Vec::new();
    if let Some(why) = connections_why {
        out.push(Setting::new("max_connections", connections).because(why));
    }
    let memory = t.memory(&mut out);
    t.storage(&mut out);
    out.push(t.work_mem(memory.shared_buffers, connections));
    out.push(if memory.shared_buffers >= 2 * GB {
        Setting::new("huge_pages", "try").because("shared_buffers is 2GB or more")
    } else {
        Setting::new("huge_pages", "off").because("shared_buffers is under 2GB")
    });
    if major.jit_on_by_default()
        && matches!(workload, Workload::Web | Workload::Oltp | Workload::Mixed)
    {
        out.push(Setting::new("jit", false).because(format!(
            "{}: short queries do not repay JIT compilation",
            t.w
        )));
    }
    out.push(
        Setting::new("wal_compression", true)
            .because("pglz, which every build has; lz4 needs a server built with it"),
    );
    t.maintenance_workers(&mut out, memory.maintenance, major);
    t.wal_sizes(&mut out);
    t.parallel(&mut out);
    out
}

/// The host and workload facts every derivation reads, worked out once.
struct Tuning {
    host: Host,
    workload: Workload,
    /// RAM in kB.
    ram: u64,
    ram_text: String,
    /// The workload's name.
    w: &'static str,
    desktop: bool,
    dw: bool,
    cpus: u64,
}

/// The memory sizes that later derivations depend on, in kB.
struct Memory {
    shared_buffers: u64,
    maintenance: u64,
}

impl Tuning {
    fn new(host: Host, workload: Workload) -> Self {
        Self {
            ram: host.memory.bytes() / 1024,
            ram_text: host.memory.to_postgres(),
            w: name(workload),
            desktop: workload == Workload::Desktop,
            dw: workload == Workload::Dw,
            cpus: u64::from(host.cpus),
            host,
            workload,
        }
    }

    /// shared_buffers, the cache estimate, maintenance memory, WAL buffers and statistics.
    fn memory(&self, out: &mut Vec<Setting>) -> Memory {
        let (ram, ram_text, desktop, dw) = (self.ram, &self.ram_text, self.desktop, self.dw);
        let shared_buffers = if desktop { ram / 16 } else { ram / 4 };
        out.push(
            Setting::new("shared_buffers", kb(shared_buffers)).because(if desktop {
                format!("1/16 of {ram_text} (desktop)")
            } else {
                format!("25% of {ram_text}")
            }),
        );
        let cache = if desktop { ram / 4 } else { ram * 3 / 4 };
        out.push(
            Setting::new("effective_cache_size", kb(cache)).because(format!(
                "{} of {ram_text}",
                if desktop { "25%" } else { "75%" }
            )),
        );
        let maintenance = (if dw { ram / 8 } else { ram / 16 }).min(8 * GB);
        out.push(
            Setting::new("maintenance_work_mem", kb(maintenance)).because(format!(
                "{} of {ram_text}, at most 8GB",
                if dw { "1/8" } else { "1/16" }
            )),
        );
        out.push(
            Setting::new("checkpoint_completion_target", 0.9)
                .because("PGTune's value for every workload"),
        );
        let wal_buffers = match shared_buffers * 3 / 100 {
            w if w > 14 * MB => 16 * MB,
            w if w < 32 => 32,
            w => w,
        };
        out.push(
            Setting::new("wal_buffers", kb(wal_buffers))
                .because("3% of shared_buffers, 32kB to 16MB"),
        );
        out.push(
            Setting::new("default_statistics_target", if dw { 500 } else { 100 })
                .because(format!("{} workload", self.w)),
        );
        Memory {
            shared_buffers,
            maintenance,
        }
    }

    /// What reading a page costs, and how many reads the storage serves at once.
    fn storage(&self, out: &mut Vec<Setting>) {
        let (cost, cost_why) = match (self.host.storage, self.workload) {
            (StorageKind::Hdd, _) => (json!(4), "hdd storage"),
            (_, Workload::Dw) => (json!(4), "dw: large scans read sequentially"),
            _ => (json!(1.1), "solid-state or san storage"),
        };
        out.push(Setting::new("random_page_cost", cost).because(cost_why));
        let (io, storage) = match self.host.storage {
            StorageKind::Hdd => (2, "hdd"),
            StorageKind::Ssd => (200, "ssd"),
            StorageKind::San => (300, "san"),
            StorageKind::Nvme => (1000, "nvme"),
        };
        out.push(
            Setting::new("effective_io_concurrency", io).because(format!("{storage} storage")),
        );
    }

    /// PGTune's work_mem, capped at each connection's share of the host's memory.
    fn work_mem(&self, shared_buffers: u64, connections: u64) -> Setting {
        let (ram, ram_text, w) = (self.ram, &self.ram_text, self.w);
        let workers = if self.cpus >= 4 { self.cpus } else { 8 };
        let divisor = match self.workload {
            Workload::Web | Workload::Oltp => 1,
            Workload::Dw | Workload::Mixed => 2,
            Workload::Desktop => 6,
        };
        let pgtune = ((ram - shared_buffers) / ((connections + workers) * 3) / divisor).max(4 * MB);
        // PGTune's 4MB floor times many connections can pass the host's memory (300 oltp
        // connections on 1GB): then every connection gets its share of RAM, and no more, so that
        // the derived value never trips the memory warning (PG025). 64kB is the server's minimum.
        let share = (ram / connections.max(1)).max(64);
        let work_mem = pgtune.min(share);
        let formula = format!(
            "(RAM - shared_buffers) / ((max_connections + {workers}) x 3){}",
            if divisor > 1 {
                format!(" / {divisor} ({w})")
            } else {
                String::new()
            }
        );
        Setting::new("work_mem", kb(work_mem)).because(if work_mem < pgtune {
            format!(
                "{ram_text} / {connections} connections: {formula}, at least 4MB, would take more than {ram_text}"
            )
        } else {
            format!("{formula}, at least 4MB")
        })
    }

    /// Autovacuum's workers and memory, and PostgreSQL 18's I/O workers, by cpus and memory.
    fn maintenance_workers(&self, out: &mut Vec<Setting>, maintenance: u64, major: Major) {
        let cpus = self.cpus;
        if cpus >= 16 {
            out.push(
                Setting::new("autovacuum_max_workers", if cpus >= 32 { 5 } else { 4 })
                    .because(format!("{cpus} cpus")),
            );
        }
        if maintenance >= 2 * GB {
            out.push(
                Setting::new("autovacuum_work_mem", kb(2 * GB))
                    .because("maintenance_work_mem is 2GB or more"),
            );
        }
        if major.has_io_workers() {
            let io_workers = (cpus / 4).clamp(3, 32);
            if io_workers > 3 {
                out.push(
                    Setting::new("io_workers", io_workers)
                        .because(format!("a quarter of {cpus} cpus")),
                );
            }
        }
    }

    /// The WAL kept between checkpoints, by workload.
    fn wal_sizes(&self, out: &mut Vec<Setting>) {
        let (min_wal, max_wal) = match self.workload {
            Workload::Web | Workload::Mixed => (GB, 4 * GB),
            Workload::Oltp => (2 * GB, 8 * GB),
            Workload::Dw => (4 * GB, 16 * GB),
            Workload::Desktop => (100 * MB, 2 * GB),
        };
        let w = self.w;
        out.push(Setting::new("min_wal_size", kb(min_wal)).because(format!("{w} workload")));
        out.push(Setting::new("max_wal_size", kb(max_wal)).because(format!("{w} workload")));
    }

    /// Parallel query and maintenance workers, on hosts of 4 cpus or more.
    fn parallel(&self, out: &mut Vec<Setting>) {
        let (cpus, dw) = (self.cpus, self.dw);
        if cpus < 4 {
            return;
        }
        let half = cpus.div_ceil(2);
        out.push(Setting::new("max_worker_processes", cpus).because(format!("{cpus} cpus")));
        out.push(
            Setting::new(
                "max_parallel_workers_per_gather",
                if dw { half } else { half.min(4) },
            )
            .because(format!(
                "half of {cpus} cpus{}",
                if dw { "" } else { ", at most 4" }
            )),
        );
        out.push(Setting::new("max_parallel_workers", cpus).because(format!("{cpus} cpus")));
        out.push(
            Setting::new("max_parallel_maintenance_workers", half.min(4))
                .because(format!("half of {cpus} cpus, at most 4")),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(memory: &str, cpus: u32, storage: StorageKind) -> Host {
        Host {
            memory: ByteSize::parse(memory).unwrap(),
            cpus,
            storage,
        }
    }

    /// `name = value` lines, as PGTune prints them.
    fn lines(host: Host, workload: Workload, major: u32, connections: Option<u64>) -> Vec<String> {
        let c = connections.unwrap_or(default_connections(workload));
        tune(host, workload, Major(major), c, Some(String::new()))
            .iter()
            .map(|s| {
                let value = s.text();
                format!("{} = {value}", s.name)
            })
            .collect()
    }

    /// PGTune's output (le0pard/pgtune 7caef27, linux, run on its own code), less the two lines
    /// sitewright writes differently on purpose: wal_compression (lz4 there, pglz here) and,
    /// on 18, io_method (io_uring there, the default here).
    fn pgtune(text: &str) -> Vec<String> {
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("wal_compression"))
            .map(str::to_owned)
            .collect()
    }

    fn ours(host: Host, workload: Workload, major: u32, connections: Option<u64>) -> Vec<String> {
        lines(host, workload, major, connections)
            .into_iter()
            .filter(|l| !l.starts_with("wal_compression"))
            .collect()
    }

    #[test]
    fn pgtune_64gb_16_cpus_ssd_web() {
        assert_eq!(
            ours(host("64GB", 16, StorageKind::Ssd), Workload::Web, 16, None),
            pgtune(
                "max_connections = 200
                shared_buffers = 16GB
                effective_cache_size = 48GB
                maintenance_work_mem = 4GB
                checkpoint_completion_target = 0.9
                wal_buffers = 16MB
                default_statistics_target = 100
                random_page_cost = 1.1
                effective_io_concurrency = 200
                work_mem = 77672kB
                huge_pages = try
                jit = off
                autovacuum_max_workers = 4
                autovacuum_work_mem = 2GB
                min_wal_size = 1GB
                max_wal_size = 4GB
                max_worker_processes = 16
                max_parallel_workers_per_gather = 4
                max_parallel_workers = 16
                max_parallel_maintenance_workers = 4"
            )
        );
    }

    #[test]
    fn pgtune_32gb_8_cpus_ssd_oltp() {
        assert_eq!(
            ours(host("32GB", 8, StorageKind::Ssd), Workload::Oltp, 16, None),
            pgtune(
                "max_connections = 300
                shared_buffers = 8GB
                effective_cache_size = 24GB
                maintenance_work_mem = 2GB
                checkpoint_completion_target = 0.9
                wal_buffers = 16MB
                default_statistics_target = 100
                random_page_cost = 1.1
                effective_io_concurrency = 200
                work_mem = 27235kB
                huge_pages = try
                jit = off
                autovacuum_work_mem = 2GB
                min_wal_size = 2GB
                max_wal_size = 8GB
                max_worker_processes = 8
                max_parallel_workers_per_gather = 4
                max_parallel_workers = 8
                max_parallel_maintenance_workers = 4"
            )
        );
    }

    #[test]
    fn pgtune_16gb_4_cpus_hdd_dw() {
        assert_eq!(
            ours(host("16GB", 4, StorageKind::Hdd), Workload::Dw, 16, None),
            pgtune(
                "max_connections = 40
                shared_buffers = 4GB
                effective_cache_size = 12GB
                maintenance_work_mem = 2GB
                checkpoint_completion_target = 0.9
                wal_buffers = 16MB
                default_statistics_target = 500
                random_page_cost = 4
                effective_io_concurrency = 2
                work_mem = 47662kB
                huge_pages = try
                autovacuum_work_mem = 2GB
                min_wal_size = 4GB
                max_wal_size = 16GB
                max_worker_processes = 4
                max_parallel_workers_per_gather = 2
                max_parallel_workers = 4
                max_parallel_maintenance_workers = 2"
            )
        );
    }

    #[test]
    fn pgtune_8gb_2_cpus_san_mixed() {
        assert_eq!(
            ours(host("8GB", 2, StorageKind::San), Workload::Mixed, 16, None),
            pgtune(
                "max_connections = 100
                shared_buffers = 2GB
                effective_cache_size = 6GB
                maintenance_work_mem = 512MB
                checkpoint_completion_target = 0.9
                wal_buffers = 16MB
                default_statistics_target = 100
                random_page_cost = 1.1
                effective_io_concurrency = 300
                work_mem = 9709kB
                huge_pages = try
                jit = off
                min_wal_size = 1GB
                max_wal_size = 4GB"
            )
        );
    }

    #[test]
    fn pgtune_2gb_1_cpu_ssd_desktop() {
        // PGTune also writes wal_level = minimal and max_wal_senders = 0 for a desktop;
        // sitewright leaves replication settings to the replication section.
        assert_eq!(
            ours(
                host("2GB", 1, StorageKind::Ssd),
                Workload::Desktop,
                16,
                None
            ),
            pgtune(
                "max_connections = 20
                shared_buffers = 128MB
                effective_cache_size = 512MB
                maintenance_work_mem = 128MB
                checkpoint_completion_target = 0.9
                wal_buffers = 3932kB
                default_statistics_target = 100
                random_page_cost = 1.1
                effective_io_concurrency = 200
                work_mem = 4MB
                huge_pages = off
                min_wal_size = 100MB
                max_wal_size = 2GB"
            )
        );
    }

    #[test]
    fn pgtune_on_postgres_11_has_no_jit_line() {
        let v11 = ours(host("64GB", 16, StorageKind::Ssd), Workload::Web, 11, None);
        let v16 = ours(host("64GB", 16, StorageKind::Ssd), Workload::Web, 16, None);
        let without_jit: Vec<String> = v16.into_iter().filter(|l| l != "jit = off").collect();
        assert_eq!(v11, without_jit);
    }

    #[test]
    fn pgtune_4gb_4_cpus_500_connections() {
        assert_eq!(
            ours(
                host("4GB", 4, StorageKind::Ssd),
                Workload::Web,
                16,
                Some(500)
            ),
            pgtune(
                "max_connections = 500
                shared_buffers = 1GB
                effective_cache_size = 3GB
                maintenance_work_mem = 256MB
                checkpoint_completion_target = 0.9
                wal_buffers = 16MB
                default_statistics_target = 100
                random_page_cost = 1.1
                effective_io_concurrency = 200
                work_mem = 4MB
                huge_pages = off
                jit = off
                min_wal_size = 1GB
                max_wal_size = 4GB
                max_worker_processes = 4
                max_parallel_workers_per_gather = 2
                max_parallel_workers = 4
                max_parallel_maintenance_workers = 2"
            )
        );
    }

    /// PGTune gives 4MB for 300 oltp connections on 1GB, 1200MB in all; sitewright gives each
    /// connection its share of the memory instead.
    #[test]
    fn work_mem_times_connections_stays_within_memory() {
        let lines = ours(host("1GB", 1, StorageKind::Ssd), Workload::Oltp, 16, None);
        assert!(lines.contains(&"work_mem = 3495kB".to_owned()), "{lines:?}");
        for workload in [
            Workload::Web,
            Workload::Oltp,
            Workload::Dw,
            Workload::Mixed,
            Workload::Desktop,
        ] {
            for connections in [1, 20, 300, 5000, 262143] {
                for memory in ["1GB", "3GB", "64GB"] {
                    let h = host(memory, 4, StorageKind::Ssd);
                    let work_mem = tune(h, workload, Major(16), connections, None)
                        .into_iter()
                        .find(|s| s.name == "work_mem")
                        .unwrap();
                    let bytes = ByteSize::parse(work_mem.value.as_str().unwrap())
                        .unwrap()
                        .bytes();
                    assert!(
                        bytes * connections <= h.memory.bytes() || bytes == 64 * 1024,
                        "{memory} {connections}: {work_mem:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn postgres_18_gets_io_workers_from_many_cpus() {
        let lines = ours(host("128GB", 32, StorageKind::Nvme), Workload::Dw, 18, None);
        assert!(lines.contains(&"io_workers = 8".to_owned()), "{lines:?}");
        assert!(lines.contains(&"random_page_cost = 4".to_owned()));
        assert!(lines.contains(&"effective_io_concurrency = 1000".to_owned()));
        assert!(lines.contains(&"maintenance_work_mem = 8GB".to_owned()));
        assert!(lines.contains(&"max_parallel_workers_per_gather = 16".to_owned()));
        assert!(lines.contains(&"autovacuum_max_workers = 5".to_owned()));
    }
}
