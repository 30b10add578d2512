//! Shared by closer-llm's integration tests: each test binary that needs it says `mod support;`
//! and uses the parts it needs (hence the `dead_code` allowance).
#![allow(dead_code)]

pub mod llama_server;
