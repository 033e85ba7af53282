//! What a test does with the page: visit a URL, take a screenshot, read what
//! went wrong, fill and submit forms, read cookies (with their flags), the
//! current URL, the text, element sizes, and evaluate a script. Every method
//! is one or a few WebDriver commands; errors name the command and selector.
//! Values typed into fields are never logged (a login form carries a password).

use anyhow::{ensure, Context};
use camino::{Utf8Path, Utf8PathBuf};
use fantoccini::Locator;
use serde_json::Value;

use super::{Browser, Problems};

/// The global a submit sets on the page it leaves, to tell it from the next.
const OLD_DOCUMENT: &str = "__core_data_old_document";

/// A cookie as the browser keeps it, with the flags a test checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cookie {
    pub name: String,
    pub value: String,
    pub secure: bool,
    pub http_only: bool,
    /// `Strict`, `Lax` or `None`, as the browser reports it (`None` here: not set).
    pub same_site: Option<String>,
    pub path: Option<String>,
    pub domain: Option<String>,
}

/// chromedriver's log endpoint (`POST /session/{id}/se/log`, `{"type": …}`):
/// the entries since the last read.
#[derive(Debug)]
struct GetLog(&'static str);

impl fantoccini::wd::WebDriverCompatibleCommand for GetLog {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/se/log",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (http::Method, Option<String>) {
        let body = serde_json::json!({ "type": self.0 }).to_string();
        (http::Method::POST, Some(body))
    }
}

