//! Charts and report.html: every chart is a valid PNG and SVG, the report is one
//! self-contained page that shows every chart and the numbers of summary.json, and
//! `--no-plots` draws nothing.

use std::path::Path;
use std::process::Command;

use crate::common::{command, names};
use std::sync::OnceLock;

use mtasim::metrics::TransitionRecord;
use mtasim::plot::{self, Chart};
use mtasim::report;
use mtasim::scenario::{self, DEFAULT_SCENARIO, Override};
use mtasim::sim::{RunResult, simulate};

/// The default scenario made small: two hours, 5,000 messages, 40 generated receivers.
const SMALL: [&str; 4] = [
    "duration=2h",
    "traffic.0.messages=5000",
    "traffic.0.over=30m",
    "generated_receivers.count=40",
];

fn small_run(extra: &[&str]) -> RunResult {
    let overrides: Vec<Override> = SMALL
        .iter()
        .chain(extra)
        .map(|o| o.parse().unwrap_or_else(|e| panic!("{o}: {e}")))
        .collect();
    let scenario =
        scenario::load("<default>", DEFAULT_SCENARIO, &overrides).unwrap_or_else(|e| panic!("{e}"));
    simulate(&scenario, Default::default()).unwrap_or_else(|e| panic!("{e}"))
}

/// Width and height from a PNG's signature and IHDR chunk.
fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");
    assert_eq!(&bytes[12..16], b"IHDR", "IHDR first");
    let be = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    (be(16), be(20))
}

/// Width and height from the attributes of an SVG's root element.
fn svg_size(svg: &str) -> (u32, u32) {
    let root = &svg[svg.find("<svg").expect("an <svg> element")..];
    let root = &root[..root.find('>').unwrap()];
    let attribute = |name: &str| -> u32 {
        let start = root.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
        let len = root[start..].find('"').unwrap();
        root[start..start + len].parse().unwrap()
    };
    (attribute("width"), attribute("height"))
}

/// One small run drawn once and shared by the tests that only read it (drawing in a
/// debug build takes seconds).
struct Drawn {
    result: RunResult,
    dir: tempfile::TempDir,
    charts: Vec<Chart>,
}

fn drawn() -> &'static Drawn {
    static DRAWN: OnceLock<Drawn> = OnceLock::new();
    DRAWN.get_or_init(|| {
        let result = small_run(&[]);
        let dir = tempfile::tempdir().unwrap();
        let charts = plot::draw_all(&result, dir.path()).unwrap();
        report::write(&result, &charts, dir.path()).unwrap();
        Drawn {
            result,
            dir,
            charts,
        }
    })
}

#[test]
fn every_chart_is_a_png_and_an_svg_of_the_same_size() {
    let Drawn { dir, charts, .. } = drawn();
    let stems: Vec<&str> = charts.iter().map(|c| c.stem.as_str()).collect();
    assert_eq!(stems.first(), Some(&"overview"));
    assert_eq!(stems.last(), Some(&"latency"));
    assert!(stems.len() > 2, "some destination is troubled: {stems:?}");
    for chart in charts {
        let png = std::fs::read(dir.path().join(chart.png())).unwrap();
        let svg = std::fs::read_to_string(dir.path().join(chart.svg())).unwrap();
        assert!(svg.trim_start().starts_with("<svg"), "{}", chart.svg());
        assert!(svg.trim_end().ends_with("</svg>"), "{}", chart.svg());
        let size = png_size(&png);
        assert!(size.0 >= 1000 && size.1 >= 400, "{}: {size:?}", chart.png());
        assert_eq!(size, svg_size(&svg), "{}", chart.stem);
    }
}

#[test]
fn destination_charts_are_the_troubled_ones_at_most_the_cap() {
    let Drawn { result, charts, .. } = drawn();
    let troubled = plot::troubled_destinations(result);
    let charted: Vec<&str> = charts
        .iter()
        .filter_map(|c| c.destination.as_deref())
        .collect();
    assert_eq!(
        charted.len(),
        troubled.len().min(plot::MAX_DESTINATION_CHARTS)
    );
    assert_eq!(charted, troubled[..charted.len()]);
    for name in &charted {
        let d = &result.summary.destinations[*name];
        assert!(
            d.deferrals + d.backoff_entries + d.suspensions + d.blocks + d.bounced + d.expired > 0,
            "{name}"
        );
    }
}

