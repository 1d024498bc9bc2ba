//! The cases that call customer-service or order-service directly (`CRM_CUSTOMER_SERVICE_URL`,
//! `CRM_ORDER_SERVICE_URL`), one module per gateway target they mirror: the checks those targets
//! run on the gateway, here on the service itself, and the comparisons of both. A stack whose
//! data services cannot be reached from outside leaves this target out (the gateway selection,
//! `scripts/contract.sh gateway`).

use crm_contract_tests::*;

mod customers {
    use super::*;
    use crm_contract_tests::checks::customers::*;

    // --- create ---------------------------------------------------------------------------------

    #[tokio::test]
    async fn create_directly_on_customer_service() {
        let service = Api::customer_service();
        let reply = service.post("/customers", &customer_body()).await;
        let customer = Customer::from_json(&reply.expect(201));
        reply.assert_service(Service::CustomerService);
        reply.assert_timing(&service, DB_TIMING);
        assert_eq!(reply.location(), customer_path(customer.id));
    }

    // --- read -------------------------------------------------------------------------------------

    #[tokio::test]
    async fn gateway_and_customer_service_agree() {
        let gateway = Api::gateway();
        let service = Api::customer_service();
        let created = create_customer(&service).await;
        let direct = service.get(&customer_path(created.id)).await;
        let proxied = gateway.get(&customer_path(created.id)).await;
        assert_eq!(direct.expect(200), proxied.expect(200));
        direct.assert_service(Service::CustomerService);
        proxied.assert_service(Service::CustomerService);
        direct.assert_timing(&service, DB_TIMING);
        proxied.assert_timing(&gateway, DB_TIMING);
    }

    // --- ping -------------------------------------------------------------------------------------

    for_each_target!(ping_gets_a_connection_and_selects_1 => check_ping: customer_service);

    // --- ids --------------------------------------------------------------------------------------

    for_each_target!(invalid_ids_are_invalid_parameter => check_invalid_ids: customer_service);

    // --- invalid bodies ---------------------------------------------------------------------------

    for_each_target!(malformed_bodies_are_invalid_body => check_invalid_bodies: customer_service);

    // --- validation -------------------------------------------------------------------------------

    #[tokio::test]
    async fn validation_is_the_same_directly_on_customer_service() {
        let service = Api::customer_service();
        let reply = service
            .send_json_text(
                Method::POST,
                "/customers",
                r#"{"name": "", "email": "", "phone": ""}"#,
            )
            .await;
        reply.assert_invalid_fields(&["name", "email", "phone"]);
        reply.assert_service(Service::CustomerService);
    }
}

mod orders {
    use super::*;
    use crm_contract_tests::checks::orders::*;

    // --- create -----------------------------------------------------------------------------------

    #[tokio::test]
    async fn create_directly_on_order_service() {
        let service = Api::order_service();
        let customer = create_customer(&Api::customer_service()).await;
        let reply = service.post("/orders", &new_order(customer.id)).await;
        let order = Order::from_json(&reply.expect(201));
        assert_eq!(reply.location(), order_path(order.id));
        reply.assert_service(Service::OrderService);
        reply.assert_timing(&service, CREATE_TIMING);
    }

    // --- read -------------------------------------------------------------------------------------

    #[tokio::test]
    async fn gateway_and_order_service_agree() {
        let gateway = Api::gateway();
        let service = Api::order_service();
        let customer = create_customer(&gateway).await;
        let order = create_order(&gateway, customer.id, 4, 25).await;
        let direct = service.get(&order_path(order.id)).await;
        let proxied = gateway.get(&order_path(order.id)).await;
        assert_eq!(direct.expect(200), proxied.expect(200));
        direct.assert_service(Service::OrderService);
        direct.assert_timing(&service, DB_TIMING);
    }

    // --- ids --------------------------------------------------------------------------------------

    for_each_target!(invalid_ids_are_invalid_parameter => check_invalid_ids: order_service);

    // --- invalid bodies ---------------------------------------------------------------------------

    for_each_target!(malformed_create_bodies_are_invalid_body => check_invalid_create_bodies: order_service);
}

mod errors {
    use super::*;
    use crm_contract_tests::checks::errors::*;

    // --- 405 --------------------------------------------------------------------------------------

    for_each_target!(customer_paths_answer_405_with_allow => check_customer_methods: customer_service);

    for_each_target!(order_paths_answer_405_with_allow => check_order_methods: order_service);

    for_each_target!(service_health_paths_answer_405_with_allow => check_health_methods: customer_service, order_service);

    for_each_target!(head_is_not_served => check_head_not_served: customer_service, order_service);

    // --- 413 --------------------------------------------------------------------------------------

    for_each_target!(customer_bodies_over_64_kib_are_413 => check_customer_too_large: customer_service);
    for_each_target!(order_bodies_over_64_kib_are_413 => check_order_too_large: order_service);

    for_each_target!(a_body_of_exactly_64_kib_is_accepted => check_exactly_64_kib: customer_service);

    /// On the service itself: the gateway only limits size and cannot know the id is malformed.
    #[tokio::test]
    async fn path_parameters_are_checked_before_size_and_media_type_on_customer_service() {
        let api = Api::customer_service();
        let reply = api
            .send_over_tcp(
                Method::PUT,
                "/customers/abc",
                Some("text/plain"),
                &oversized_body(),
                false,
            )
            .await;
        reply.assert_error(400, "invalid_parameter");
    }

