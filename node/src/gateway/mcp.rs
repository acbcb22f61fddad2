//! MCP for agents (streamable HTTP at `/mcp`): every deployed function the gateway knows is a
//! tool — name `<project>_<function>` (plus `_<owner prefix>` when two owners share it),
//! description and input schema from the manifest. A call POSTs the arguments as a JSON body
//! through the mesh. Priced tools follow x402's MCP transport: without payment the tool
//! result is an error whose structured content is the v2 `PaymentRequired`; the client pays
//! in `_meta["x402/payment"]` and gets the settlement in `_meta["x402/payment-response"]`.
//! A call may ask for a tier in `_meta["peerhost/tier"]` (`fast` or `verified`); an answer
//! carries its request id and the worker's signed receipt (base64, as the HTTP gateway's
//! `x-peerhost-receipt`) in `_meta["peerhost/request-id"]` and `_meta["peerhost/receipt"]`.
//! Unpriced calls count against the gateway's per-caller rate limit like HTTP ones.

use std::{
    collections::{BTreeMap, HashMap},
    net::SocketAddr,
    sync::Arc,
};

use axum::extract::ConnectInfo;
use bytes::Bytes;
use rmcp::{
    ErrorData, RoleServer, ServerHandler,
    model::{
        CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
        JsonObject, ListToolsResult, MetaObject, PaginatedRequestParams, ServerCapabilities,
        ServerConfig, Tool,
    },
    service::RequestContext,
    transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
    },
};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::{
    Answer, Gateway, Incoming, Resolved, Target,
    paid::{Priced, call_priced},
    x402::{Rejection, wire},
};

/// The `_meta` key of a payment.
const PAYMENT_META: &str = "x402/payment";
/// The `_meta` key of a settlement response.
const PAYMENT_RESPONSE_META: &str = "x402/payment-response";
/// The `_meta` key of the tier a call asks for.
const TIER_META: &str = "peerhost/tier";
/// The `_meta` key of an answer's request id.
const REQUEST_ID_META: &str = "peerhost/request-id";
/// The `_meta` key of an answer's receipt.
const RECEIPT_META: &str = "peerhost/receipt";

/// The `/mcp` service.
pub(crate) fn service(
    gateway: Arc<Gateway>,
    shutdown: CancellationToken,
) -> StreamableHttpService<Tools, LocalSessionManager> {
    // The gateway is a public service that grants no ambient authority, so any Host may call.
    let config = StreamableHttpServerConfig::default()
        .disable_allowed_hosts()
        .with_cancellation_token(shutdown.child_token());
    StreamableHttpService::new(
        move || Ok(Tools { gateway: gateway.clone() }),
        Arc::default(),
        config,
    )
}

/// The MCP handler: the mesh's functions as tools.
#[derive(Clone)]
pub(crate) struct Tools {
    gateway: Arc<Gateway>,
}

impl Tools {
    /// Every function by tool name.
    fn catalog(&self) -> BTreeMap<String, Target> {
        let registry = self.gateway.view.registry.read().expect("registry lock");
        let mut seen: HashMap<(String, String), usize> = HashMap::new();
        for d in registry.iter() {
            for f in &d.record.manifest.functions {
                *seen.entry((d.record.project.clone(), f.name.clone())).or_default() += 1;
            }
        }
        let mut tools = BTreeMap::new();
        for d in registry.iter() {
            let owner = d.record.owner;
            for f in &d.record.manifest.functions {
                let pair = (d.record.project.clone(), f.name.clone());
                let mut name = format!("{}_{}", pair.0, pair.1);
                if seen[&pair] > 1 {
                    name = format!("{name}_{}", &owner.to_string()[2..10].to_ascii_lowercase());
                }
                let target =
                    Target { owner, project: pair.0, function: pair.1, path: "/".to_owned() };
                tools.insert(name, target);
            }
        }
        tools
    }

    fn tool(&self, name: &str, resolved: &Resolved) -> Tool {
        let spec = resolved.deployment.function(&resolved.target.function).expect("resolved");
        let schema = spec
            .input_schema
            .as_deref()
            .and_then(|s| serde_json::from_str::<JsonObject>(s).ok())
            .unwrap_or_else(|| {
                let mut object = JsonObject::new();
                object.insert("type".into(), json!("object"));
                object
            });
        let mut description = if spec.description.is_empty() {
            format!("Calls {}/{}.", resolved.target.project, resolved.target.function)
        } else {
            spec.description.clone()
        };
        if spec.price > 0 {
            description.push_str(&format!(
                " Costs {} USDC per call (x402).",
                crate::usdc::format(u128::from(spec.price))
            ));
        }
        Tool::new(name.to_owned(), description, Arc::new(schema))
    }
}

fn call_error(e: &super::CallError) -> CallToolResult {
    error_result(e.to_string(), Some(e.body()))
}

fn error_result(text: String, structured: Option<Value>) -> CallToolResult {
    let mut result = CallToolResult::error(vec![ContentBlock::text(text)]);
    result.structured_content = structured;
    result
}

