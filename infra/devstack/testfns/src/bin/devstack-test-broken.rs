//! Fails at init, as a function with a missing setting would.

fn main() -> Result<(), String> {
    Err("DEVSTACK_TEST_REQUIRED is not set: refusing to start".to_owned())
}
