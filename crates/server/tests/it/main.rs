//! scimgate integration tests: one test binary (docs/design.md principle 5).

mod abuse;
mod access;
mod audit;
mod bulk;
mod cli;
mod common;
mod console;
mod discovery;
mod errors;
mod events;
mod events_nodes;
mod groups;
mod hostile;
mod interop;
mod jwks_server;
mod jwt;
mod list;
mod multinode;
mod openapi;
mod operations;
mod set_events;
mod settings;
mod users;
