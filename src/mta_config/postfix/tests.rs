//! The Postfix dialect's rules, each on a minimal configuration.

use super::Config;
use super::read::{read_main, read_master};
use super::values::Params;
use crate::MtaKind;
use crate::mta_config::diag::{ConfigError, Report, Text};
use crate::mta_config::{MissingDomains, Source, import};
use crate::scenario::{DEFAULT_SCENARIO, parse};

fn main_cf(text: &str) -> Config {
    let mut config = Config::default();
    read_main(
        &Text::new("main.cf", text),
        &mut config,
        &mut Report::default(),
    )
    .unwrap();
    config
}

fn get(config: &Config, name: &str) -> String {
    Params { main: &config.main }.get(name)
}

#[test]
fn values_expand_as_postfix_expands_them() {
    let c = main_cf(
        "limit = 7\n\
         empty =\n\
         plain = $limit\n\
         braces = ${limit}0\n\
         parens = $(limit)\n\
         if_set = ${limit?yes}\n\
         if_unset = ${empty?yes}\n\
         or_else = ${empty:fallback}\n\
         not_else = ${limit:fallback}\n\
         dollar = $$limit costs $$5\n\
         nested = ${limit?$parens}\n\
         default = $minimal_backoff_time\n",
    );
    for (name, expanded) in [
        ("plain", "7"),
        ("braces", "70"),
        ("parens", "7"),
        ("if_set", "yes"),
        ("if_unset", ""),
        ("or_else", "fallback"),
        // `:` gives its text only when the parameter is empty, else nothing.
        ("not_else", ""),
        ("dollar", "$limit costs $5"),
        ("nested", "7"),
        ("default", "300s"),
    ] {
        assert_eq!(get(&c, name), expanded, "{name}");
    }
}

#[test]
fn logical_lines_continue_on_indented_lines_and_the_last_definition_wins() {
    let c = main_cf(
        "# a comment\n\
         relay_domains = a.example,\n  \tb.example\n\
         \n\
         x = 1\n\
         x = 2\n",
    );
    assert_eq!(get(&c, "relay_domains"), "a.example, b.example");
    assert_eq!(get(&c, "x"), "2");
    let mut config = Config::default();
    let e = read_main(
        &Text::new("main.cf", "ok = 1\nno equals sign\n"),
        &mut config,
        &mut Report::default(),
    )
    .unwrap_err();
    assert!(matches!(e, ConfigError::Syntax { .. }), "{e}");
    assert_eq!(e.place().to_string(), "main.cf:2:3");
}

#[test]
fn master_cf_options_in_both_forms() {
    let mut config = Config::default();
    read_master(
        &Text::new(
            "master.cf",
            "slow unix - - n - 3 smtp\n  -o smtp_helo_timeout=60s\n  -o { smtp_connect_timeout = 9s }\n",
        ),
        &mut config,
        &mut Report::default(),
    )
    .unwrap();
    let slow = &config.services.as_ref().unwrap()["slow"];
    let options: Vec<(&str, &str)> = slow
        .options
        .iter()
        .map(|(n, p)| (n.as_str(), p.value.as_str()))
        .collect();
    assert_eq!(
        options,
        [("smtp_helo_timeout", "60s"), ("smtp_connect_timeout", "9s")]
    );
    assert_eq!(slow.maxproc.as_ref().unwrap().0, "3");
    let e = read_master(
        &Text::new("master.cf", "x unix - - n - - smtp -o { a = b\n"),
        &mut Config::default(),
        &mut Report::default(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("without its closing"), "{e}");
}

fn import_main(text: &str) -> Result<crate::mta_config::Imported, ConfigError> {
    let into = parse("d", DEFAULT_SCENARIO, &[]).unwrap();
    let source = Source {
        name: "main.cf".into(),
        text: text.into(),
    };
    import(MtaKind::Postfix, &[source], &into, MissingDomains::Report)
}

#[test]
fn a_misspelt_parameter_is_an_error_naming_the_real_one() {
    let e = import_main("default_destination_concurency_limit = 10\n").unwrap_err();
    assert_eq!(
        e.to_string(),
        "main.cf:1:1: unknown setting `default_destination_concurency_limit`; did you mean `default_destination_concurrency_limit`?"
    );
    let e = import_main("slow_destination_concurency_limit = 2\n").unwrap_err();
    assert!(
        e.to_string()
            .ends_with("did you mean `slow_destination_concurrency_limit`?"),
        "{e}"
    );
    // A real parameter mtasim does not model, a service's form of a template, and a macro
    // another value uses are no typos.
    let ok = import_main(
        "smtp_tls_security_level = may\n\
         slow_destination_concurrency_limit = 2\n\
         my_limit = 4\n\
         default_destination_concurrency_limit = $my_limit\n",
    )
    .unwrap();
    assert_eq!(ok.scenario.flow_control.concurrency.max, 4);
}

#[test]
fn feedback_forms_postfix_has_and_mtasim_reads() {
    use crate::flow_control::Feedback;
    let read = |value: &str| {
        import_main(&format!(
            "default_destination_concurrency_positive_feedback = {value}\n"
        ))
        .map(|i| i.scenario.flow_control.concurrency.positive_feedback)
    };
    assert_eq!(read("1/concurrency").unwrap(), Feedback::InverseConcurrency);
    assert_eq!(
        read("0.5/concurrency").unwrap(),
        Feedback::InverseConcurrency
    );
    assert!(read("2/concurrency").is_err());
    assert_eq!(read("1/4").unwrap(), Feedback::Constant(0.25));
    assert_eq!(read("0.5").unwrap(), Feedback::Constant(0.5));
    assert_eq!(read("0").unwrap(), Feedback::Constant(0.0));
    assert_eq!(read("0/concurrency").unwrap(), Feedback::Constant(0.0));
    assert!(read("2").is_err());
    assert!(read("1/sqrt(concurrency)").is_err());
}
