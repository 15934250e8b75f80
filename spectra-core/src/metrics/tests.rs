use std::collections::{BTreeMap, BTreeSet};

use super::*;
use crate::collect::*;
use crate::protocol::flatten::{DISPLAY_LIMITS, leaves};

/// One of every record with every optional field present and every list one long: written
/// out field by field (no `..Default::default()`), so a field added to a record fails to
/// compile here until it is added, and then fails the test until the schema has it.
fn every_record() -> Vec<Metric> {
    let usage = CpuUsage {
        usage_percent: 1.0,
        user_percent: 1.0,
        system_percent: 1.0,
        idle_percent: 1.0,
        iowait_percent: 1.0,
        steal_percent: 1.0,
    };
    let process = ProcessInfo {
        pid: 1,
        name: "init".into(),
        user: Some("root".into()),
        uid: Some(0),
        cpu_percent: 1.0,
        rss_bytes: 1,
        threads: 1,
        state: "sleeping".into(),
    };
    vec![
        Metric::Cpu(CpuStats {
            total: usage,
            per_core: vec![usage],
            load_1: 1.0,
            load_5: 1.0,
            load_15: 1.0,
            core_count: 1,
            frequency_mhz: Some(1.0),
            since_boot: false,
        }),
        Metric::Memory(MemoryStats {
            total: 1,
            used: 1,
            available: 1,
            free: 1,
            buffers: 1,
            cached: 1,
            swap_total: 1,
            swap_used: 1,
            cgroup_limit: Some(1),
        }),
        Metric::Disk(vec![MountUsage {
            device: "/dev/sda1".into(),
            mount_point: "/".into(),
            fs_type: "ext4".into(),
            total: 1,
            used: 1,
            free: 1,
            usage_percent: 1.0,
            inodes_total: 1,
            inodes_used: 1,
            inodes_free: 1,
        }]),
        Metric::DiskIo(vec![DiskIoStats {
            device: "sda".into(),
            read_bytes: 1,
            write_bytes: 1,
            read_ops: 1,
            write_ops: 1,
            read_time_ms: 1,
            write_time_ms: 1,
            in_flight: 1,
            io_time_ms: 1,
            rates: Some(DiskIoRates {
                read_bytes_per_sec: 1.0,
                write_bytes_per_sec: 1.0,
                read_ops_per_sec: 1.0,
                write_ops_per_sec: 1.0,
                read_latency_ms: Some(1.0),
                write_latency_ms: Some(1.0),
                utilization_percent: 1.0,
            }),
        }]),
        Metric::Network(vec![InterfaceStats {
            name: "eth0".into(),
            up: Some(true),
            addresses: vec!["192.0.2.1".into()],
            rx_bytes: 1,
            rx_packets: 1,
            rx_errors: 1,
            rx_drops: 1,
            tx_bytes: 1,
            tx_packets: 1,
            tx_errors: 1,
            tx_drops: 1,
            rates: Some(InterfaceRates {
                rx_bytes_per_sec: 1.0,
                tx_bytes_per_sec: 1.0,
                rx_packets_per_sec: 1.0,
                tx_packets_per_sec: 1.0,
            }),
        }]),
        Metric::Wifi(vec![WifiLink {
            interface: "wlan0".into(),
            ssid: Some("lab".into()),
            signal_dbm: Some(-50.0),
            link_quality: Some(60.0),
            bitrate_mbps: Some(1.0),
            frequency_mhz: Some(2412.0),
        }]),
        Metric::Processes(ProcessStats {
            total: 1,
            total_threads: 1,
            by_state: BTreeMap::from([("sleeping".to_owned(), 1)]),
            top_by_cpu: vec![process.clone()],
            top_by_memory: vec![process],
            since_start: false,
        }),
        Metric::Services(vec![Service {
            name: "ssh.service".into(),
            load_state: "loaded".into(),
            active_state: "active".into(),
            sub_state: "running".into(),
            description: "OpenSSH".into(),
        }]),
        Metric::Applications(vec![Package {
            name: "bash".into(),
            version: "5".into(),
            size_bytes: Some(1),
            manager: "dpkg".into(),
        }]),
        Metric::Containers(vec![Container {
            runtime: "docker".into(),
            id: "abc".into(),
            name: "web".into(),
            image: Some("nginx".into()),
            node: Some("pve1".into()),
            state: "running".into(),
            cpu_percent: Some(1.0),
            memory_usage: Some(1),
            memory_limit: Some(1),
            network_rx_bytes: Some(1),
            network_tx_bytes: Some(1),
        }]),
        Metric::System(SystemInfo {
            hostname: "h".into(),
            os: Some("Debian".into()),
            kernel: "6".into(),
            arch: "x86_64".into(),
            uptime_secs: 1.0,
            boot_time: chrono::Utc::now(),
            process_count: 1,
            users: vec![LoggedInUser {
                name: "root".into(),
                terminal: "pts/0".into(),
                host: "192.0.2.9".into(),
            }],
        }),
        Metric::Temperature(vec![Sensor {
            chip: "coretemp".into(),
            label: "Core 0".into(),
            current: 40.0,
            high: Some(80.0),
            critical: Some(100.0),
        }]),
        Metric::RaspberryPi(PiStats {
            model: "Pi 4".into(),
            soc_temperature: Some(50.0),
            arm_clock_mhz: Some(1500.0),
            throttled_raw: Some(0),
            throttle: Some(Throttle {
                under_voltage_now: false,
                frequency_capped_now: false,
                throttled_now: false,
                soft_temperature_limit_now: false,
                under_voltage_occurred: false,
                frequency_capped_occurred: false,
                throttled_occurred: false,
                soft_temperature_limit_occurred: false,
            }),
        }),
    ]
}