impl Browser<'_> {
    /// Opens `url` and waits for it to load. What went wrong before is
    /// forgotten: [`problems`](Self::problems) reports from here on.
    pub fn visit(&mut self, url: &str) -> anyhow::Result<()> {
        self.drain()?;
        self.seen = Default::default();
        self.block(&format!("open `{url}`"), self.client().goto(url))?;
        self.wait_for_load()
    }

    /// The console errors and failed requests since the last [`visit`](Self::visit).
    pub fn problems(&mut self) -> anyhow::Result<Problems> {
        self.drain()?;
        Ok(self.seen.problems())
    }

    /// Fails listing every console error and failed request since the last visit.
    pub fn assert_no_problems(&mut self, page: &str) -> anyhow::Result<()> {
        let problems = self.problems()?;
        ensure!(problems.is_empty(), "{page} has problems:\n{problems}");
        Ok(())
    }

    /// A PNG of the whole page (the window grown to the document's height, up
    /// to 16,000 pixels) in `dir/<name>.png`; returns its path.
    pub fn screenshot(&mut self, dir: &Utf8Path, name: &str) -> anyhow::Result<Utf8PathBuf> {
        let height = self.eval(
            "return Math.max(document.documentElement.scrollHeight, document.body ? document.body.scrollHeight : 0);",
        )?;
        let height = height.as_f64().unwrap_or(900.0).clamp(600.0, 16_000.0) as u32;
        let client = self.client();
        self.block(
            "resize the window",
            client.set_window_size(1280, height + 120),
        )?;
        let png = self.block("take a screenshot", client.screenshot());
        self.block("resize the window", client.set_window_size(1280, 900))?;
        let png = png?;
        ensure!(
            png.starts_with(b"\x89PNG\r\n\x1a\n"),
            "the screenshot is not a PNG"
        );
        std::fs::create_dir_all(dir).with_context(|| format!("failed to create `{dir}`"))?;
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).with_context(|| format!("failed to write `{path}`"))?;
        Ok(path)
    }

    /// Types `value` into the field `selector` (CSS) after clearing it.
    pub fn fill(&mut self, selector: &str, value: &str) -> anyhow::Result<()> {
        let client = self.client();
        let field = self.block(
            &format!("find the field `{selector}`"),
            client.find(Locator::Css(selector)),
        )?;
        self.block(&format!("clear `{selector}`"), field.clear())?;
        // The value stays out of the message: it may be a password.
        self.block(&format!("type into `{selector}`"), field.send_keys(value))
    }

    /// Submits the form `selector` (CSS) with its first submit button and
    /// waits for the page it leads to. The old document is marked first: until
    /// the new one has replaced it, the old one still says `complete`, and a
    /// test reading the text then reads the page it came from.
    pub fn submit(&mut self, selector: &str) -> anyhow::Result<()> {
        let client = self.client();
        let form = self.block(
            &format!("find the form `{selector}`"),
            client.form(Locator::Css(selector)),
        )?;
        self.eval(&format!("window.{OLD_DOCUMENT} = true; return true;"))?;
        self.block(&format!("submit `{selector}`"), form.submit())?;
        self.wait_for_new_document(selector)
    }

    /// Clicks the element `selector` (CSS), e.g. a link, and waits for any page it opens.
    pub fn click(&mut self, selector: &str) -> anyhow::Result<()> {
        let client = self.client();
        let element = self.block(
            &format!("find `{selector}`"),
            client.find(Locator::Css(selector)),
        )?;
        self.block(&format!("click `{selector}`"), element.click())?;
        self.wait_for_load()
    }

    /// The cookies the browser holds for the current page, HttpOnly ones included.
    pub fn cookies(&mut self) -> anyhow::Result<Vec<Cookie>> {
        let cookies = self.block("read the cookies", self.client().get_all_cookies())?;
        Ok(cookies
            .into_iter()
            .map(|cookie| Cookie {
                name: cookie.name().to_owned(),
                value: cookie.value().to_owned(),
                secure: cookie.secure().unwrap_or(false),
                http_only: cookie.http_only().unwrap_or(false),
                same_site: cookie.same_site().map(|s| s.to_string()),
                path: cookie.path().map(str::to_owned),
                domain: cookie.domain().map(str::to_owned),
            })
            .collect())
    }

    /// The URL the browser shows now (after redirects).
    pub fn current_url(&mut self) -> anyhow::Result<String> {
        let url = self.block("read the current URL", self.client().current_url())?;
        Ok(url.to_string())
    }

    /// The page's visible text (`document.body.innerText`).
    pub fn text(&mut self) -> anyhow::Result<String> {
        let client = self.client();
        let body = self.block("find the body", client.find(Locator::Css("body")))?;
        self.block("read the page's text", body.text())
    }

    /// The rendered width and height, in CSS pixels, of every element matching `selector`.
    pub fn sizes(&mut self, selector: &str) -> anyhow::Result<Vec<(f64, f64)>> {
        let client = self.client();
        let elements = self.block(
            &format!("find `{selector}`"),
            client.find_all(Locator::Css(selector)),
        )?;
        let mut sizes = Vec::with_capacity(elements.len());
        for element in elements {
            let (_, _, width, height) =
                self.block(&format!("measure `{selector}`"), element.rectangle())?;
            sizes.push((width, height));
        }
        Ok(sizes)
    }

    /// Runs `script` (a function body: `return …;`) in the page; its JSON result.
    pub fn eval(&mut self, script: &str) -> anyhow::Result<Value> {
        self.block("run a script", self.client().execute(script, Vec::new()))
    }

    /// Waits until the document has loaded (`readyState` is `complete`), at most 30 s.
    fn wait_for_load(&mut self) -> anyhow::Result<()> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let state = self.eval("return document.readyState;")?;
            if state == "complete" {
                return Ok(());
            }
            ensure!(
                std::time::Instant::now() < deadline,
                "the page did not finish loading in 30 s (readyState {state})"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }

    /// Waits until the document marked before a submit is gone and its
    /// successor has loaded, at most 30 s. A script run while the navigation
    /// is under way may fail (its context is destroyed); that is retried.
    fn wait_for_new_document(&mut self, selector: &str) -> anyhow::Result<()> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let script = format!(
            "return window.{OLD_DOCUMENT} === undefined && document.readyState === 'complete';"
        );
        let mut last = String::from("the old page still showing");
        loop {
            match self.eval(&script) {
                Ok(Value::Bool(true)) => return Ok(()),
                Ok(_) => {}
                Err(err) => last = format!("{err:#}"),
            }
            ensure!(
                std::time::Instant::now() < deadline,
                "submitting `{selector}` did not lead to a new page in 30 s ({last})"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }

    /// Reads both logs into `seen` (chromedriver hands each entry out once).
    fn drain(&mut self) -> anyhow::Result<()> {
        let client = self.client();
        let console = self.block("read the browser log", client.issue_cmd(GetLog("browser")))?;
        let performance = self.block(
            "read the performance log",
            client.issue_cmd(GetLog("performance")),
        )?;
        self.seen.performance(&performance);
        self.seen.console(&console);
        Ok(())
    }
}