    // --- 415 --------------------------------------------------------------------------------------

    for_each_target!(customer_writes_need_json_content_type => check_customer_media_type: customer_service);
    for_each_target!(order_writes_need_json_content_type => check_order_media_type: order_service);

    for_each_target!(json_content_types_with_parameters_or_suffix_are_accepted => check_json_variants_accepted: customer_service);
}

mod gateway {
    use super::*;

    // --- routing ----------------------------------------------------------------------------------

    #[tokio::test]
    async fn customer_service_and_order_service_answer_404_for_empty_or_extra_segments_too() {
        let customers = Api::customer_service();
        for path in ["/customers/", "/customers/1/x", "/nope"] {
            let reply = customers.get(path).await;
            reply.assert_error(404, "not_found");
            reply.assert_service(Service::CustomerService);
        }
        let orders = Api::order_service();
        for path in ["/orders/", "/orders/1/items", "/nope"] {
            let reply = orders.get(path).await;
            reply.assert_error(404, "not_found");
            reply.assert_service(Service::OrderService);
        }
    }

    // --- forwarding -------------------------------------------------------------------------------

    /// The same request directly and through the gateway: same status, body, and the headers the
    /// gateway passes through.
    async fn assert_passes_through(method: Method, path: &str, body: Option<&str>, service: Api) {
        let gateway = Api::gateway();
        let content_type = body.map(|_| "application/json");
        let bytes = body.map(|b| b.as_bytes().to_vec());
        let direct = service
            .send(method.clone(), path, content_type, bytes.clone())
            .await;
        let proxied = gateway.send(method, path, content_type, bytes).await;
        assert_eq!(proxied.status, direct.status, "{}", proxied.describe());
        assert_eq!(proxied.json(), direct.json(), "{}", proxied.describe());
        for header in ["content-type", "allow", "x-crm-service", "x-crm-runtime"] {
            assert_eq!(
                proxied.header(header),
                direct.header(header),
                "{header} passes through: {}",
                proxied.describe()
            );
        }
        proxied.assert_service(service.role());
    }

    #[tokio::test]
    async fn customer_service_and_order_service_404s_pass_through_untouched() {
        assert_passes_through(
            Method::GET,
            "/customers/9223372036854775807",
            None,
            Api::customer_service(),
        )
        .await;
        assert_passes_through(
            Method::DELETE,
            "/orders/9223372036854775807",
            None,
            Api::order_service(),
        )
        .await;
    }

    #[tokio::test]
    async fn customer_service_and_order_service_400s_pass_through_untouched() {
        assert_passes_through(
            Method::POST,
            "/customers",
            Some(r#"{"name": "", "email": "x", "phone": "y"}"#),
            Api::customer_service(),
        )
        .await;
        assert_passes_through(
            Method::POST,
            "/orders",
            Some(r#"{"customer_id": 9223372036854775807, "product": "p", "quantity": 1}"#),
            Api::order_service(),
        )
        .await;
        assert_passes_through(Method::GET, "/orders?limit=0", None, Api::order_service()).await;
        assert_passes_through(Method::GET, "/customers/abc", None, Api::customer_service()).await;
    }

    #[tokio::test]
    async fn customer_service_and_order_service_405s_pass_through_with_allow() {
        assert_passes_through(Method::PATCH, "/customers/1", None, Api::customer_service()).await;
        assert_passes_through(Method::DELETE, "/orders", None, Api::order_service()).await;
    }

    #[tokio::test]
    async fn order_service_409_passes_through() {
        let gateway = Api::gateway();
        let order = order_in_status(&gateway, "shipped").await;
        let body = serde_json::to_string(&order_update(&order, "pending")).unwrap();
        assert_passes_through(
            Method::PUT,
            &order_path(order.id),
            Some(&body),
            Api::order_service(),
        )
        .await;
    }
}

mod health {
    use super::*;
    use crm_contract_tests::checks::health::*;

    for_each_target!(healthz_and_readyz_report_ok => check_healthz_and_readyz: customer_service, order_service);
}

mod hostile {
    use super::*;
    use crm_contract_tests::checks::hostile::*;

    // --- oversized heads and URLs ------------------------------------------------------------------

    for_each_target!(oversized_heads_are_refused_and_long_values_not_reflected => check_oversized_heads: customer_service, order_service);

    // --- malformed requests -------------------------------------------------------------------------

    for_each_target!(malformed_requests_are_refused => check_malformed_requests: customer_service, order_service);

    // --- invalid UTF-8 ------------------------------------------------------------------------------

    for_each_target!(invalid_utf8_in_path_query_and_body => check_invalid_utf8: customer_service, order_service);

    // --- deeply nested JSON -------------------------------------------------------------------------

    for_each_target!(deeply_nested_json_is_invalid_body => check_deep_nesting: customer_service, order_service);

    // --- numbers ------------------------------------------------------------------------------------

    for_each_target!(numbers_beyond_i64_are_invalid_body => check_numbers_beyond_i64: order_service);

    // --- paging and other parameters ----------------------------------------------------------------

    for_each_target!(hostile_paging_and_parameters_are_invalid_parameter => check_hostile_parameters: customer_service, order_service);

    // --- slow clients -------------------------------------------------------------------------------

    for_each_target!(slow_clients_neither_starve_others_nor_stay_forever => check_slow_clients: customer_service);
}
