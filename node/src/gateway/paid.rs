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
    Answer, CallError, Gateway, Incoming, Resolved,
    http::{PAYMENT_HEADERS, respond},
    x402::{Paywall, Refusal, Rejection, Ticket, wire, wire::Payment},
};

/// What a call to a priced function came to — shared by HTTP and MCP, which differ only in
/// how they carry payments and answers.
pub(crate) enum Priced {
    /// A free-tier call: run without payment.
    Free(Result<Answer, CallError>),
    /// The payment is missing or refused.
    Refused(Rejection),
    /// Payments cannot be taken right now (chain or journal down).
    Unavailable(String),
    /// Paid and run (or answered before a crash). The ticket is spent once the answer is out;
    /// dropped unspent, a retry with the same payment is served again without paying twice.
    Paid(Box<Ticket>, Result<Answer, CallError>),
}

/// Takes the payment (or a free call) for a priced function and runs it.
pub(crate) async fn call_priced(
    gateway: &Gateway,
    paywall: &Arc<Paywall>,
    resolved: &Resolved,
    incoming: Incoming<'_>,
    body: Bytes,
    payment: Option<Result<Payment, Rejection>>,
    caller: Option<IpAddr>,
) -> Priced {
    let spec = resolved.deployment.function(&resolved.target.function).expect("resolved function");
    let payment = match payment {
        Some(Ok(payment)) => payment,
        Some(Err(rejection)) => return Priced::Refused(rejection),
        None if caller.is_some_and(|ip| paywall.free_call(ip)) => {
            return Priced::Free(gateway.call(resolved, incoming, body).await);
        }
        None => return Priced::Refused(Rejection::Required { amount: spec.price }),
    };
    let target = &resolved.target;
    let name = format!("{}/{}/{}", target.owner, target.project, target.function);
    let payee = resolved.deployment.record.payee().0;
    let mut ticket = match paywall.accept(payment, spec.price, &name, payee).await {
        Ok(ticket) => ticket,
        Err(Refusal::Payment(rejection)) => return Priced::Refused(rejection),
        Err(Refusal::Unavailable(message)) => return Priced::Unavailable(message),
    };
    let answer = match ticket.stored.take() {
        Some(answer) => {
            // Answered before a restart: its receipt is served again too.
            gateway.keep_receipt(&answer);
            Ok(answer)
        }
        None => {
            let answer = gateway.call(resolved, incoming, body).await;
            if let Ok(answer) = &answer {
                ticket.answered(answer.clone());
            }
            answer
        }
    };
    Priced::Paid(Box::new(ticket), answer)
}

/// Serves one HTTP call to a priced function.
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
    let payment = PAYMENT_HEADERS
        .iter()
        .find_map(|name| headers.get(*name))
        .map(|header| wire::decode_header(header.as_bytes()));
    match call_priced(gateway, paywall, resolved, incoming, body, payment, caller).await {
        Priced::Free(Ok(answer)) => respond(answer),
        Priced::Free(Err(e)) => e.into_response(),
        Priced::Refused(rejection) => payment_required(paywall, &requirements, &rejection),
        Priced::Unavailable(message) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({ "error": "payments_unavailable", "message": message })),
        )
            .into_response(),
        Priced::Paid(ticket, Err(e)) => {
            let mut response = e.into_response();
            attach_receipt(&mut response, &ticket);
            response
        }
        Priced::Paid(ticket, Ok(mut answer)) => {
            let data = Bytes::from(std::mem::take(&mut answer.response.body));
            let mut response = respond(answer);
            attach_receipt(&mut response, &ticket);
            *response.body_mut() = Body::new(Delivery { data: Some(data), ticket: Some(*ticket) });
            response
        }
    }
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