/// The series names of `metric`'s data, as the server and every frontend name them.
fn series_names(metric: &Metric) -> Vec<String> {
    let value = serde_json::to_value(metric).expect("serialises");
    // A Metric serialises as {"type": kind, "data": …}.
    let data = &value["data"];
    leaves(data, DISPLAY_LIMITS)
        .into_iter()
        .map(|leaf| format!("{}.{}", metric.kind(), leaf.path.join(".")))
        .collect()
}

#[test]
fn every_field_of_every_record_is_in_the_schema_and_nothing_else_of_spectras() {
    let records = every_record();
    let kinds: BTreeSet<&str> = records.iter().map(Metric::kind).collect();
    assert_eq!(
        kinds,
        crate::collect::names().into_iter().collect(),
        "one record per collector"
    );
    let mut seen = BTreeSet::new();
    for metric in &records {
        for name in series_names(metric) {
            let field = field(&name).unwrap_or_else(|| panic!("{name} is not in the schema"));
            assert_ne!(
                field.sender,
                Sender::GoAgent,
                "{name} is marked as the Go agent's only"
            );
            seen.insert(field.name);
        }
    }
    let missing: Vec<&str> = FIELDS
        .iter()
        .filter(|f| f.sender != Sender::GoAgent && !seen.contains(f.name))
        .map(|f| f.name)
        .collect();
    assert!(
        missing.is_empty(),
        "in the schema but in no record: {missing:?}"
    );
}

#[test]
fn names_are_unique_and_every_capacity_is_a_field_of_the_same_kind_in_the_same_unit() {
    let mut names = BTreeSet::new();
    for field in FIELDS {
        assert!(names.insert(field.name), "{} twice", field.name);
        assert!(!field.help.is_empty(), "{} has no help", field.name);
        match field.full {
            Some(Full::Percent) => assert_eq!(field.unit, Unit::Percent, "{}", field.name),
            Some(Full::Capacity(capacity)) => {
                let capacity = self::field(capacity).expect("the capacity is a field");
                assert_eq!(
                    capacity.metric_kind(),
                    field.metric_kind(),
                    "{}",
                    field.name
                );
                assert_eq!(capacity.unit, field.unit, "{}", field.name);
            }
            None => {}
        }
        if field.kind == Kind::Counter {
            assert!(field.unit.is_numeric(), "{}", field.name);
        }
    }
}

