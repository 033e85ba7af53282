//! The bundle's `index.html` in headless Chromium (`core_data_tests::browser`):
//! opened as `file://` from a read-only mount of a readable copy of the run
//! directory, a screenshot left in `target/test-output/daily/index.png`, no
//! console error and no failed request, and every chart drawn: each `<svg>`
//! parsed as SVG and rendered with a size, its bars (if any) drawn.

use camino::Utf8Path;
use core_data_ops::docker::Docker;
use core_data_tests::browser::{readable_dir, test_output_dir, Browser, BrowserOptions};

/// One chart as the browser rendered it.
#[derive(Debug, serde::Deserialize)]
struct Chart {
    title: String,
    svg: bool,
    width: f64,
    height: f64,
    bars: usize,
    drawn: usize,
}

const CHARTS: &str = r#"
return Array.from(document.querySelectorAll('svg')).map(svg => {
  const box = svg.getBoundingClientRect();
  const rects = Array.from(svg.querySelectorAll('rect'));
  const title = svg.querySelector('title');
  return {
    title: title ? title.textContent : '',
    svg: svg instanceof SVGSVGElement,
    width: box.width,
    height: box.height,
    bars: rects.length,
    drawn: rects.filter(r => { const b = r.getBoundingClientRect(); return b.width > 0 && b.height > 0; }).length,
  };
});
"#;

/// Opens `run`'s index.html in the browser and checks what it shows.
pub(crate) fn index_renders_cleanly(docker: &Docker, run: &Utf8Path) {
    // The bundle is its owner's (0700); the browser runs as the stack's UID,
    // so it reads a copy, byte for byte, mounted read-only.
    let copy = readable_dir();
    copy.copy_files_of(run);
    let out = test_output_dir("daily");
    let mut browser = Browser::start(
        docker,
        BrowserOptions::new().mount(&copy.path, "/srv/bundle"),
    )
    .unwrap_or_else(|err| panic!("{err:#}"));
    browser
        .visit("file:///srv/bundle/index.html")
        .unwrap_or_else(|err| panic!("{err:#}"));
    let shot = browser
        .screenshot(&out, "index")
        .unwrap_or_else(|err| panic!("{err:#}"));
    eprintln!("daily: the bundle's index.html is in {shot}");
    browser
        .assert_no_problems("the bundle's index.html")
        .unwrap_or_else(|err| panic!("{err:#}"));
    assert!(
        browser.text().unwrap().contains("daily_dead"),
        "the rendered page lists the finding"
    );

    let charts: Vec<Chart> = serde_json::from_value(browser.eval(CHARTS).unwrap()).unwrap();
    let html = std::fs::read_to_string(run.join("index.html")).unwrap();
    assert_eq!(
        charts.len(),
        html.matches("<svg").count(),
        "every chart of the file is in the page: {charts:#?}"
    );
    assert!(charts.len() >= 5, "{charts:#?}");
    for chart in &charts {
        assert!(
            chart.svg && chart.width > 0.0 && chart.height > 0.0,
            "chart `{}` is not rendered as SVG with a size: {chart:?}",
            chart.title
        );
        assert!(
            chart.bars == 0 || chart.drawn > 0,
            "chart `{}` draws none of its {} bars: {chart:?}",
            chart.title,
            chart.bars
        );
    }
    assert!(
        charts.iter().any(|chart| chart.drawn > 0),
        "no chart draws anything: {charts:#?}"
    );
}
