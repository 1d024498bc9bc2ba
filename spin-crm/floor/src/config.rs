//! The one Spin variable the floor reads, per request as Spin serves it (as customer-service
//! reads it): `database_url`, which the manifest builds from the database parts.

/// `database_url`, or `None` (a deployment bug; the cause goes to the log).
pub fn database_url() -> Option<String> {
    match spin_sdk::variables::get("database_url") {
        Ok(url) => Some(url),
        Err(error) => {
            eprintln!("spin variable database_url: {error:?}");
            None
        }
    }
}
