//! Serving a priced function over HTTP: the 402 answer, the paid call, and the response that
//! marks its payment spent once it is handed to the connection.

use std::{
    convert::Infallible,
    net::IpAddr,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use axum::{
    Json,
    body::Body,
    http::{HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use http_body::{Frame, SizeHint};

use super::{
    CallError, Gateway, Incoming, Resolved,
    http::{PAYMENT_HEADERS, respond},
    x402::{Paywall, Refusal, Rejection, Ticket, wire},
};

/// Serves one call to a priced function.
pub(crate) async fn serve(
    gateway: &Gateway,
    resolved: &Resolved,
    incoming: Incoming<'_>,
    body: Bytes,
    headers: &HeaderMap,
    caller: Option<IpAddr>,
    resource: String,
) -> Response {
    let Some(paywall) = gateway.paywall.get() else {
        return CallError::PaymentsUnavailable.into_response();
    };
    let spec = resolved.deployment.function(&resolved.target.function).expect("resolved function");
    let requirements = paywall.requirements(spec.price, resource, &spec.description);
    let header = PAYMENT_HEADERS.iter().find_map(|name| headers.get(*name));
    let Some(header) = header else {
        if caller.is_some_and(|ip| paywall.free_call(ip)) {
            return match gateway.call(resolved, incoming, body).await {
                Ok(answer) => respond(answer),
                Err(e) => e.into_response(),
            };
        }
        return payment_required(
            paywall,
            &requirements,
            &Rejection::Required { amount: spec.price },
        );
    };
    let payment = match wire::decode_header(header.as_bytes()) {
        Ok(payment) => payment,
        Err(rejection) => return payment_required(paywall, &requirements, &rejection),
    };
    let target = &resolved.target;
    let name = format!("{}/{}/{}", target.owner, target.project, target.function);
    let payee = resolved.deployment.record.payee().0;
    let mut ticket = match paywall.accept(payment, spec.price, &name, payee).await {
        Ok(ticket) => ticket,
        Err(Refusal::Payment(rejection)) => {
            return payment_required(paywall, &requirements, &rejection);
        }
        Err(Refusal::Unavailable(message)) => {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(serde_json::json!({ "error": "payments_unavailable", "message": message })),
            )
                .into_response();
        }
    };
    let answer = match ticket.stored.take() {
        Some((request_id, worker, response)) => super::Answer { request_id, worker, response },
        None => match gateway.call(resolved, incoming, body).await {
            Ok(answer) => {
                ticket.answered((answer.request_id, answer.worker, answer.response.clone()));
                answer
            }
            Err(e) => {
                // Settled but not served: the ticket is dropped unspent, so a retry with the
                // same payment runs the function again without paying twice.
                let mut response = e.into_response();
                attach_receipt(&mut response, &ticket);
                return response;
            }
        },
    };
    let mut answer = answer;
    let data = Bytes::from(std::mem::take(&mut answer.response.body));
    let mut response = respond(answer);
    attach_receipt(&mut response, &ticket);
    *response.body_mut() = Body::new(Delivery { data: Some(data), ticket: Some(ticket) });
    response
}

/// A 402 with the v1 body and the v2 `PAYMENT-REQUIRED` header, both naming the reason.
pub(crate) fn payment_required(
    paywall: &Arc<Paywall>,
    requirements: &wire::Requirements,
    rejection: &Rejection,
) -> Response {
    let terms = paywall.terms();
    let body = terms.body_v1(requirements, rejection.code(), &rejection.to_string());
    let header = wire::encode_header(&terms.required_v2(requirements, rejection.code()));
    let mut response = (StatusCode::PAYMENT_REQUIRED, Json(body)).into_response();
    if let Ok(value) = HeaderValue::from_str(&header) {
        response.headers_mut().insert("payment-required", value);
    }
    response
}

fn attach_receipt(response: &mut Response, ticket: &Ticket) {
    let name = if ticket.version == 1 { "x-payment-response" } else { "payment-response" };
    if let Ok(value) = HeaderValue::from_str(&wire::encode_header(&ticket.receipt())) {
        response.headers_mut().insert(name, value);
        response.headers_mut().insert(
            "access-control-expose-headers",
            HeaderValue::from_static("payment-response, x-payment-response"),
        );
    }
}

/// A response body that spends its payment when hyper takes the body from it. Dropped
/// untaken (the client went away first), the payment stays unspent for a retry.
struct Delivery {
    data: Option<Bytes>,
    ticket: Option<Ticket>,
}

impl http_body::Body for Delivery {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        let frame = this.data.take().map(|data| Ok(Frame::data(data)));
        if let Some(ticket) = this.ticket.take() {
            ticket.delivered();
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none() && self.ticket.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.data.as_ref().map_or(0, |d| d.len() as u64))
    }
}