fn answer_result(answer: &Answer) -> CallToolResult {
    let body = String::from_utf8_lossy(&answer.response.body).into_owned();
    let failed = answer.response.status >= 400;
    let structured = serde_json::from_str::<Value>(&body).ok().filter(Value::is_object);
    let mut result = if failed {
        CallToolResult::error(vec![ContentBlock::text(body)])
    } else {
        CallToolResult::success(vec![ContentBlock::text(body)])
    };
    result.structured_content = structured;
    let mut meta = MetaObject::default();
    meta.insert(REQUEST_ID_META.into(), json!(answer.request_id.to_hex()));
    if let Some(receipt) = super::receipts::header_value(&answer.receipt)
        && let Ok(receipt) = receipt.to_str()
    {
        meta.insert(RECEIPT_META.into(), json!(receipt));
    }
    result.meta = Some(meta);
    result
}

impl ServerHandler for Tools {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("peerhost-gateway", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "Each tool is a PeerHost function run on the mesh. Priced tools take x402 \
                 payments in _meta[\"x402/payment\"].",
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let tools = self
            .catalog()
            .into_iter()
            .filter_map(|(name, target)| {
                let resolved = self.gateway.resolve(target).ok()?;
                Some(self.tool(&name, &resolved))
            })
            .collect();
        Ok(ListToolsResult::with_all_items(tools))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let Some(target) = self.catalog().remove(request.name.as_ref()) else {
            return Err(ErrorData::invalid_params(format!("no tool {:?}", request.name), None));
        };
        let resolved = self
            .gateway
            .resolve(target)
            .map_err(|e| ErrorData::invalid_params(e.to_string(), None))?;
        let body =
            Bytes::from(Value::Object(request.arguments.clone().unwrap_or_default()).to_string());
        let meta = |key: &str| {
            request.meta.as_ref().and_then(|m| m.get(key)).or_else(|| context.meta.get(key))
        };
        let tier = match meta(TIER_META) {
            None => None,
            Some(tier) => Some(tier.as_str().and_then(|t| t.parse().ok()).ok_or_else(|| {
                ErrorData::invalid_params(
                    format!("{TIER_META} must be \"fast\" or \"verified\""),
                    None,
                )
            })?),
        };
        let incoming = Incoming {
            method: "POST",
            query: None,
            headers: vec![("content-type", b"application/json".as_slice())],
            tier,
        };
        let parts = context.extensions.get::<axum::http::request::Parts>();
        let caller =
            parts.and_then(|p| p.extensions.get::<ConnectInfo<SocketAddr>>()).map(|c| c.0.ip());
        let spec = resolved.deployment.function(&resolved.target.function).expect("resolved");
        if spec.price == 0 {
            if let Err(e) = self.gateway.check_free_rate(caller) {
                return Ok(call_error(&e).into());
            }
            let answer = self.gateway.call(&resolved, incoming, body).await;
            return Ok(answer_or_error(answer).into());
        }
        let Some(paywall) = self.gateway.paywall.get() else {
            return Ok(error_result(super::CallError::PaymentsUnavailable.to_string(), None).into());
        };
        let host = parts
            .and_then(|p| p.headers.get(axum::http::header::HOST))
            .and_then(|h| h.to_str().ok())
            .map_or_else(|| self.gateway.config.listen.to_string(), str::to_owned);
        let target = &resolved.target;
        let url = format!("http://{host}/{}/{}/{}", target.owner, target.project, target.function);
        let requirements = paywall.requirements(spec.price, url, &spec.description);
        let required = |rejection: &Rejection| {
            let structured = paywall.terms().required_v2(&requirements, rejection.code());
            error_result(structured.to_string(), Some(structured)).into()
        };
        let payment = meta(PAYMENT_META).cloned().map(wire::parse_payment);
        let priced =
            call_priced(&self.gateway, paywall, &resolved, incoming, body, payment, caller).await;
        let (ticket, answer) = match priced {
            Priced::Free(answer) => return Ok(answer_or_error(answer).into()),
            Priced::Refused(rejection) => return Ok(required(&rejection)),
            Priced::Unavailable(message) => return Ok(error_result(message, None).into()),
            Priced::Paid(ticket, answer) => (ticket, answer),
        };
        // MCP has no view of the bytes leaving: an answer handed to the transport is spent; a
        // call that got no answer leaves the payment unspent for a retry.
        let settlement = ticket.receipt();
        if answer.is_ok() {
            ticket.delivered();
        }
        let mut result = answer_or_error(answer);
        result
            .meta
            .get_or_insert_with(MetaObject::default)
            .insert(PAYMENT_RESPONSE_META.into(), settlement);
        Ok(result.into())
    }
}

fn answer_or_error(answer: Result<Answer, super::CallError>) -> CallToolResult {
    match answer {
        Ok(answer) => answer_result(&answer),
        Err(e) => call_error(&e),
    }
}
