//! An error's whole cause chain as one log field, for every layer (services, adapters,
//! handlers): what failed, then why, outermost first.

use std::error::Error as StdError;

/// The cause chain of an error, outermost first, for the log.
pub fn cause_chain(err: &(dyn StdError + 'static)) -> String {
    let mut out = err.to_string();
    let mut next = err.source();
    while let Some(cause) = next {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        next = cause.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn the_chain_lists_every_cause_outermost_first() {
        let err = Outer(std::io::Error::other("inner"));
        assert_eq!(cause_chain(&err), "outer: inner");
    }
}
