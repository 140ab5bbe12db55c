//! host-capture's settings from the configuration file and the environment, under the flags;
//! `--print-config`; refusals with the file's line.

use std::process::Command;

use crate::support::*;

fn with_config(
    config: &std::path::Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> std::process::Output {
    let mut cmd = Command::new(bin());
    testkit::isolated(&mut cmd);
    cmd.arg("--config").arg(config).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run host-capture")
}

#[test]
fn the_file_sets_the_filter_the_environment_and_a_flag_override_it() {
    let dir = scratch("settings");
    let config = dir.join("streamchecker.toml");
    std::fs::write(&config, "[capture]\nfilter = \"ip6 or vlan\"\n").unwrap();
    let s = sample();
    let out = with_config(&config, &["--read", &s, "--totals"], &[]);
    assert!(out.status.success(), "{}", testkit::log::text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "192.0.2.11 203.0.113.5 576 1\n2001:db8::1 2001:db8::2 1260 1\nTOTAL 1836 2\n"
    );
    let out = with_config(
        &config,
        &["--read", &s, "--totals"],
        &[("STREAMCHECKER_CAPTURE_FILTER", "ip6")],
    );
    assert_eq!(
        text(&out.stdout),
        "2001:db8::1 2001:db8::2 1260 1\nTOTAL 1260 1\n"
    );
    let out = with_config(
        &config,
        &["--read", &s, "--totals", "--filter", "vlan"],
        &[("STREAMCHECKER_CAPTURE_FILTER", "ip6")],
    );
    assert_eq!(
        text(&out.stdout),
        "192.0.2.11 203.0.113.5 576 1\nTOTAL 576 1\n"
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn print_config_hides_the_kafka_secrets_and_names_every_origin() {
    let dir = scratch("print-config");
    let password = dir.join("kafka.password");
    std::fs::write(&password, "s3cret-of-kafka\n").unwrap();
    let config = dir.join("streamchecker.toml");
    std::fs::write(
        &config,
        format!(
            "[kafka]\nbrokers = \"kafka1:9093\"\n\"sasl.password_file\" = \"{}\"\n\
             ssl.key.password = \"s3cret-of-the-key\"\n[capture]\nsnaplen = 256\n\
             [stream]\nwhatever_host_stream_checks = 1\n",
            password.display()
        ),
    )
    .unwrap();
    let out = with_config(
        &config,
        &["-i", "eth0", "--print-config", "-X", "linger.ms=5"],
        &[],
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
        format!(
            "\"sasl.password\" = \"***\" # read from {} ({c}:3)",
            password.display()
        ),
        format!("\"ssl.key.password\" = \"***\" # {c}:4"),
        "\"linger.ms\" = \"5\" # -X".to_string(),
        "interface = \"eth0\" # --interface".to_string(),
        format!("snaplen = 256 # {c}:6"),
        "flush_interval = \"1s\" # default".to_string(),
    ] {
        assert!(stdout.lines().any(|l| l == line), "{line}\n{stdout}");
    }
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn a_bad_file_is_refused_naming_its_line_with_status_5() {
    let dir = scratch("bad-config");
    let s = sample();
    for (text_of_file, want) in [
        (
            "[capture]\nsnaplen = 32\n",
            ":2: [capture] snaplen: \"32\": invalid value '32' for '--snaplen <SNAPLEN>': 32 is \
             not in 64..=262144",
        ),
        (
            "[capture]\n\n\nflush_intervall = \"1s\"\n",
            ":4: unknown key `flush_intervall` in [capture] (see host-capture --help: a key is an \
             option's long name with `_` for `-`)",
        ),
        (
            "[kafka]\nsecurity.protocol = \"TLS\"\n",
            ":2: Kafka setting security.protocol: Invalid value \"TLS\" for configuration property \
             \"security.protocol\"",
        ),
    ] {
        let config = dir.join("c.toml");
        std::fs::write(&config, text_of_file).unwrap();
        let out = with_config(&config, &["--read", &s, "--totals"], &[]);
        assert_eq!(
            out.status.code(),
            Some(5),
            "{}",
            testkit::log::text(&out.stderr)
        );
        assert_eq!(
            testkit::log::text(&out.stderr),
            format!("host-capture: {}{want}\n", config.display())
        );
        assert!(out.stdout.is_empty());
    }
    std::fs::remove_dir_all(dir).ok();
}
