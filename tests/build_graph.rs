//! The dependency graph as cargo resolves it (`cargo tree`, offline, from the lock file):
//! building one function (the run command, cargo lambda watch) resolves exactly the
//! features the test command's workspace build resolved, so it reuses that build instead
//! of compiling the graph again; and every function carries one TLS stack and one crypto
//! library, on the platform Lambda runs.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use tokenwarden::runtime::config::FUNCTIONS;

/// The local tools the run command builds one package at a time, beside the functions.
const LOCAL_TOOLS: &[&str] = &["provider-fakes", "devtool", "stream-poller"];

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace")
        .to_path_buf()
}

/// `cargo tree` lines (`name version|features`), without the repeated-subtree markers.
fn tree(args: &[&str]) -> BTreeSet<String> {
    let cargo = option_env!("CARGO").unwrap_or("cargo");
    let out = Command::new(cargo)
        .current_dir(workspace_root())
        .args(["tree", "--locked", "--offline", "--prefix", "none"])
        .args(args)
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "cargo tree {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|line| line.trim_end_matches(" (*)").to_owned())
        .filter(|line| !line.is_empty())
        .collect()
}

fn packages() -> Vec<&'static str> {
    FUNCTIONS
        .iter()
        .map(|(binary, _)| *binary)
        .chain(LOCAL_TOOLS.iter().copied())
        .collect()
}

#[test]
fn building_one_package_resolves_the_features_the_workspace_test_build_resolved() {
    let format = ["--format", "{p}|{f}"];
    let workspace = tree(&[&["--workspace", "-e", "normal,build,dev"], &format[..]].concat());
    assert!(workspace.iter().any(|line| line.starts_with("tokio v")));
    let mut differing = Vec::new();
    for package in packages() {
        let alone = tree(&[&["-p", package, "-e", "normal,build"], &format[..]].concat());
        assert!(alone
            .iter()
            .any(|line| line.starts_with(&format!("{package} v"))));
        differing.extend(
            alone
                .difference(&workspace)
                .map(|line| format!("{package}: {line}")),
        );
    }
    assert!(
        differing.is_empty(),
        "these dependencies resolve other features when one package is built alone, so the \
         run command would compile them again; run `cargo hakari generate && cargo hakari \
         manage-deps`:\n{}",
        differing.join("\n")
    );
}

#[test]
fn every_function_carries_one_tls_stack_and_one_crypto_library_on_lambdas_platform() {
    let refused = [
        "openssl",
        "openssl-sys",
        "native-tls",
        "aws-lc-rs",
        "aws-lc-sys",
        "hyper-tls",
    ];
    for (function, _) in FUNCTIONS {
        let crates: BTreeSet<String> = tree(&[
            "-p",
            function,
            "-e",
            "normal",
            "--target",
            "aarch64-unknown-linux-gnu",
            "--format",
            "{p}",
        ])
        .into_iter()
        .collect();
        let versions = |name: &str| -> Vec<String> {
            crates
                .iter()
                .filter(|line| line.split(' ').next() == Some(name))
                .cloned()
                .collect()
        };
        assert_eq!(
            versions("rustls").len(),
            1,
            "{function}: {:?}",
            versions("rustls")
        );
        assert_eq!(
            versions("ring").len(),
            1,
            "{function}: {:?}",
            versions("ring")
        );
        for name in refused {
            assert!(
                versions(name).is_empty(),
                "{function} links {name}: {:?}",
                versions(name)
            );
        }
    }
}
