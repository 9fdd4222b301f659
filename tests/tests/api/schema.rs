//! `schema.graphql` at the repository root is exactly what `imind export-schema` prints.

#[test]
fn schema_file_is_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../schema.graphql");
    let committed = std::fs::read_to_string(path).expect("schema.graphql exists at the repository root");
    let current = imind_api::schema_sdl();
    assert!(
        committed == current,
        "schema.graphql is stale: run `cargo run -p imind-api -- export-schema > schema.graphql`"
    );
}

#[test]
fn schema_documents_that_expressions_are_observations() {
    let sdl = imind_api::schema_sdl();
    assert!(sdl.contains("not what the person felt") || sdl.contains("not a statement about what the person felt"));
}
