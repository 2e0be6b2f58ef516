//! Chaat: a server-rendered chat app. See README.md for the map of this crate.

pub mod assets;
pub mod auth;
pub mod compression;
pub mod config;
pub mod cpu;
pub mod db;
pub mod demo;
pub mod domain;
pub mod error;
pub mod error_pages;
pub mod export;
pub mod live;
pub mod models;
pub mod pages;
pub mod pictures;
pub mod routes;
pub mod send_batch;
pub mod shutdown;
pub mod startup;
pub mod telemetry;
pub mod uploads;
pub mod views;
