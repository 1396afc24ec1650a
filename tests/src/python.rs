//! Python on this machine: whether the modules a test reads its answers
//! with are importable. Missing ones print SKIPPED with the reason, and
//! fail under `HOTCOLD_REQUIRE_PYTHON=1` (scripts/test.sh sets it after
//! installing them), so CI never skips.

use std::process::Command;

/// True when `python3 -c "import <modules>"` works.
pub fn modules_present(modules: &[&str]) -> bool {
    let list = modules.join(", ");
    let ok = Command::new("python3")
        .args(["-c", &format!("import {list}")])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        assert!(
            std::env::var("HOTCOLD_REQUIRE_PYTHON").as_deref() != Ok("1"),
            "HOTCOLD_REQUIRE_PYTHON=1 but python3 with {list} is missing (scripts/test.sh installs them)"
        );
        eprintln!("SKIPPED: python3 with {list} is missing (scripts/test.sh installs them)");
    }
    ok
}
