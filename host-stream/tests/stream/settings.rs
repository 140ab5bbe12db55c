//! Settings as an operator gives them: the README's one-liner on the samples, the
//! configuration file and the environment under the flags, `--print-config`, no limits, and
//! the exact words of every refusal.

use crate::support::*;

/// `host-capture --read samples/FILE --output -` as lines for host-stream.
fn sample_lines(file: &str) -> Vec<u8> {
    let path = repo().join("samples").join(file);
    let out =
        output(sibling("host-capture").args(["--read", path.to_str().unwrap(), "--output", "-"]));
    assert!(out.status.success(), "{}", testkit::log::text(&out.stderr));
    out.stdout
}

fn sample(file: &str) -> String {
    repo()
        .join("samples")
        .join(file)
        .to_str()
        .unwrap()
        .to_string()
}

#[test]
fn the_readme_one_liner_on_the_sample_prints_real_verdicts() {
    let limits = sample("traffic_limits.json");
    let out = fed(
        host_stream_bare().args([
            "--input",
            "-",
            "--limits-file",
            &limits,
            "--host-name",
            "gw1",
        ]),
        &sample_lines("gateway.pcap"),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        testkit::log::text(&out.stderr)
    );
    assert_eq!(
        text(&out.stdout),
        "window 2026-11-26T12:00:00Z 2026-11-26T12:05:00Z bytes=258940 packets=252 verdict=ok \
         min=1024 max=1073741824 filter=all\n\
         window 2026-11-26T12:05:00Z 2026-11-26T12:10:00Z bytes=240 packets=3 \
         verdict=below_min min=1024 max=1073741824 filter=all\n\
         alert {\"bytes\":240,\"filter\":\"all\",\"host\":\"gw1\",\"max\":{\"effective_date\":\
         \"2026-01-01T00:00:00Z\",\"row\":\"entry 2\",\"value\":1073741824,\"written\":\"1073741824\"},\"message\":\
         \"traffic from 2026-11-26T12:05:00Z to 2026-11-26T12:10:00Z is below the minimum: \
         240 B (240 bytes, 3 packets) < 1024 bytes\",\"min\":{\"effective_date\":\
         \"2026-01-01T00:00:00Z\",\"row\":\"entry 1\",\"value\":1024,\"written\":\"1024\"},\"packets\":3,\
         \"saturated\":false,\"scope\":\"all\",\"top_talkers\":[{\"bytes\":240,\"bytes_at_least\":240,\"dst\":\
         \"198.51.100.53\",\"src\":\"192.168.1.11\"}],\"type\":\"alert\",\"verdict\":\
         \"below_min\",\"window_end\":\"2026-11-26T12:10:00Z\",\"window_start\":\
         \"2026-11-26T12:05:00Z\"}\n"
    );
    assert_eq!(
        testkit::log::text(&out.stderr),
        "INFO host_stream: summary records=205 filtered_out=0 undecodable=0 future=0 behind=0 \
         late_records=0 late_bytes=0 windows=2 revised=0 alerts=1 incomplete=0 gaps=0 \
         heartbeats=153\n"
    );
}

#[test]
fn windows_before_the_first_limit_say_why_once() {
    // samples/mixed.pcap is from 2023; the seed's limits take effect in 2026.
    let limits = sample("traffic_limits.json");
    let out = fed(
        host_stream_bare().args(["--input", "-", "--limits-file", &limits]),
        &sample_lines("mixed.pcap"),
    );
    assert_eq!(out.status.code(), Some(0));
    let stderr = testkit::log::text(&out.stderr);
    assert_eq!(
        stderr.lines().next(),
        Some(
            "WARN host_stream::judge: windows from 2023-11-14T22:10:00Z to 2023-11-14T22:15:00Z are not \
             judged against limits: no limit is in force yet: the first takes effect at \
             2026-01-01T00:00:00Z (said once; their verdict is no_limits)"
        ),
        "{stderr}"
    );
}

#[test]
fn no_limits_is_an_error_unless_allowed() {
    let input = b"1800000000000 10.0.0.1 192.0.2.1 100 1\n";
    let out = fed(host_stream_bare().args(["--input", "-"]), input);
    assert_eq!(out.status.code(), Some(5));
    assert_eq!(
        testkit::log::text(&out.stderr),
        "ERROR host_stream: no limits: give --limits-db URL or --limits-file FILE (or [limits] \
         database_url / file in the configuration file, or DATABASE_URL); --allow-no-limits \
         runs without them (every window no_limits, no alert)\n"
    );
    assert!(out.stdout.is_empty());
    let out = fed(
        host_stream_bare().args(["--input", "-", "--allow-no-limits"]),
        input,
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        testkit::log::text(&out.stderr)
    );
    assert_eq!(
        text(&out.stdout),
        "window 2027-01-15T08:00:00Z 2027-01-15T08:05:00Z bytes=100 packets=1 \
         verdict=no_limits min=- max=- filter=all\n"
    );
}

