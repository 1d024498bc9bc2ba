//! The Spin stack's runtime floor: `GET /customers/{id}` as the least a Spin component can do
//! it (one `pg4` connection opened for the request, as customer-service does, core's SELECT,
//! the row as JSON), `GET /hello` (the bare runtime hop) and `GET /healthz`. No validation
//! beyond the id's type, no contract headers or error documents, no server-timing: the
//! benchmark reads customer-service as a fraction of this.

use spin_sdk::http::{Method, Request, Response};
use spin_sdk::http_component;

pub mod config;
pub mod customers;

/// A match on the path: no router, no route table.
#[http_component]
fn handle(req: Request) -> Response {
    if *req.method() != Method::Get {
        return status(405);
    }
    match req.path() {
        "/hello" => text("hello"),
        "/healthz" => text("ok"),
        path => match path.strip_prefix("/customers/") {
            Some(id) => match id.parse::<i64>() {
                Ok(id) => customers::get(id),
                Err(_) => status(400),
            },
            None => status(404),
        },
    }
}

/// A bodiless answer.
pub fn status(code: u16) -> Response {
    Response::new(code, ())
}

fn text(body: &'static str) -> Response {
    Response::builder()
        .status(200)
        .header("content-type", "text/plain")
        .body(body)
        .build()
}
