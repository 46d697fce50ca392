//! No code: this crate exists for its dependency list (see its Cargo.toml and
//! .config/hakari.toml).
