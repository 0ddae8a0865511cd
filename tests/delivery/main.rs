//! Delivery tests: three real node processes sending through the provider simulator (started
//! in the test process), counted exactly by what the simulator received.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/mod.rs"]
mod common;

mod fixture;
mod t01_fan_out;
mod t02_site_loss;
mod t03_provider_failover;
mod t04_supervision;
mod t05_priority_and_cancel;
mod t06_escalation;
mod t07_drain;
mod t08_scheduled;
mod t09_content;
mod t10_acknowledge;
mod t11_send_rate;
mod t12_skewed_clock;
mod t13_disk_full;
mod t14_erase;
mod t15_retention;
mod t16_webhooks;
mod t17_list_sync;
mod t18_inactive;
mod t19_areas;
mod t20_answers;
