//! The KumoMTA dialect's rules, each on a minimal shaping file.

use crate::MtaKind;
use crate::mta_config::diag::ConfigError;
use crate::mta_config::{Imported, MissingDomains, Source, WarningKind, import};
use crate::scenario::{DEFAULT_SCENARIO, parse};

fn shaping(text: &str) -> Result<Imported, ConfigError> {
    let into = parse("d", DEFAULT_SCENARIO, &[]).unwrap();
    let source = Source {
        name: "shaping.toml".into(),
        text: text.into(),
    };
    import(MtaKind::KumoMta, &[source], &into, MissingDomains::Report)
}

#[test]
fn a_misspelt_key_is_an_error_naming_the_real_one_wherever_it_is() {
    for (text, place, name, real) in [
        (
            "[\"default\"]\nconection_limit = 10\n",
            "2:1",
            "conection_limit",
            "connection_limit",
        ),
        (
            "[\"gmail.com\"]\nmax_mesage_rate = \"10/s\"\n",
            "2:1",
            "max_mesage_rate",
            "max_message_rate",
        ),
        (
            "[provider.\"google\"]\nmatch = [{MXSuffix=\".google.com\"}]\nprovider_conection_limit = 5\n",
            "3:1",
            "provider_conection_limit",
            "provider_connection_limit",
        ),
        (
            "[[\"default\".automation]]\nregex = \"x\"\naction = \"Suspend\"\nduraton = \"1h\"\nduration = \"1h\"\n",
            "4:1",
            "duraton",
            "duration",
        ),
        (
            "[\"default\".sources.\"ip-1\"]\nconnection_limt = 3\n",
            "2:1",
            "connection_limt",
            "connection_limit",
        ),
    ] {
        let e = shaping(text).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("shaping.toml:{place}: unknown setting `{name}`; did you mean `{real}`?"),
            "{text}"
        );
    }
    let e = shaping("[\"default\"]\nbanana = 1\n").unwrap_err();
    assert_eq!(e.to_string(), "shaping.toml:2:1: unknown setting `banana`");
}

#[test]
fn a_real_key_mtasim_does_not_model_is_a_warning() {
    let imported = shaping(
        "[\"default\"]\nenable_tls = \"Required\"\nmax_connection_rate = \"100/min\"\nconnection_limit = 7\n",
    )
    .unwrap();
    assert_eq!(imported.scenario.flow_control.concurrency.max, 7);
    let warnings: Vec<String> = imported.warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(
        warnings,
        [
            "shaping.toml:2:1: default.enable_tls: not imported: not a delivery flow-control setting mtasim models",
            "shaping.toml:3:1: default.max_connection_rate: not imported: mtasim has no connection-rate limit",
        ]
    );
    assert!(
        imported
            .warnings
            .iter()
            .all(|w| w.kind == WarningKind::NotTranslated)
    );
    assert_eq!(imported.settings, 1);
}

#[test]
fn rates_read_in_every_unit_kumomta_accepts() {
    for (text, per_hour) in [
        ("\"3600/h\"", 3600),
        ("\"60/min\"", 3600),
        ("\"1/second\"", 3600),
        ("\"2/2hr\"", 1),
        ("\"24/day\"", 1),
        ("\"local:1_200/hour\"", 1200),
    ] {
        let imported = shaping(&format!("[\"default\"]\nmax_message_rate = {text}\n")).unwrap();
        let rate = imported.scenario.flow_control.max_rate.unwrap();
        assert_eq!(
            rate.count * 3_600_000 / rate.period.as_millis(),
            per_hour,
            "{text}"
        );
    }
    let e = shaping("[\"default\"]\nmax_message_rate = \"5/fortnight\"\n").unwrap_err();
    assert!(e.to_string().contains("unknown period unit"), "{e}");
}
