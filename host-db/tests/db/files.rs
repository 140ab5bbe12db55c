//! The limits in a JSON file: loaded as the seed wrote it, re-read when it changes, and bad
//! content never erases good limits.

use std::time::Duration;

use host_db::loader::{Limits, Options, Source};
use host_db::time_text;

use crate::support::wait_for;

const SEED: &str = r#"[{"limit_name":"Minimum","limit_value":"1024","effective_date":"2019-10-20T22:56:44Z"},
{"limit_name":"Maximum","limit_value":"1073741824","effective_date":"2019-10-20T22:56:44Z"},
{"limit_name":"Minimum","limit_value":"1024","effective_date":"2019-10-23T22:56:44Z"},
{"limit_name":"Maximum","limit_value":"1073741824","effective_date":"2019-10-23T22:56:44Z"}]
"#;

fn max_now(l: &Limits) -> Option<u64> {
    l.timeline()
        .in_force(time_text::now_ms())
        .ok()
        .and_then(|f| f.max.map(|r| r.value))
}

#[test]
fn a_file_is_reloaded_when_it_changes_and_bad_content_is_refused() {
    let dir = std::env::temp_dir().join(format!("hostdb-file-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("traffic_limits.json");
    std::fs::write(&path, SEED).unwrap();
    let limits = Limits::start(Source::File(path.clone()), Options::default()).unwrap();
    assert_eq!(max_now(&limits), Some(1_073_741_824));
    // A change is seen without waiting for the 20-minute refresh.
    std::thread::sleep(Duration::from_millis(1100)); // a new modification time
    std::fs::write(
        &path,
        SEED.replace(
            "1073741824\",\"effective_date\":\"2019-10-23",
            "5000\",\"effective_date\":\"2019-10-23",
        ),
    )
    .unwrap();
    assert!(wait_for(Duration::from_secs(3), || max_now(&limits) == Some(5000)).is_some());
    // Broken content: the good limits stay.
    std::thread::sleep(Duration::from_millis(1100));
    std::fs::write(&path, "[{\"limit_name\":").unwrap();
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(max_now(&limits), Some(5000));
    // A missing file at start is an error naming it.
    let e = Limits::start(Source::File(dir.join("nope.json")), Options::default())
        .err()
        .unwrap();
    assert!(format!("{e:#}").contains("nope.json"));
    std::fs::remove_dir_all(dir).ok();
}
