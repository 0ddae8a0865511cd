//! A headless Chromium under chromedriver for one test, trusting the test cluster's
//! certificates, killed (with its profile directory removed) when dropped.
//!
//! Trust: Chromium on Linux reads extra trust anchors from an NSS database, which needs
//! `certutil` (another package). Instead the browser is started with
//! `--ignore-certificate-errors-spki-list` naming the SHA-256 of the public keys of this
//! cluster's certificates (its CA and every node's): only those keys are accepted, not any
//! certificate (`--ignore-certificate-errors` is not used).

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use fantoccini::{Client, ClientBuilder, Locator};
use sha2::Digest as _;

/// Time allowed for chromedriver to listen and for a page to reach a state a test waits for.
pub const WAIT: Duration = Duration::from_secs(60);

/// chromedriver and its browser session.
pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?.to_str()?.split(':').map(|d| Path::new(d).join(name)).find(|p| p.is_file())
}

/// The SHA-256 of the SubjectPublicKeyInfo of every certificate in the PEM files under
/// `dir`, base64, as Chromium's SPKI list wants them.
pub fn spki_hashes(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "pem") {
                let Ok(bytes) = std::fs::read(&p) else { continue };
                for pem in x509_parser::pem::Pem::iter_from_buffer(&bytes).flatten() {
                    if pem.label != "CERTIFICATE" {
                        continue;
                    }
                    if let Ok(cert) = pem.parse_x509() {
                        let spki = cert.tbs_certificate.subject_pki.raw;
                        out.push(
                            base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(spki)),
                        );
                    }
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Browser {
    /// Starts chromedriver on a free loopback port and a headless Chromium session that trusts
    /// the certificates under `tls_dir`. Panics (failing the test) when either is missing.
    pub async fn start(tls_dir: &Path, accept_language: &str) -> Browser {
        let driver_bin = which("chromedriver").unwrap_or_else(|| {
            panic!(
                "chromedriver is not installed: the console's browser tests need Debian's `chromium` and \
                 `chromium-driver` (scripts/test.sh installs them: apt-get install chromium chromium-driver)"
            )
        });
        let chromium =
            ["chromium", "chromium-browser", "google-chrome"].iter().find_map(|n| which(n)).unwrap_or_else(
                || panic!("chromium is not installed (apt-get install chromium chromium-driver)"),
            );
        let port = free_port();
        let driver = Command::new(driver_bin)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let profile = tempfile::Builder::new().prefix("varsel-chromium-").tempdir().unwrap();
        let spki = spki_hashes(tls_dir);
        assert!(!spki.is_empty(), "no certificates under {}", tls_dir.display());
        let args = vec![
            "--headless=new".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--window-size=1280,1000".into(),
            format!("--user-data-dir={}", profile.path().display()),
            format!("--ignore-certificate-errors-spki-list={}", spki.join(",")),
            format!("--lang={accept_language}"),
            format!("--accept-lang={accept_language}"),
        ];
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({ "binary": chromium, "args": args,
                "prefs": { "intl.accept_languages": accept_language } }),
        );
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let deadline = Instant::now() + WAIT;
        let mut b = Browser {
            client: connect_when_up(addr, caps.clone(), deadline).await,
            driver,
            _profile: profile,
        };
        b.client.set_window_size(1280, 1000).await.ok();
        b.driver.try_wait().ok();
        b
    }

    /// Opens `url` and waits for its `h1`.
    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap_or_else(|e| panic!("goto {url}: {e}"));
        self.client.wait().at_most(WAIT).for_element(Locator::Css("h1")).await.unwrap();
    }

    /// The text of the first element matching `css`.
    pub async fn text(&self, css: &str) -> String {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .text()
            .await
            .unwrap()
    }

    /// Whether an element matches `css`.
    pub async fn exists(&self, css: &str) -> bool {
        !self.client.find_all(Locator::Css(css)).await.unwrap().is_empty()
    }

    /// Types `text` into the field matching `css` (after clearing it).
    pub async fn fill(&self, css: &str, text: &str) {
        let e = self.client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}"));
        e.clear().await.unwrap();
        e.send_keys(text).await.unwrap();
    }

    /// Clicks the element matching `css` and waits for the next page to have loaded (the old
    /// page is marked first, so its own `h1` is not taken for the new one).
    pub async fn click(&self, css: &str) {
        self.client.execute("window.__varselOld = true; return true", vec![]).await.unwrap();
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .click()
            .await
            .unwrap();
        self.wait_until(
            &format!("a new page after clicking {css}"),
            "return !window.__varselOld && document.readyState === 'complete' && !!document.querySelector('h1')",
        )
        .await;
    }

    /// Waits until `script` (a function body returning a value) returns `true`.
    pub async fn wait_until(&self, what: &str, script: &str) {
        let deadline = Instant::now() + WAIT * 2;
        loop {
            let v = self.client.execute(script, vec![]).await.unwrap();
            if v == serde_json::Value::Bool(true) {
                return;
            }
            assert!(Instant::now() < deadline, "{what}: not within {:?} (last {v})", WAIT * 2);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Saves a screenshot of the page as `docs/console/<name>.png`.
    pub async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.unwrap();
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/console");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    /// Logs in at `base` with `token`; answers the alerts page.
    pub async fn login(&self, base: &str, token: &str) {
        self.goto(&format!("{base}/console/login")).await;
        self.fill("#token", token).await;
        self.click("form[action='/console/login'] button[type=submit]").await;
        assert_eq!(self.path().await, "/console/alerts", "log-in did not reach the alerts page");
    }

    /// The path of the current page.
    pub async fn path(&self) -> String {
        self.client.current_url().await.unwrap().path().to_string()
    }

    /// Runs axe-core (from PyPI `axe-selenium-python`) on the page; answers the violations
    /// as "rule: help (n nodes)".
    pub async fn axe(&self, axe_js: &str) -> Vec<String> {
        self.client.execute(axe_js, vec![]).await.unwrap();
        let r = self
            .client
            .execute(
                "return axe.run(document, {resultTypes: ['violations']}).then(r => r.violations.map(v => \
                 v.id + ': ' + v.help + ' (' + v.nodes.length + ' nodes: ' + \
                 v.nodes.slice(0, 3).map(n => n.target.join(' ')).join('; ') + ')'))",
                vec![],
            )
            .await
            .unwrap();
        r.as_array().unwrap().iter().map(|v| v.as_str().unwrap_or_default().to_string()).collect()
    }
}

async fn connect_when_up(
    addr: SocketAddr,
    caps: serde_json::Map<String, serde_json::Value>,
    deadline: Instant,
) -> Client {
    let url = format!("http://{addr}");
    loop {
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        match ClientBuilder::new(connector).capabilities(caps.clone()).connect(&url).await {
            Ok(c) => return c,
            Err(e) => {
                assert!(Instant::now() < deadline, "chromedriver on {addr} did not start a session: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // chromedriver ends its browsers when it is killed with its session still open only
        // sometimes: end the session first (best effort, bounded), then chromedriver.
        let client = self.client.clone();
        let closed = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async { tokio::time::timeout(Duration::from_secs(10), client.close()).await })
        });
        let _ = closed.join();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// axe-core's script, from the PyPI package `axe-selenium-python` (which bundles it), installed
/// in a virtual environment like the other Python peers.
pub fn axe_script() -> String {
    let req = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/console/requirements.txt");
    let python = crate::common::python::ensure_venv(&req);
    let out = Command::new(python)
        .args(["-c", "import axe_selenium_python, os; print(os.path.dirname(axe_selenium_python.__file__))"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    std::fs::read_to_string(dir.join("node_modules/axe-core/axe.min.js")).unwrap()
}
