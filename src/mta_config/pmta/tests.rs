//! The PowerMTA dialect's rules, each on a minimal config.

use crate::MtaKind;
use crate::mta_config::diag::ConfigError;
use crate::mta_config::{Imported, MissingDomains, Source, import};
use crate::scenario::{DEFAULT_SCENARIO, parse};

fn config(text: &str) -> Result<Imported, ConfigError> {
    let into = parse("d", DEFAULT_SCENARIO, &[]).unwrap();
    let source = Source {
        name: "config".into(),
        text: text.into(),
    };
    import(MtaKind::Pmta, &[source], &into, MissingDomains::Report)
}

#[test]
fn a_misspelt_domain_directive_is_an_error_naming_the_real_one() {
    let e = config("<domain *>\n    max-smtp-outt 5\n</domain>\n").unwrap_err();
    assert_eq!(
        e.to_string(),
        "config:2:5: unknown setting `max-smtp-outt`; did you mean `max-smtp-out`?"
    );
    let imported = config(
        "<domain gmail.com>\n    max-smtp-out 5\n    dkim-sign yes\n    max-msg-rate 10/m\n</domain>\n",
    )
    .unwrap();
    let warnings: Vec<String> = imported.warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(
        warnings,
        ["config:3:5: dkim-sign: not imported: not a delivery flow-control setting mtasim models"]
    );
}

#[test]
fn rates_intervals_and_blocks() {
    let imported = config(
        "<domain *>\n  max-msg-rate 600/h\n  backoff-max-msg-rate 2/10min\n  retry-after 5m,1h\n  bounce-after 2d12h\n</domain>\n",
    )
    .unwrap();
    let s = &imported.scenario;
    assert_eq!(s.flow_control.max_rate.unwrap().to_string(), "600/h");
    assert_eq!(
        s.flow_control.backoff.max_rate.unwrap().to_string(),
        "2/10m"
    );
    let intervals: Vec<String> = s
        .mta
        .retry
        .intervals
        .iter()
        .map(|d| d.to_string())
        .collect();
    assert_eq!(intervals, ["5m", "1h"]);
    assert_eq!(s.mta.retry.max_age.to_string(), "2d 12h");
    for (text, message) in [
        (
            "<domain *>\n max-msg-rate 0/h\n</domain>\n",
            "a zero rate is not supported",
        ),
        (
            "<domain *>\n max-msg-rate 5/week\n</domain>\n",
            "expected unlimited or N/[M]unit",
        ),
        ("<domain *>\n", "is never closed"),
        ("</domain>\n", "closes no open block"),
    ] {
        let e = config(text).unwrap_err();
        assert!(e.to_string().contains(message), "{text:?}: {e}");
    }
}
