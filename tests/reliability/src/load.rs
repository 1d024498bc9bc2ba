//! Concurrent writes with a ledger, and the check that the database holds exactly what was
//! acknowledged.
//!
//! Every entity a worker creates carries a unique marker (`<run>-<worker>-<n>`: the customer's
//! email local part, the first word of the order's product), so its rows can be found whatever
//! happened to the request. Each entity belongs to one worker, so its writes are sequential and
//! its final state is known: the last acknowledged document, or, after a write whose outcome is
//! unknown (5xx or no answer), either that or the attempted content. After an unknown outcome an
//! entity takes no more writes, so there is never more than one open question per entity.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use sqlx::{PgPool, Row};

use crate::client::{send, Outcome};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Customer,
    Order,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Op {
    CreateCustomer,
    UpdateCustomer,
    CreateOrder,
    UpdateOrder,
}

impl Op {
    pub fn name(self) -> &'static str {
        match self {
            Op::CreateCustomer => "create customer",
            Op::UpdateCustomer => "update customer",
            Op::CreateOrder => "create order",
            Op::UpdateOrder => "update order",
        }
    }
}

/// One customer or order and what is known of it.
#[derive(Clone, Debug)]
pub struct Entity {
    pub kind: Kind,
    pub marker: String,
    /// Known once the create was acknowledged.
    pub id: Option<i64>,
    /// The last acknowledged document (the API's answer body).
    pub acked: Option<Value>,
    /// The content of a write whose outcome is unknown (after `acked`); it may have landed.
    pub unknown: Option<Value>,
    pub acked_writes: u64,
    version: u32,
}

impl Entity {
    fn updatable(&self) -> bool {
        self.id.is_some() && self.unknown.is_none()
    }
}

/// The fields a write sets (timestamps and ids aside).
pub fn content(kind: Kind, doc: &Value) -> Value {
    match kind {
        Kind::Customer => json!({
            "name": doc["name"], "email": doc["email"], "phone": doc["phone"],
        }),
        Kind::Order => json!({
            "customer_id": doc["customer_id"], "product": doc["product"],
            "quantity": doc["quantity"], "unit_price_cents": doc["unit_price_cents"],
            "status": doc["status"],
        }),
    }
}

/// One request of the load and its answer.
#[derive(Clone, Debug)]
pub struct Record {
    pub op: Op,
    pub answer: Outcome,
}

/// What to run.
#[derive(Clone)]
pub struct LoadSpec {
    /// The gateway.
    pub base: String,
    /// Marker prefix: lowercase letters, digits and `-` only.
    pub run: String,
    pub workers: usize,
    /// Per worker; the load also ends when `stop` is set.
    pub ops_per_worker: usize,
    /// Existing customers the orders are placed for.
    pub customer_ids: Vec<i64>,
    pub stop: Arc<AtomicBool>,
    pub http: reqwest::Client,
}

/// Everything the workers did.
#[derive(Default)]
pub struct LoadOutput {
    pub entities: Vec<Entity>,
    pub records: Vec<Record>,
    /// Acknowledged answers whose content was not what was sent, 4xx answers to valid writes.
    pub problems: Vec<String>,
}

impl LoadOutput {
    pub fn acked_writes(&self) -> u64 {
        self.entities.iter().map(|e| e.acked_writes).sum()
    }
}

/// Runs the workers to the end (all ops done, or `stop`).
pub async fn run(spec: LoadSpec) -> LoadOutput {
    let mut tasks = Vec::new();
    for worker in 0..spec.workers {
        let spec = spec.clone();
        tasks.push(tokio::spawn(
            async move { worker_loop(&spec, worker).await },
        ));
    }
    let mut out = LoadOutput::default();
    for task in tasks {
        let part = task.await.expect("a load worker panicked");
        out.entities.extend(part.entities);
        out.records.extend(part.records);
        out.problems.extend(part.problems);
    }
    out
}

const CYCLE: [Op; 6] = [
    Op::CreateCustomer,
    Op::CreateOrder,
    Op::UpdateOrder,
    Op::UpdateCustomer,
    Op::CreateOrder,
    Op::UpdateOrder,
];

