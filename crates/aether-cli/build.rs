//! Links the zygote image (`aether-zygote`) as a position-dependent executable (`-no-pie`) on
//! Linux, so that the dynamic loader has no relative relocation to apply when it starts (issue
//! 23). `aether` itself stays position-independent (ASLR), as does every other target.
//!
//! Why: a position-independent image's loader writes every pointer-holding constant at start
//! (61 k relocations, 1.42 MB of `.data.rel.ro`: ICU4X's baked data, `&'static str` tables,
//! panic locations, QuickJS's function tables), each page a copy-on-write fault, about 0.8 ms of
//! CPU on a run's critical path (the zygote starts while aether waits for it) and 1.4 MB of
//! private memory in the zygote that every `fork` copies the page tables of. Position-dependent,
//! those pages stay shared with the page cache and only the ones a worker touches are mapped.
//! What that costs in address-space randomization, and why it is accepted for this image only,
//! is in SECURITY.md ("zygote image").

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-link-arg-bin=aether-zygote=-no-pie");
    }
}
