//! Builds the example and fixture canisters for the tests, as their first
//! use would (`scripts/test.sh` runs it before the tests, so that no test
//! waits on the build): prints the folder of their wasm. With `--doc`, then
//! runs rustdoc (warnings denied) on the crates a canister author reads,
//! with the same compiler, target and profile (`example_wasm::document`).

fn main() {
    let doc = match std::env::args().nth(1).as_deref() {
        None => false,
        Some("--doc") => true,
        Some(other) => fail(&format!(
            "unexpected argument `{other}`: expected none, or `--doc`"
        )),
    };
    match example_wasm::build() {
        Ok(folder) => println!("{}", folder.display()),
        Err(why) => fail(&why),
    }
    if doc {
        if let Err(why) = example_wasm::document() {
            fail(&why);
        }
    }
}

fn fail(why: &str) -> ! {
    eprintln!("error: {why}");
    std::process::exit(1);
}
