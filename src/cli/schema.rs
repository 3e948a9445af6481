//! `journeyd schema`: the JSON Schema of the journey format, for editors' YAML language server.

use crate::cli::Exit;

pub fn run() -> Exit {
    print!("{}", crate::config::schema_text());
    Exit::Pass
}
