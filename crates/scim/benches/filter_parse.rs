//! Filter parsing cost: the first step of every filtered list request.

use criterion::{Criterion, criterion_group, criterion_main};
use scimgate_scim::filter::{parse_filter, parse_patch_path};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let cases = [
        ("eq", r#"userName eq "user5000@example.com""#),
        ("entra_guid", r#"userName eq "a9f1c3f0-2b7e-4c1e-9b1d-7c8e2f0a1b2c""#),
        (
            "complex",
            r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org") and not (title pr)"#,
        ),
        (
            "value_path",
            r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#,
        ),
    ];
    for (name, f) in cases {
        c.bench_function(&format!("parse_filter/{name}"), |b| b.iter(|| parse_filter(black_box(f))));
    }
    c.bench_function("parse_patch_path/emails_work_value", |b| {
        b.iter(|| parse_patch_path(black_box(r#"emails[type eq "work"].value"#)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
