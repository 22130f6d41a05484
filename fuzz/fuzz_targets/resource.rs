#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| scimgate_fuzz::scim::resource(data));