async fn worker_loop(spec: &LoadSpec, worker: usize) -> LoadOutput {
    let mut out = LoadOutput::default();
    let customer_id = spec.customer_ids[worker % spec.customer_ids.len()];
    for seq in 0..spec.ops_per_worker {
        if spec.stop.load(Ordering::Relaxed) {
            break;
        }
        let wanted = CYCLE[seq % CYCLE.len()];
        let kind = match wanted {
            Op::CreateCustomer | Op::UpdateCustomer => Kind::Customer,
            Op::CreateOrder | Op::UpdateOrder => Kind::Order,
        };
        let candidates: Vec<usize> = (0..out.entities.len())
            .filter(|&i| out.entities[i].kind == kind && out.entities[i].updatable())
            .collect();
        let update =
            matches!(wanted, Op::UpdateCustomer | Op::UpdateOrder) && !candidates.is_empty();
        if update {
            let index = candidates[(seq / CYCLE.len()) % candidates.len()];
            let record = update_entity(spec, &mut out.entities[index], &mut out.problems).await;
            out.records.push(record);
        } else {
            let marker = format!("{}-{worker}-{seq}", spec.run);
            let (entity, record) =
                create_entity(spec, kind, marker, customer_id, &mut out.problems).await;
            out.entities.push(entity);
            out.records.push(record);
        }
    }
    out
}

async fn create_entity(
    spec: &LoadSpec,
    kind: Kind,
    marker: String,
    customer_id: i64,
    problems: &mut Vec<String>,
) -> (Entity, Record) {
    let n = marker.len();
    let (op, path, body, expected) = match kind {
        Kind::Customer => {
            let body = json!({
                "name": format!("Reliability {marker}"),
                "email": format!("{marker}@rel.example.com"),
                "phone": if n.is_multiple_of(2) { json!(format!("+1 555 {n:04}")) } else { Value::Null },
            });
            (
                Op::CreateCustomer,
                "/customers",
                body.clone(),
                content(kind, &body),
            )
        }
        Kind::Order => {
            let body = json!({
                "customer_id": customer_id,
                "product": format!("{marker} v0"),
                "quantity": 1 + (n % 7) as i64,
                "unit_price_cents": 100 * n as i64,
            });
            let mut expected = body.clone();
            expected["status"] = json!("pending");
            (Op::CreateOrder, "/orders", body, content(kind, &expected))
        }
    };
    let answer = send(
        &spec.http,
        Method::POST,
        &format!("{}{path}", spec.base),
        Some(&body),
    )
    .await;
    let mut entity = Entity {
        kind,
        marker,
        id: None,
        acked: None,
        unknown: None,
        acked_writes: 0,
        version: 0,
    };
    match answer.status {
        Some(201) => {
            entity.id = answer.body["id"].as_i64();
            if entity.id.is_none() || content(kind, &answer.body) != expected {
                problems.push(format!(
                    "{}: 201 with {} for {expected}",
                    entity.marker, answer.body
                ));
            }
            entity.acked = Some(answer.body.clone());
            entity.acked_writes = 1;
        }
        Some(status) if status < 500 => {
            problems.push(format!(
                "{}: {} to a valid {}",
                entity.marker,
                answer.label(),
                op.name()
            ));
        }
        _ => entity.unknown = Some(expected),
    }
    (entity, Record { op, answer })
}

async fn update_entity(spec: &LoadSpec, entity: &mut Entity, problems: &mut Vec<String>) -> Record {
    let acked = entity
        .acked
        .clone()
        .expect("updatable entities were acknowledged");
    let id = entity.id.expect("updatable entities have an id");
    entity.version += 1;
    let v = entity.version;
    let marker = &entity.marker;
    let (op, path, body, expected) = match entity.kind {
        Kind::Customer => {
            let body = json!({
                "name": format!("Reliability {marker} v{v}"),
                "email": acked["email"],
                "phone": if v % 2 == 1 { json!(format!("+44 20 {v:04}")) } else { Value::Null },
            });
            (
                Op::UpdateCustomer,
                format!("/customers/{id}"),
                body.clone(),
                content(Kind::Customer, &body),
            )
        }
        Kind::Order => {
            let status = match acked["status"].as_str() {
                Some("pending") => "paid",
                Some("paid") => "shipped",
                _ => "shipped",
            };
            let body = json!({
                "product": format!("{marker} v{v}"),
                "quantity": 1 + (v % 9) as i64,
                "unit_price_cents": 250 * v as i64,
                "status": status,
            });
            let mut expected = body.clone();
            expected["customer_id"] = acked["customer_id"].clone();
            (
                Op::UpdateOrder,
                format!("/orders/{id}"),
                body,
                content(Kind::Order, &expected),
            )
        }
    };
    let answer = send(
        &spec.http,
        Method::PUT,
        &format!("{}{path}", spec.base),
        Some(&body),
    )
    .await;
    match answer.status {
        Some(200) => {
            if content(entity.kind, &answer.body) != expected
                || answer.body["id"].as_i64() != Some(id)
            {
                problems.push(format!("{marker}: 200 with {} for {expected}", answer.body));
            }
            entity.acked = Some(answer.body.clone());
            entity.acked_writes += 1;
        }
        Some(status) if status < 500 => {
            problems.push(format!(
                "{marker}: {} to a valid {}",
                answer.label(),
                op.name()
            ));
            // Whatever that was, the entity's state is no longer known.
            entity.unknown = Some(expected);
        }
        _ => entity.unknown = Some(expected),
    }
    Record { op, answer }
}

