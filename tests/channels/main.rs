//! Real delivery protocols against real peers we did not write: SMS over SMPP 3.4 to the
//! `smpp34` SMSC (`smpp/tests/peer/smsc.py`), e-mail over SMTP to `aiosmtpd`
//! (`smtp_peer.py`). Three real node processes per test; the provider simulator (in the test
//! process) carries the other channels. The peers' Python environments are installed on first
//! use (`tests/common/python.rs`); without PyPI these tests fail, they never skip.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// The smpp crate's fixtures (the SMSC peer) include the venv helper by path, as `common` does;
// two copies of that small module are cheaper than a shared test crate.
#![allow(clippy::duplicate_mod)]

#[path = "../common/mod.rs"]
mod common;
#[allow(dead_code)]
#[path = "../delivery/fixture.rs"]
mod fixture;
#[path = "../../smpp/tests/common/mod.rs"]
mod smsc;

mod support;
mod t01_smpp;
mod t02_smtp;
