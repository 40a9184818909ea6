//! Builds the example and fixture canisters for the tests, as their first
//! use would (`scripts/test.sh` runs it before the tests, so that no test
//! waits on the build): prints the folder of their wasm.

fn main() {
    match example_wasm::build() {
        Ok(folder) => println!("{}", folder.display()),
        Err(why) => {
            eprintln!("error: {why}");
            std::process::exit(1);
        }
    }
}