#[test]
fn wildcards_match_one_segment_only() {
    assert_eq!(
        field("processes.by_state.running").map(|f| f.name),
        Some("processes.by_state.*")
    );
    assert!(field("processes.by_state").is_none());
    assert!(field("processes.by_state.").is_none());
    assert!(field("processes.by_state.a.b").is_none());
}

#[test]
fn threshold_kinds_fit_only_their_units() {
    assert_eq!(Unit::Percent.accepts(LiteralKind::Percent), Some(1.0));
    assert_eq!(Unit::Percent.accepts(LiteralKind::Bytes), None);
    assert_eq!(Unit::Bytes.accepts(LiteralKind::Seconds), None);
    assert_eq!(
        Unit::Milliseconds.accepts(LiteralKind::Seconds),
        Some(1000.0)
    );
    assert_eq!(Unit::Text.accepts(LiteralKind::Plain), None);
    assert_eq!(Unit::Count.accepts(LiteralKind::Plain), Some(1.0));
}

#[test]
fn prometheus_names_follow_the_units_and_are_unique() {
    let name = |field: &str| self::field(field).expect(field).prometheus();
    assert_eq!(
        name("disk.usage_percent"),
        ("spectra_disk_usage_ratio".into(), 0.01)
    );
    assert_eq!(
        name("memory.total"),
        ("spectra_memory_total_bytes".into(), 1.0)
    );
    assert_eq!(
        name("network.rx_bytes"),
        ("spectra_network_rx_bytes_total".into(), 1.0)
    );
    assert_eq!(
        name("system.uptime_secs"),
        ("spectra_system_uptime_seconds".into(), 1.0)
    );
    assert_eq!(name("cpu.core_count"), ("spectra_cpu_cores".into(), 1.0));
    assert_eq!(
        name("system.process_count"),
        ("spectra_system_processes".into(), 1.0)
    );
    assert_eq!(
        name("cpu.frequency_mhz"),
        ("spectra_cpu_frequency_hertz".into(), 1e6)
    );
    assert_eq!(
        name("disk_io.rates.read_bytes_per_sec"),
        ("spectra_disk_io_rates_read_bytes_per_second".into(), 1.0)
    );
    assert_eq!(name("processes.by_state.*").0, "spectra_processes_by_state");
    assert_eq!(
        field("processes.by_state.*").and_then(|f| f.wildcard_label()),
        Some("state")
    );
    // A name two fields share (the Go agent's `cpu.cores` and Spectra's `cpu.core_count`) is
    // one family: it must mean the same, in the same unit and kind.
    let mut seen: BTreeMap<String, &MetricField> = BTreeMap::new();
    for field in FIELDS {
        let (name, _) = field.prometheus();
        if let Some(earlier) = seen.insert(name.clone(), field) {
            assert_eq!(
                (earlier.unit, earlier.kind),
                (field.unit, field.kind),
                "{name}"
            );
            assert!(
                [earlier.sender, field.sender].contains(&Sender::GoAgent),
                "{name}: {} and {} collide",
                earlier.name,
                field.name
            );
        }
        assert!(
            name.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
            "{name}"
        );
        assert_eq!(
            name.ends_with("_total"),
            field.kind == Kind::Counter,
            "{name}"
        );
        for abbreviation in ["_ms", "_sec", "_secs", "_mhz", "_mbps", "_pct", "_percent"] {
            assert!(
                !name.contains(&format!("{abbreviation}_")) && !name.ends_with(abbreviation),
                "{name}"
            );
        }
        assert!(!name.ends_with("_count"), "{name}");
    }
}
