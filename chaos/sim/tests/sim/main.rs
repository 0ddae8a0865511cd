//! Black-box tests of the provider simulator: real HTTP over loopback to a simulator started
//! in-process on port 0 (and once as a process). One binary, one file per area, by priority.

mod fixtures;

mod t01_submit;
mod t02_idempotency;
mod t03_outage;
mod t04_errors;
mod t05_throttle;
mod t06_malformed;
mod t07_callbacks;
mod t08_counts;
mod t09_load;
mod t10_process;
mod t11_inbox;
mod t12_handset;
mod t13_rude;
mod t14_redelivery;
