//! The layers' rule and every error's wording, on a small program of the same shape as
//! host-stream.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::PathBuf;

use clap::{ArgGroup, Parser};

use super::*;

#[derive(Debug, Parser)]
#[command(group(ArgGroup::new("input").args(["interface", "read"])))]
struct Demo {
    #[arg(long)]
    brokers: Option<String>,
    #[arg(long, default_value = "300s", value_parser = crate::args::duration)]
    window: std::time::Duration,
    #[arg(long)]
    live: bool,
    #[arg(long)]
    interface: Option<String>,
    #[arg(long)]
    read: Option<String>,
    #[arg(long, conflicts_with = "limits_file")]
    limits_db: Option<String>,
    #[arg(long)]
    limits_file: Option<PathBuf>,
    #[arg(long)]
    limits_password_file: Option<PathBuf>,
    #[arg(long)]
    source: Vec<String>,
    #[arg(short = 'X', long = "kafka-option", value_parser = crate::args::key_value)]
    kafka_options: Vec<(String, String)>,
}

const SETTINGS: Settings<Demo> = Settings {
    program: "demo",
    table: Some("stream"),
    shared: &[
        ("brokers", "kafka", "brokers"),
        ("limits_db", "limits", "database_url"),
        ("limits_file", "limits", "file"),
        ("limits_password_file", "limits", "password_file"),
    ],
    env_aliases: &[("limits_db", "DATABASE_URL")],
    kafka_version: false,
    kafka_options: Some(|d: &mut Demo| &mut d.kafka_options),
};

/// A scratch directory for one test.
/// A scratch directory for one test, removed when the test is done (passed or failed).
fn dir(name: &str) -> testkit::Scratch {
    testkit::Scratch::new(&format!("sc-config-{name}"))
}

