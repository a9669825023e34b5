//! `sipalgd check`: placeholder until the config module lands.
pub fn run(_args: &[String]) -> i32 {
    eprintln!("sipalgd check: not implemented yet");
    1
}