/// What the read-back found.
#[derive(Debug, Default)]
pub struct Verification {
    pub entities: u64,
    /// Acknowledged writes (creates and updates) whose entity's final state checked out.
    pub acked_writes: u64,
    /// Writes whose outcome the client never learnt, and how many of them had landed.
    pub unknown_writes: u64,
    pub unknown_landed: u64,
    /// Documents read back through the gateway and compared with the acknowledged ones.
    pub api_reads: u64,
    pub problems: Vec<String>,
}

impl Verification {
    pub fn figures(&self) -> Value {
        json!({
            "entities": self.entities,
            "acknowledged_writes_verified": self.acked_writes,
            "unknown_outcome_writes": self.unknown_writes,
            "unknown_outcome_writes_landed": self.unknown_landed,
            "documents_read_back_through_api": self.api_reads,
        })
    }
}

/// A row found in the database for a marker.
#[derive(Debug)]
struct DbRow {
    id: i64,
    content: Value,
    total_ok: bool,
}

/// The rows of one run, by kind (order or not) and marker.
type RowsByMarker = HashMap<(bool, String), Vec<DbRow>>;

/// Checks every entity against the database (SQL) and the API (through the gateway).
pub async fn verify(
    entities: &[Entity],
    run: &str,
    pool: &PgPool,
    http: &reqwest::Client,
    base: &str,
) -> Verification {
    let mut v = Verification::default();
    let pattern = format!("{run}-%");
    let mut rows = RowsByMarker::new();
    read_customer_rows(pool, &pattern, &mut rows).await;
    read_order_rows(pool, &pattern, &mut rows).await;
    check_against_the_database(entities, rows, &mut v);
    read_back_through_the_api(entities, http, base, &mut v).await;
    v
}

/// The customers whose email starts with the run's marker pattern.
async fn read_customer_rows(pool: &PgPool, pattern: &str, rows: &mut RowsByMarker) {
    let customers = sqlx::query("SELECT id, name, email, phone FROM customers WHERE email LIKE $1")
        .bind(pattern)
        .fetch_all(pool)
        .await
        .expect("read customers back");
    for row in customers {
        let email: String = row.get("email");
        let marker = email.split('@').next().unwrap_or_default().to_string();
        let doc = json!({
            "name": row.get::<String, _>("name"), "email": email,
            "phone": row.get::<Option<String>, _>("phone"),
        });
        rows.entry((false, marker)).or_default().push(DbRow {
            id: row.get("id"),
            content: content(Kind::Customer, &doc),
            total_ok: true,
        });
    }
}

/// The orders whose product starts with the run's marker pattern.
async fn read_order_rows(pool: &PgPool, pattern: &str, rows: &mut RowsByMarker) {
    let orders = sqlx::query(
        "SELECT id, customer_id, product, quantity, unit_price_cents, total_cents, status \
         FROM orders WHERE product LIKE $1",
    )
    .bind(pattern)
    .fetch_all(pool)
    .await
    .expect("read orders back");
    for row in orders {
        let product: String = row.get("product");
        let marker = product.split(' ').next().unwrap_or_default().to_string();
        let quantity: i64 = row.get("quantity");
        let price: i64 = row.get("unit_price_cents");
        let doc = json!({
            "customer_id": row.get::<i64, _>("customer_id"), "product": product,
            "quantity": quantity, "unit_price_cents": price,
            "status": row.get::<String, _>("status"),
        });
        rows.entry((true, marker)).or_default().push(DbRow {
            id: row.get("id"),
            content: content(Kind::Order, &doc),
            total_ok: row.get::<i64, _>("total_cents") == quantity * price,
        });
    }
}