#[test]
fn the_report_links_every_chart_and_shows_the_summary_numbers() {
    let Drawn {
        result,
        dir,
        charts,
    } = drawn();
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.trim_end().ends_with("</html>"));
    for chart in charts {
        let link = |file: String| format!("<a href=\"{file}\">{file}</a>");
        assert!(html.contains(&link(chart.png())) && html.contains(&link(chart.svg())));
    }
    // Only the latency distribution is inlined: the explorer draws the rest.
    assert!(html.contains("<figure id=\"chart-latency\">\n<svg"));
    assert_eq!(html.matches("<svg").count(), 1);
    // Self-contained: nothing fetched from anywhere.
    for external in [
        " src=",
        "<link",
        "<img",
        "@import",
        "url(",
        "fetch(",
        "XMLHttpRequest",
    ] {
        assert!(!html.contains(external), "{external}");
    }
    let summary: serde_json::Value =
        serde_json::from_str(&serde_json::to_string(&result.summary).unwrap()).unwrap();
    // A count that is a loss is marked as harm.
    let shown = |html: &str, v: &serde_json::Value| {
        ["num", "num harm"]
            .iter()
            .any(|class| html.contains(&format!("<td class=\"{class}\" data-v=\"{v}\">{v}</td>")))
    };
    let totals = &summary["totals"];
    for field in [
        "injected",
        "delivered",
        "bounced",
        "expired",
        "queued",
        "dfc_holds",
        "blocks",
    ] {
        assert!(shown(&html, &totals[field]), "totals.{field}");
    }
    for (name, d) in summary["destinations"].as_object().unwrap() {
        // Each destination's row opens it in the explorer.
        let row = format!("<tr data-destination=\"{name}\"><td>{name}</td>");
        assert!(html.contains(&row), "{name}");
        for field in [
            "delivered",
            "bounced",
            "expired",
            "queued",
            "backoff_entries",
        ] {
            assert!(shown(&html, &d[field]), "{name}.{field}");
        }
    }
    assert!(html.contains(&format!(
        "<p>{} transitions. Click one to see its destination around that time.</p>",
        result.transitions.len()
    )));
}

/// The explorer's embedded data, parsed.
fn explorer_data(html: &str) -> serde_json::Value {
    let start = "<script type=\"application/json\" id=\"explorer-data\">";
    let from = html.find(start).expect("the explorer's data") + start.len();
    let to = from + html[from..].find("</script>").unwrap();
    serde_json::from_str(&html[from..to]).expect("valid JSON")
}

#[test]
fn the_explorer_holds_every_destination_with_its_series_as_sampled() {
    let Drawn { result, dir, .. } = drawn();
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    let data = explorer_data(&html);
    assert_eq!(data["sources"], serde_json::json!(["simulated"]));
    let entries = data["entries"].as_array().unwrap();
    let names: Vec<&str> = entries
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    // The total first, then the troubled destinations in chart order, then the rest.
    assert_eq!(names[0], "*");
    assert_eq!(names.len(), result.destinations.len() + 1);
    let troubled = plot::troubled_destinations(result);
    assert_eq!(names[1..=troubled.len()], troubled[..]);
    for name in &result.destinations {
        assert!(names.contains(&name.as_str()), "{name}");
    }
    // Yahoo's columns decode to exactly the samples.
    let yahoo = entries.iter().find(|e| e["name"] == "yahoo").unwrap();
    let timeline = &yahoo["timelines"][0];
    let index = result
        .destinations
        .iter()
        .position(|d| d == "yahoo")
        .unwrap() as u32;
    let samples: Vec<&mtasim::metrics::Sample> = result
        .samples
        .iter()
        .filter(|s| s.destination == Some(index))
        .collect();
    let expand = |column: &serde_json::Value| -> Vec<serde_json::Value> {
        match column.get("r") {
            Some(runs) => runs
                .as_array()
                .unwrap()
                .chunks(2)
                .flat_map(|pair| {
                    std::iter::repeat_n(pair[0].clone(), pair[1].as_u64().unwrap() as usize)
                })
                .collect(),
            None => column.as_array().unwrap().clone(),
        }
    };
    let mut time = 0.0;
    let times: Vec<f64> = expand(&timeline["dt"])
        .iter()
        .map(|step| {
            time += step.as_f64().unwrap();
            time
        })
        .collect();
    let expected: Vec<f64> = samples.iter().map(|s| s.time.as_secs_f64()).collect();
    assert_eq!(times, expected);
    let ready: Vec<u64> = expand(&timeline["ready"])
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert_eq!(ready, samples.iter().map(|s| s.ready).collect::<Vec<_>>());
    let delivered: Vec<u64> = expand(&timeline["delivered"])
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert_eq!(
        delivered,
        samples
            .iter()
            .map(|s| s.counts.delivered)
            .collect::<Vec<_>>()
    );
    let states: Vec<Option<u64>> = expand(&timeline["state"])
        .iter()
        .map(|v| v.as_u64())
        .collect();
    let codes = |s: &&mtasim::metrics::Sample| {
        s.state
            .map(|state| mtasim::report::state_code(state) as u64)
    };
    assert_eq!(states, samples.iter().map(codes).collect::<Vec<_>>());
    assert_eq!(yahoo["thresholds"]["throttle_below"], 0.65);
}

