//! Compile errors of `#[derive(ResponseModel)]`: each case in `tests/ui/` must fail with exactly
//! the message in its `.stderr` (regenerate with `TRYBUILD=overwrite` and review the diff).

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
