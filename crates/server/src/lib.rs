//! scimgate server: HTTP API, configuration, CLI.

pub mod changes;
pub mod cli;
pub mod config;
pub mod console;
pub mod events;
pub mod http;
pub mod jwt;
pub mod last_used;
pub mod limits;
pub mod request_log;
pub mod retention;
pub mod server;
pub mod state;
