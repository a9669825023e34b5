//! `sipalgd rewrite`
pub fn run(_args: &[String]) -> i32 {
    eprintln!("sipalgd rewrite: not implemented yet");
    1
}