#[test]
fn the_report_escapes_text_and_caps_the_transitions_list() {
    let mut result = small_run(&["description=Tom & <b>Jerry</b>"]);
    let extra = report::MAX_TRANSITIONS + 25;
    let template = TransitionRecord {
        time: mtasim::units::Instant::from_millis(1_000),
        destination: "<evil>".into(),
        from: mtasim::flow_control::State::Normal,
        to: mtasim::flow_control::State::Backoff,
        reason: "errors \"x\" > threshold".into(),
    };
    result
        .transitions
        .extend(std::iter::repeat_n(template, extra));
    let html = report::render(&report::run::page(&result, &[], None));
    assert!(html.contains("Tom &amp; &lt;b&gt;Jerry&lt;/b&gt;"));
    assert!(!html.contains("<b>Jerry") && !html.contains("<evil>"));
    assert!(html.contains("errors &quot;x&quot; &gt; threshold"));
    let total = result.transitions.len();
    let shown = html.matches("<td>&lt;evil&gt;</td>").count();
    assert!(shown <= report::MAX_TRANSITIONS);
    assert!(html.contains(&format!(
        "{} more transitions not shown; transitions.csv has all {total}.",
        total - report::MAX_TRANSITIONS
    )));
}

fn cli_run(out: &Path, extra: &[&str]) {
    let mut command = command();
    command.args(["run", "--quiet", "--out"]).arg(out);
    for set in SMALL {
        command.args(["--set", set]);
    }
    let status = command.args(extra).status().unwrap();
    assert!(status.success());
}

fn drawn_files(dir: &Path) -> Vec<String> {
    names(dir)
        .into_iter()
        .filter(|n| n.ends_with(".png") || n.ends_with(".svg") || n.ends_with(".html"))
        .collect()
}

#[test]
fn mtasim_run_draws_unless_told_not_to() {
    let dir = tempfile::tempdir().unwrap();
    let with = dir.path().join("with");
    cli_run(&with, &[]);
    let drawn = drawn_files(&with);
    for expected in [
        "overview.png",
        "overview.svg",
        "latency.png",
        "latency.svg",
        "report.html",
    ] {
        assert!(
            drawn.iter().any(|n| n == expected),
            "{expected} in {drawn:?}"
        );
    }
    let without = dir.path().join("without");
    cli_run(&without, &["--no-plots"]);
    assert!(drawn_files(&without).is_empty());
    assert!(without.join("summary.json").exists());
}

const CHROMIUM: &str = "/usr/bin/chromium";

/// What the explorer's self-test wrote on `<body>` after opening `fragment` of `page` in
/// headless Chromium: (result, panels drawn, destination shown). `None`, with a note,
/// where Chromium is not installed.
fn selftest(page: &Path, fragment: &str) -> Option<(String, usize, String)> {
    if !Path::new(CHROMIUM).exists() {
        println!(
            "note: {CHROMIUM} is absent, so the explorer is not checked in a browser \
             (apt-get install -y chromium)"
        );
        return None;
    }
    let profile = tempfile::tempdir().unwrap();
    let output = Command::new("timeout")
        .arg("120")
        .arg(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1400,1000",
            "--virtual-time-budget=10000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("file://{}#{fragment}", page.display()))
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let body = dom
        .find("<body")
        .map(|at| &dom[at..at + dom[at..].find('>').unwrap()])
        .unwrap_or_else(|| {
            panic!(
                "no <body> in Chromium's output ({}): {stderr}",
                output.status
            )
        });
    let attribute = |name: &str| {
        let key = format!("{name}=\"");
        let start = body
            .find(&key)
            .unwrap_or_else(|| panic!("no {name} on <body>: the script did not finish; {body}"))
            + key.len();
        body[start..start + body[start..].find('"').unwrap()].replace("&quot;", "\"")
    };
    Some((
        attribute("data-selftest"),
        attribute("data-selftest-panels").parse().unwrap(),
        attribute("data-selftest-destination"),
    ))
}

#[test]
fn the_explorer_draws_a_destination_in_a_browser_without_script_errors() {
    let Drawn { dir, .. } = drawn();
    let page = dir.path().join("report.html");
    // Yahoo: state strip, queue depth, limits, outcomes, reputation.
    let Some(yahoo) = selftest(&page, "destination=yahoo&selftest") else {
        return;
    };
    assert_eq!(yahoo, ("ok".to_string(), 5, "yahoo".to_string()));
    // No destination named: the total, with its queue, outcomes and flow-control count.
    let total = selftest(&page, "selftest").unwrap();
    assert_eq!(total, ("ok".to_string(), 3, "*".to_string()));
}

#[test]
fn the_explorer_draws_two_sources_side_by_side() {
    let result = small_run(&[]);
    let mut page = report::run::page(&result, &[], None);
    // As replay would: an observed log with no limits or reputation beside the run.
    page.explorer.sources = vec!["observed".into(), "simulated".into()];
    for entry in &mut page.explorer.entries {
        let simulated = entry.timelines[0].clone();
        let mut observed = simulated.clone();
        if let Some(t) = observed.as_mut() {
            t.columns.retain(|(series, _)| {
                !matches!(
                    series,
                    report::Series::ConcurrencyLimit
                        | report::Series::RateLimit
                        | report::Series::Reputation
                        | report::Series::Blocking
                )
            });
        }
        entry.timelines = vec![observed, simulated];
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("report.html");
    std::fs::write(&file, report::render(&page)).unwrap();
    let Some(result) = selftest(&file, "destination=yahoo&selftest") else {
        return;
    };
    // Strip, queue and outcomes twice; limits and reputation for the simulation only.
    assert_eq!(result, ("ok".to_string(), 8, "yahoo".to_string()));
}
