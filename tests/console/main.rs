//! The operator console (crate `varsel-console`) in a real browser: headless Chromium driven
//! through chromedriver (WebDriver), against three real node processes over TLS.
//!
//! Needs `chromium` and `chromedriver` on the PATH (Debian `chromium`, `chromium-driver`;
//! `scripts/test.sh` installs them). Without them the tests fail saying so: they never pass
//! silently. Screenshots of every page are written to `docs/console/`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/mod.rs"]
mod common;

mod browser;
mod t01_console;
mod t02_live;
mod t03_answers;
