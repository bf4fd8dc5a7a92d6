fn main() { println!("hello from probe"); }
