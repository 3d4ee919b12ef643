//! The cryptographic self-test: every algorithm Baomi can use, run on known-answer vectors
//! (the vault's and the audit trail's), at start-up and by `baomi crypto self-test`. A
//! failure refuses to start: a module that computes a wrong answer must not protect data.

pub use baomi_types::SelfTestCheck as SelfTestResult;

/// Runs every self-test: the vault's algorithms, then the audit trail's.
pub fn run() -> Vec<SelfTestResult> {
    let mut results = baomi_vault::self_test::run();
    results.extend(baomi_audit::self_test::run());
    results
}

/// `Ok` when every result passed; otherwise the names of those that failed.
pub fn require(results: &[SelfTestResult]) -> Result<(), String> {
    let failed: Vec<&str> = results
        .iter()
        .filter(|r| !r.passed)
        .map(|r| r.algorithm)
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "cryptographic self-test failed for {}: refusing to start",
            failed.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_pass_here_and_one_failure_refuses() {
        let mut results = run();
        assert!(require(&results).is_ok());
        assert!(results.iter().any(|r| r.algorithm == "SM4-GCM"));
        assert!(results.iter().any(|r| r.algorithm.starts_with("SM2")));
        results[2].passed = false;
        let refused = require(&results).unwrap_err();
        assert!(refused.contains(results[2].algorithm), "{refused}");
    }
}
