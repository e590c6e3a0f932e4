//! `mtasim diagnose --table`: a collated error table (the support article's customer's own
//! input) in, the verdict, the domains carrying the errors and what to look at next out.

use crate::common::{mtasim, mtasim_ok, stderr, stdout};

/// A campaign tool's export: errors concentrated on Yahoo's two domains (TSS04 and the
/// MTA's "Messages queued (dynamic flow control)" there), a few bounces elsewhere.
const FEW: &str = "\
Domain,Error message,Count
yahoo.com,\"421 4.7.0 [TSS04] Messages from 203.0.113.7 temporarily deferred due to unexpected volume or user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes\",1840
yahoo.com,Messages queued (dynamic flow control),\"5,210\"
aol.com,\"421 4.7.0 [TSS04] Messages from 203.0.113.7 temporarily deferred due to unexpected volume or user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes\",410
aol.com,Messages queued (dynamic flow control),990
gmail.com,550 5.1.1 The email account that you tried to reach does not exist.,120
outlook.com,451 4.7.500 Server busy. Please try again later from [203.0.113.7]. (S77714),35
comcast.net,550 5.1.1 Not our Customer,12
icloud.com,550 5.1.1 <x@icloud.com>: user does not exist,9
Total,,8626
";

fn json(dir: &std::path::Path, folder: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join(folder).join("diagnosis.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn errors_on_a_few_domains_point_at_those_receivers() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("errors.csv"), FEW).unwrap();
    let out = mtasim_ok(&["diagnose", "--table", "errors.csv"], dir.path());
    let text = stdout(&out);
    assert!(
        text.starts_with(
            "few-destinations: The errors concentrate on 2 of 6 domains (yahoo.com, aol.com: 98% \
             of 8626), for reputation/throttling"
        ),
        "{text}"
    );
    assert!(text.contains("8 rows, 6 domains, 8626 errors: 6200 queued by flow control, 2285 deferred, 141 bounced (1 total rows left out)"), "{text}");
    assert!(text.contains("yahoo.com: Yahoo asks to stop sending from this IP"));
    assert!(text.contains("The table has no time column"));
    let d = json(dir.path(), "output/errors-diagnosis");
    assert_eq!(d["verdict"], "few-destinations");
    assert_eq!(
        d["concentrated_in"],
        serde_json::json!(["yahoo.com", "aol.com"])
    );
    assert_eq!(d["time"], serde_json::Value::Null);
    let yahoo = &d["domains"][0];
    assert_eq!(yahoo["domain"], "yahoo.com");
    assert_eq!(
        (yahoo["errors"].as_u64(), yahoo["held"].as_u64()),
        (Some(7050), Some(5210))
    );
    assert_eq!(yahoo["known_reply"], "yahoo-tss04");
    assert_eq!(yahoo["cause"], "reputation");
    let gmail = &d["domains"][2];
    assert_eq!(
        (gmail["domain"].as_str(), gmail["bounced"].as_u64()),
        (Some("gmail.com"), Some(120))
    );
    let report =
        std::fs::read_to_string(dir.path().join("output/errors-diagnosis/report.html")).unwrap();
    assert!(report.contains("Errors by domain"));
}

#[test]
fn the_same_error_everywhere_points_at_the_mta() {
    // A TSV with a day column: the MTA's own DNS failures at every domain, both days.
    let mut table = String::from("Day\tRecipient domain\tReason\tMessages\n");
    for (day, n) in [("2026-12-06", 100), ("2026-12-07", 300)] {
        for domain in [
            "gmail.com",
            "yahoo.com",
            "outlook.com",
            "orange.fr",
            "gmx.de",
            "web.de",
        ] {
            table.push_str(&format!(
                "{day}\t{domain}\tHost or domain name not found. Name service error for name={domain} type=MX: Host not found, try again\t{n}\n"
            ));
        }
    }
    table.push_str(
        "2026-12-07\tgmail.com\t421 4.7.28 Gmail has detected an unusual rate of mail\t50\n",
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("export.tsv"), table).unwrap();
    let out = mtasim_ok(
        &["diagnose", "--table", "export.tsv", "--no-plots"],
        dir.path(),
    );
    let text = stdout(&out);
    assert!(
        text.starts_with("all-destinations: The errors spread across the domains: 6 of 6 carry 90% of 2450, 6 of them for the same cause (the MTA's own errors)"),
        "{text}"
    );
    assert!(text.contains("2026-12-06T00:00:00.000Z to 2026-12-07T00:00:00.000Z; the most errors at 2026-12-07T00:00:00.000Z: 1850 at 6 domains"), "{text}");
    let d = json(dir.path(), "output/export-diagnosis");
    assert_eq!(d["verdict"], "all-destinations");
    assert_eq!(d["deferred"], 2450);
    assert_eq!(d["domains"][0]["domain"], "gmail.com");
    assert_eq!(d["domains"][0]["cause"], "mta");
    assert_eq!(d["domains"][1]["cause"], "mta");
    assert_eq!(d["columns"]["time"], "Day");
    assert!(
        !dir.path()
            .join("output/export-diagnosis/report.html")
            .exists()
    );
}

#[test]
fn a_bad_table_is_one_error_with_its_place_and_no_output() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("errors.csv"),
        "Domain,Error,Count\na.example,x,1\nb.example,y,n/a\n",
    )
    .unwrap();
    let out = mtasim(&["diagnose", "--table", "errors.csv"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "error: errors.csv:3: \"n/a\" in column \"Count\" is not a whole number\n"
    );
    assert!(!dir.path().join("output").exists());
    std::fs::write(
        dir.path().join("domains.csv"),
        "Domain,Count\na.example,1\n",
    )
    .unwrap();
    let out = mtasim(&["diagnose", "--table", "domains.csv"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).starts_with("error: domains.csv:1: no error column in the header"));
    let out = mtasim(&["diagnose", "--table", "missing.csv"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).starts_with("error: cannot read missing.csv: "));
    assert!(!dir.path().join("output").exists());
}
