//! Host bindings for the Spin-specific interfaces (WIT in `../wit`, copied from spin-sdk 5.1.1).

wasmtime::component::bindgen!({
    world: "spin-host",
    path: "wit",
    imports: { default: async | trappable },
    with: {
        "spin:postgres/postgres.connection": crate::pg::PgConnection,
    },
});