/// Each entity's row: there exactly once, with its acknowledged id and an acknowledged or
/// attempted content; and no row that no request created.
fn check_against_the_database(entities: &[Entity], mut rows: RowsByMarker, v: &mut Verification) {
    for entity in entities {
        v.entities += 1;
        let key = (entity.kind == Kind::Order, entity.marker.clone());
        let found = rows.remove(&key).unwrap_or_default();
        let marker = &entity.marker;
        let mut allowed: Vec<Value> = Vec::new();
        if let Some(acked) = &entity.acked {
            allowed.push(content(entity.kind, acked));
        }
        if let Some(unknown) = &entity.unknown {
            v.unknown_writes += 1;
            allowed.push(unknown.clone());
        }
        if found.len() > 1 {
            v.problems.push(format!(
                "{marker}: {} rows (a write applied twice)",
                found.len()
            ));
            continue;
        }
        match (entity.id, found.first()) {
            (Some(id), None) => v.problems.push(format!(
                "{marker}: acknowledged create (id {id}) is not in the database: a lost write"
            )),
            (Some(id), Some(row)) if row.id != id => v.problems.push(format!(
                "{marker}: acknowledged as id {id}, stored as id {}",
                row.id
            )),
            (_, Some(row)) if !allowed.contains(&row.content) || !row.total_ok => {
                v.problems.push(format!(
                    "{marker}: the database holds {} (total ok: {}); acknowledged or attempted: {allowed:?}",
                    row.content, row.total_ok
                ));
            }
            (_, found) => {
                v.acked_writes += entity.acked_writes;
                if let (Some(row), Some(unknown)) = (found, &entity.unknown) {
                    if &row.content == unknown && Some(unknown) != allowed.first() {
                        v.unknown_landed += 1;
                    }
                }
            }
        }
    }
    for ((_, marker), found) in rows {
        v.problems.push(format!(
            "{marker}: {} row(s) that no request of this run created",
            found.len()
        ));
    }
}

/// Through the API: every acknowledged entity reads back exactly as acknowledged (timestamps
/// included), or as its one attempted write.
async fn read_back_through_the_api(
    entities: &[Entity],
    http: &reqwest::Client,
    base: &str,
    v: &mut Verification,
) {
    let readable: Vec<Entity> = entities
        .iter()
        .filter(|e| e.id.is_some())
        .cloned()
        .collect();
    let lanes = 16;
    let mut tasks = Vec::new();
    for lane in 0..lanes {
        let mine: Vec<Entity> = readable.iter().skip(lane).step_by(lanes).cloned().collect();
        let http = http.clone();
        let base = base.to_string();
        tasks.push(tokio::spawn(async move {
            let mut problems = Vec::new();
            for entity in &mine {
                let path = match entity.kind {
                    Kind::Customer => "customers",
                    Kind::Order => "orders",
                };
                let id = entity.id.expect("readable");
                let answer = crate::client::get(&http, &format!("{base}/{path}/{id}")).await;
                let acked = entity.acked.as_ref().expect("acknowledged");
                let ok = answer.status == Some(200)
                    && (&answer.body == acked
                        || entity.unknown.as_ref() == Some(&content(entity.kind, &answer.body)));
                if !ok {
                    problems.push(format!(
                        "{}: GET /{path}/{id} answered {} {}; acknowledged {acked}",
                        entity.marker,
                        answer.label(),
                        answer.body
                    ));
                }
            }
            (mine.len() as u64, problems)
        }));
    }
    for task in tasks {
        let (reads, problems) = task.await.expect("a read-back task panicked");
        v.api_reads += reads;
        v.problems.extend(problems);
    }
}

/// Counts per operation and answer label: `{"create order": {"201": 120, "502 …": 3}}`.
pub fn counts_by_op(records: &[Record]) -> BTreeMap<&'static str, BTreeMap<String, u64>> {
    let mut counts: BTreeMap<&'static str, BTreeMap<String, u64>> = BTreeMap::new();
    for record in records {
        *counts
            .entry(record.op.name())
            .or_default()
            .entry(record.answer.label())
            .or_insert(0) += 1;
    }
    counts
}

/// Creates `n` customers through `base` (setup, outside any fault); their ids.
pub async fn seed_customers(http: &reqwest::Client, base: &str, run: &str, n: usize) -> Vec<i64> {
    let mut ids = Vec::new();
    for i in 0..n {
        let body = json!({"name": format!("Seed {i}"), "email": format!("seed-{run}-{i}@rel.example.com")});
        let answer = send(
            http,
            Method::POST,
            &format!("{base}/customers"),
            Some(&body),
        )
        .await;
        assert_eq!(
            answer.status,
            Some(201),
            "seeding a customer: {} {}",
            answer.label(),
            answer.body
        );
        ids.push(answer.body["id"].as_i64().expect("id"));
    }
    ids
}

/// The time spent to write `records`, for a throughput figure.
pub fn wall_time(records: &[Record]) -> Duration {
    let start = records.iter().map(|r| r.answer.started).min();
    let end = records.iter().map(|r| r.answer.finished()).max();
    match (start, end) {
        (Some(s), Some(e)) => e - s,
        _ => Duration::ZERO,
    }
}
