#![doc = include_str!("../README.md")]

pub mod dirs;
pub mod durable;
pub mod leb128;
pub mod limits;