#[test]
fn the_file_and_the_environment_set_what_the_flags_do_not() {
    let dir = scratch("settings-file");
    let config = dir.join("streamchecker.toml");
    std::fs::write(
        &config,
        format!(
            "# as an operator writes it\n[stream]\nwindow = \"60s\"\nhost_name = \"gw9\"\n\
             [limits]\nfile = \"{}\"\n[capture]\nflush_interval = \"1s\"\n",
            sample("traffic_limits.json")
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let run = |extra: &[&str], env: &[(&str, &str)]| {
        let mut cmd = host_stream_bare();
        cmd.args(["--config", config, "--input", "-"]).args(extra);
        for (k, v) in env {
            cmd.env(k, v);
        }
        fed(&mut cmd, &sample_lines("gateway.pcap"))
    };
    // The file: 60 s windows (ten of them), the file's limits, the file's host name.
    let out = run(&[], &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        testkit::log::text(&out.stderr)
    );
    let stdout = text(&out.stdout);
    let windows: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("window "))
        .collect();
    assert_eq!(windows.len(), 10, "{stdout}");
    assert!(
        windows[0].starts_with("window 2026-11-26T12:00:00Z 2026-11-26T12:01:00Z "),
        "{stdout}"
    );
    assert!(stdout.contains("\"host\":\"gw9\""), "{stdout}");
    // The environment over the file, a flag over both.
    let out = run(&[], &[("STREAMCHECKER_STREAM_WINDOW", "150s")]);
    assert_eq!(text(&out.stdout).matches("window 2026").count(), 4);
    let out = run(
        &["--window", "300s"],
        &[("STREAMCHECKER_STREAM_WINDOW", "150s")],
    );
    assert_eq!(text(&out.stdout).matches("window 2026").count(), 2);
}

#[test]
fn print_config_shows_the_effective_settings_with_secrets_hidden() {
    let dir = scratch("print-config");
    let password = dir.join("kafka.password");
    std::fs::write(&password, "k4fka-s3cret\n").unwrap();
    let config = dir.join("streamchecker.toml");
    std::fs::write(
        &config,
        format!(
            "[kafka]\nbrokers = \"kafka1:9093\"\nsecurity.protocol = \"SASL_SSL\"\n\
             sasl.mechanism = \"SCRAM-SHA-512\"\nsasl.username = \"sc\"\n\
             sasl.password_file = \"{}\"\n\
             [limits]\ndatabase_url = \"postgresql://sc:db-s3cret@db.example/limits?sslmode=require\"\n",
            password.display()
        ),
    )
    .unwrap();
    let out = output(
        host_stream_bare()
            .args([
                "--config",
                config.to_str().unwrap(),
                "--print-config",
                "--top",
                "3",
            ])
            .env("STREAMCHECKER_STREAM_GROUP", "gw-group"),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        testkit::log::text(&out.stderr)
    );
    let stdout = text(&out.stdout);
    assert!(!stdout.contains("s3cret"), "{stdout}");
    let c = config.display();
    for line in [
        format!("brokers = \"kafka1:9093\" # {c}:2"),
        format!("\"security.protocol\" = \"SASL_SSL\" # {c}:3"),
        format!(
            "\"sasl.password\" = \"***\" # read from {} ({c}:6)",
            password.display()
        ),
        "group = \"gw-group\" # STREAMCHECKER_STREAM_GROUP".to_string(),
        "top = 3 # --top".to_string(),
        "window = \"300s\" # default".to_string(),
        format!("database_url = \"postgresql://sc:***@db.example/limits?sslmode=require\" # {c}:8"),
        "# file is not set".to_string(),
    ] {
        assert!(stdout.lines().any(|l| l == line), "{line}\n{stdout}");
    }
}

#[test]
fn refusals_say_exactly_what_is_wrong() {
    let dir = scratch("refusals");
    let config = dir.join("sc.toml");
    std::fs::write(&config, "[stream]\nwindow = \"60s\"\nwindw = \"5m\"\n").unwrap();
    let c = config.to_str().unwrap();
    for (args, code, want) in [
        (
            vec!["--config", c, "--input", "-", "--allow-no-limits"],
            5,
            format!(
                "host-stream: {c}:3: unknown key `windw` in [stream] (see host-stream --help: a \
                 key is an option's long name with `_` for `-`)\n"
            ),
        ),
        (
            vec!["--input", "-", "--until-end", "--allow-no-limits"],
            5,
            "ERROR host_stream: --until-end applies to Kafka (it stops at the end offsets current at \
             start); with --input - the run ends at the end of stdin\n"
                .to_string(),
        ),
    ] {
        let out = fed(host_stream_bare().args(&args), b"");
        assert_eq!(
            out.status.code(),
            Some(code),
            "{args:?}: {}",
            testkit::log::text(&out.stderr)
        );
        assert_eq!(testkit::log::text(&out.stderr), want, "{args:?}");
    }
    // Nothing listens on port 1: the one line names the brokers and says why once
    // (librdkafka's own log lines may come before it).
    let out = fed(
        host_stream_bare().args([
            "--brokers",
            "127.0.0.1:1",
            "--until-end",
            "--allow-no-limits",
        ]),
        b"",
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        testkit::log::text(&out.stderr)
    );
    assert_eq!(
        testkit::log::text(&out.stderr).lines().last(),
        Some(
            "ERROR host_stream: --brokers 127.0.0.1:1: reading the metadata of topic traffic: \
             BrokerTransportFailure (Local: Broker transport failure): no broker answered \
             (check the address, that a broker runs there, and the TLS/SASL settings)"
        )
    );
}
