//! `sofer eval segmentation` on the real UD Hebrew dev treebanks: our segmenter must beat
//! plain UAX #29 and stay at the F1 it was measured at.

mod common;

use std::process::Command;

/// Our F1 on the UD Hebrew dev sets when this test was written was 0.996 (UAX #29: 0.995).
const OURS_F1_FLOOR: f64 = 0.986;

#[test]
fn our_sentence_boundaries_beat_uax29_on_ud_hebrew() {
    let output = Command::new(env!("CARGO_BIN_EXE_sofer"))
        .args(["eval", "segmentation", "--json", "--data"])
        .arg(common::eval_data_dir())
        .output()
        .expect("run sofer");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "sofer eval segmentation failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON object");
    let f1 = |system: &str| {
        report[system]["f1"]
            .as_f64()
            .unwrap_or_else(|| panic!("no {system}.f1 in {report}"))
    };
    let files = report["files"].as_array().expect("files");
    assert_eq!(
        files.len(),
        2,
        "both UD dev treebanks (wiki, knesset): {report}"
    );
    let gold: u64 = ["tp", "fn"]
        .iter()
        .filter_map(|k| report["ours"][k].as_u64())
        .sum();
    assert!(gold > 300, "too few gold boundaries ({gold}): {report}");
    assert!(
        f1("ours") > f1("uax29"),
        "ours {} ≤ uax29 {}",
        f1("ours"),
        f1("uax29")
    );
    assert!(
        f1("ours") >= OURS_F1_FLOOR,
        "ours F1 {} fell below {OURS_F1_FLOOR}",
        f1("ours")
    );
    for extra in report["extra"].as_array().into_iter().flatten() {
        let (ours, uax29) = (extra["ours"]["f1"].as_f64(), extra["uax29"]["f1"].as_f64());
        assert!(
            ours > uax29,
            "{}: ours {ours:?} ≤ uax29 {uax29:?}",
            extra["file"]
        );
    }
}