fn write(dir: &std::path::Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn run(argv: &[&str], env: &[(&str, &str)]) -> Result<Parsed<Demo>, Failure> {
    let mut full: Vec<OsString> = vec!["demo".into()];
    full.extend(argv.iter().map(OsString::from));
    let env: BTreeMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    try_parse(&SETTINGS, "1.0", full, &env)
}

fn args(argv: &[&str], env: &[(&str, &str)]) -> Demo {
    match run(argv, env) {
        Ok(Parsed::Run(d)) => d,
        Ok(Parsed::Print(t)) => panic!("printed {t}"),
        Err(e) => panic!("{e:?}"),
    }
}

fn config_error(argv: &[&str], env: &[(&str, &str)]) -> String {
    match run(argv, env) {
        Err(Failure::Config(e)) => e.to_string(),
        Err(Failure::Usage(e)) => panic!("usage error {e}"),
        Ok(_) => panic!("accepted"),
    }
}

fn printed(argv: &[&str], env: &[(&str, &str)]) -> String {
    match run(argv, env) {
        Ok(Parsed::Print(t)) => t,
        Ok(Parsed::Run(_)) => panic!("ran"),
        Err(e) => panic!("{e:?}"),
    }
}

#[test]
fn a_flag_wins_over_the_environment_which_wins_over_the_file_which_wins_over_the_default() {
    let d = dir("layers");
    let f = write(&d, "sc.toml", "[stream]\nwindow = \"60s\"\n");
    let f = f.to_str().unwrap();
    let w = |argv: &[&str], env: &[(&str, &str)]| args(argv, env).window.as_secs();
    assert_eq!(w(&[], &[]), 300);
    assert_eq!(w(&["--config", f], &[]), 60);
    assert_eq!(
        w(&["--config", f], &[("STREAMCHECKER_STREAM_WINDOW", "120s")]),
        120
    );
    assert_eq!(
        w(
            &["--config", f, "--window", "10s"],
            &[("STREAMCHECKER_STREAM_WINDOW", "120s")]
        ),
        10
    );
    // The file named by the variable.
    assert_eq!(w(&[], &[("STREAMCHECKER_CONFIG", f)]), 60);
    // A shared table, a flag from the environment, an alias variable.
    let f2 = write(
        &d,
        "b.toml",
        "[kafka]\nbrokers = \"k1:9092\"\n[limits]\ndatabase_url = \"postgresql://db/a\"\n",
    );
    let a = args(
        &["--config", f2.to_str().unwrap()],
        &[
            ("STREAMCHECKER_STREAM_LIVE", "yes"),
            ("DATABASE_URL", "postgresql://db/b"),
        ],
    );
    assert_eq!(a.brokers.as_deref(), Some("k1:9092"));
    assert!(a.live);
    assert_eq!(a.limits_db.as_deref(), Some("postgresql://db/b"));
}

#[test]
fn a_lower_layer_yields_to_a_conflicting_option_set_above_it() {
    let d = dir("conflicts");
    let f = write(
        &d,
        "sc.toml",
        "[limits]\nfile = \"/etc/limits.json\"\n[stream]\ninterface = \"eth0\"\n",
    );
    let f = f.to_str().unwrap();
    let a = args(
        &[
            "--config",
            f,
            "--limits-db",
            "postgresql://db/x",
            "--read",
            "x.pcap",
        ],
        &[],
    );
    assert_eq!(a.limits_db.as_deref(), Some("postgresql://db/x"));
    assert_eq!(a.limits_file, None);
    assert_eq!(a.interface, None);
    let a = args(
        &["--config", f],
        &[("STREAMCHECKER_LIMITS_DATABASE_URL", "postgresql://db/y")],
    );
    assert_eq!(a.limits_db.as_deref(), Some("postgresql://db/y"));
    assert_eq!(a.limits_file, None);
    assert_eq!(a.interface.as_deref(), Some("eth0"));
}

#[test]
fn kafka_settings_merge_per_key_and_secrets_come_from_files() {
    let d = dir("kafka");
    let pw = write(&d, "kafka.password", "s3 cret\n");
    let f = write(
        &d,
        "sc.toml",
        &format!(
            "[kafka]\nsecurity.protocol = \"SASL_SSL\"\n\"sasl.mechanism\" = \"PLAIN\"\n\
             sasl.password_file = \"{}\"\nlinger.ms = 50\n",
            pw.display()
        ),
    );
    let a = args(
        &["--config", f.to_str().unwrap(), "-X", "linger.ms=5"],
        &[("STREAMCHECKER_KAFKA_SASL_USERNAME", "sc")],
    );
    let mut got = a.kafka_options.clone();
    got.sort();
    let want: Vec<(String, String)> = [
        ("linger.ms", "5"),
        ("sasl.mechanism", "PLAIN"),
        ("sasl.password", "s3 cret"),
        ("sasl.username", "sc"),
        ("security.protocol", "SASL_SSL"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(got, want);
}

#[test]
fn print_config_shows_every_setting_and_its_origin_with_secrets_hidden() {
    let d = dir("print");
    let pw = write(&d, "kafka.password", "s3cret\n");
    let f = write(
        &d,
        "sc.toml",
        &format!(
            "[kafka]\nbrokers = \"k1:9092\"\nsasl.password_file = \"{}\"\n\
             [limits]\ndatabase_url = \"postgresql://u:s3cret@db/x?sslmode=require\"\n",
            pw.display()
        ),
    );
    let f = f.to_str().unwrap();
    let text = printed(
        &["--config", f, "--print-config", "--source", "10.0.0.0/8"],
        &[
            ("STREAMCHECKER_STREAM_WINDOW", "60s"),
            ("STREAMCHECKER_KAFKA_SSL_KEY_PASSWORD", "s3cret"),
        ],
    );
    assert!(!text.contains("s3cret"), "{text}");
    let want = format!(
        "# demo: the effective settings (a flag wins over a STREAMCHECKER_ variable, a variable \
         over the file, the file over the default)\n\
         # configuration file: {f}\n\
         \n[kafka]\n\
         brokers = \"k1:9092\" # {f}:2\n\
         \"sasl.password\" = \"***\" # read from {pw} ({f}:3)\n\
         \"ssl.key.password\" = \"***\" # STREAMCHECKER_KAFKA_SSL_KEY_PASSWORD\n\
         \n[stream]\n\
         window = \"60s\" # STREAMCHECKER_STREAM_WINDOW\n\
         live = false # default\n\
         # interface is not set\n\
         # read is not set\n\
         source = [\"10.0.0.0/8\"] # --source\n\
         \n[limits]\n\
         database_url = \"postgresql://u:***@db/x?sslmode=require\" # {f}:5\n\
         # file is not set\n\
         # password_file is not set\n",
        pw = pw.display()
    );
    assert_eq!(text, want);
}

#[test]
fn bad_settings_are_errors_that_name_the_line_the_variable_or_the_key() {
    let d = dir("errors");
    let cases = [
        (
            "[stream]\nwindw = \"60s\"\n",
            "{f}:2: unknown key `windw` in [stream] (see demo --help: a key is an option's long \
             name with `_` for `-`)",
        ),
        (
            "[stream]\nlog_format = \"json\"\n",
            "{f}:2: `log_format` in [stream] is now [log] format",
        ),
        (
            "[streams]\nwindow = \"60s\"\n",
            "{f}:1: unknown table [streams] (the tables are [kafka], [capture], [stream], \
             [limits] and [log])",
        ),
        (
            "[limits]\nrefresh = \"1m\"\nurl = \"x\"\n",
            "{f}:3: unknown key `url` in [limits] (see demo --help: a key is an option's long \
             name with `_` for `-`)",
        ),
        (
            "[stream]\n\nwindow = \"5 minutes\"\n",
            "{f}:3: [stream] window: \"5 minutes\": invalid value '5 minutes' for '--window \
             <WINDOW>': ",
        ),
        (
            "[stream]\nlive = \"yes\"\n",
            "{f}:2: [stream] live: expects true or false",
        ),
        (
            "[stream]\nwindow = [\"1s\"]\n",
            "{f}:2: [stream] window: expects one value, not an array",
        ),
        (
            "[kafka]\nsecurity.protocl = \"SSL\"\n",
            "{f}:2: Kafka setting security.protocl: No such configuration property: \
             \"security.protocl\"",
        ),
        (
            "[kafka]\nsasl.password_file = \"/nonexistent/pw\"\n",
            "{f}:2: sasl.password_file: cannot read the secret file /nonexistent/pw: No such \
             file or directory (os error 2)",
        ),
    ];
    for (i, (text, want)) in cases.iter().enumerate() {
        let f = write(&d, &format!("c{i}.toml"), text);
        let f = f.to_str().unwrap();
        let want = want.replace("{f}", f);
        let got = config_error(&["--config", f], &[]);
        assert!(got.starts_with(&want), "got  {got}\nwant {want}");
    }
    assert_eq!(
        config_error(&[], &[("STREAMCHECKER_STREAM_WINDOWS", "1s")]),
        "STREAMCHECKER_STREAM_WINDOWS: no such setting of demo (see --help; variables are \
         STREAMCHECKER_<TABLE>_<KEY>, e.g. STREAMCHECKER_STREAM_WINDOW)"
    );
    assert_eq!(
        config_error(&[], &[("STREAMCHECKER_STREAM_LIVE", "maybe")]),
        "STREAMCHECKER_STREAM_LIVE: [stream] live: \"maybe\" is not true or false"
    );
    assert_eq!(
        config_error(&["--config", "/nonexistent/sc.toml"], &[]),
        "--config /nonexistent/sc.toml: cannot read the configuration file: No such file or \
         directory (os error 2)"
    );
    // Other programs' tables and other STREAMCHECKER_ variables are not this program's to
    // judge.
    let f = write(&d, "other.toml", "[capture]\nwhatever = 1\n");
    args(
        &["--config", f.to_str().unwrap()],
        &[
            ("STREAMCHECKER_TEST_BROKERS", "x"),
            ("STREAMCHECKER_CAPTURE_X", "1"),
        ],
    );
}
