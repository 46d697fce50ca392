//! Amazon SES v2. Reaches a local stand-in through `AWS_ENDPOINT_URL_SESV2`.

use async_trait::async_trait;
use aws_sdk_sesv2::config::http::HttpResponse;
use aws_sdk_sesv2::error::SdkError;
use aws_sdk_sesv2::operation::send_email::SendEmailError;
use aws_sdk_sesv2::types::{
    Body, Content, Destination, EmailContent, Message, MessageHeader, MessageTag,
};

use super::{Email, MailError, Mailer};
use crate::domain::EmailAddress;

#[derive(Debug, Clone)]
pub struct SesMailer {
    client: aws_sdk_sesv2::Client,
    /// `"Name" <address>`, or the bare address.
    from: String,
    configuration_set: Option<String>,
}

impl SesMailer {
    /// Mails from `from`, shown as `from_name` when given (the platform's own name).
    pub fn new(
        client: aws_sdk_sesv2::Client,
        from: EmailAddress,
        from_name: Option<&str>,
        configuration_set: Option<String>,
    ) -> Self {
        Self {
            client,
            from: sender(&from, from_name),
            configuration_set,
        }
    }
}

/// The From header's value. A display name of plain printable ASCII is quoted (RFC 5322);
/// any other is an RFC 2047 encoded word, as SES asks for non-ASCII sender names.
fn sender(from: &EmailAddress, name: Option<&str>) -> String {
    let name: String = name
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_control())
        .collect();
    let name = name.trim();
    if name.is_empty() {
        return from.as_str().to_owned();
    }
    if name.chars().all(|c| c.is_ascii() && c != '"' && c != '\\') {
        format!("\"{name}\" <{}>", from.as_str())
    } else {
        use base64::engine::general_purpose::STANDARD;
        use base64::Engine;
        format!("=?UTF-8?B?{}?= <{}>", STANDARD.encode(name), from.as_str())
    }
}

fn content(text: &str) -> Result<Content, MailError> {
    Content::builder()
        .data(text)
        .charset("UTF-8")
        .build()
        .map_err(rejected)
}

fn rejected(err: impl std::fmt::Display) -> MailError {
    MailError::Rejected(err.to_string())
}

/// The email's extra headers (the RFC 8058 unsubscribe pair, for a digest).
fn headers(email: &Email) -> Result<Vec<MessageHeader>, MailError> {
    email
        .headers
        .iter()
        .map(|(name, value)| {
            MessageHeader::builder()
                .name(name)
                .value(value)
                .build()
                .map_err(rejected)
        })
        .collect()
}

/// The message tags SES hands back with its events about this email.
fn tags(email: &Email) -> Result<Vec<MessageTag>, MailError> {
    email
        .tags
        .pairs()
        .into_iter()
        .map(|(name, value)| {
            MessageTag::builder()
                .name(name)
                .value(value)
                .build()
                .map_err(rejected)
        })
        .collect()
}

/// Subject, text and HTML bodies, and the headers when there are any.
fn message(email: &Email, headers: Vec<MessageHeader>) -> Result<Message, MailError> {
    Ok(Message::builder()
        .subject(content(&email.subject)?)
        .body(
            Body::builder()
                .text(content(&email.text)?)
                .html(content(&email.html)?)
                .build(),
        )
        .set_headers((!headers.is_empty()).then_some(headers))
        .build())
}

/// What a refused SendEmail means for the mail: throttled (try later), rejected (this
/// mail cannot go), sending stopped (no mail can go), or a transient fault.
fn send_error(err: SdkError<SendEmailError, HttpResponse>) -> MailError {
    let status = err.raw_response().map(|r| r.status().as_u16());
    match err.into_service_error() {
        SendEmailError::TooManyRequestsException(_) => MailError::Throttled,
        SendEmailError::LimitExceededException(_) => MailError::Throttled,
        SendEmailError::MessageRejected(e) => {
            MailError::Rejected(e.message().unwrap_or("MessageRejected").to_owned())
        }
        SendEmailError::BadRequestException(e) => {
            MailError::Rejected(e.message().unwrap_or("BadRequest").to_owned())
        }
        SendEmailError::SendingPausedException(e) => {
            MailError::SendingStopped(e.message().unwrap_or("sending paused").to_owned())
        }
        SendEmailError::AccountSuspendedException(e) => {
            MailError::SendingStopped(e.message().unwrap_or("account suspended").to_owned())
        }
        SendEmailError::MailFromDomainNotVerifiedException(e) => MailError::SendingStopped(
            e.message()
                .unwrap_or("mail-from domain not verified")
                .to_owned(),
        ),
        SendEmailError::NotFoundException(e) => {
            MailError::SendingStopped(e.message().unwrap_or("configuration not found").to_owned())
        }
        _ if status == Some(429) => MailError::Throttled,
        other => MailError::Transient(Box::new(other)),
    }
}

#[async_trait]
impl Mailer for SesMailer {
    async fn send(&self, email: &Email) -> Result<String, MailError> {
        let headers = headers(email)?;
        let tags = tags(email)?;
        let message = message(email, headers)?;
        let out = self
            .client
            .send_email()
            .from_email_address(&self.from)
            .destination(
                Destination::builder()
                    .to_addresses(email.to.as_str())
                    .build(),
            )
            .content(EmailContent::builder().simple(message).build())
            .set_email_tags(Some(tags))
            .set_configuration_set_name(self.configuration_set.clone())
            .send()
            .await
            .map_err(send_error)?;
        Ok(out.message_id().unwrap_or_default().to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sender_name_is_quoted_or_encoded_and_never_breaks_the_header() {
        let from = EmailAddress::parse("alerts@example.com").unwrap();
        assert_eq!(sender(&from, None), "alerts@example.com");
        assert_eq!(sender(&from, Some("  ")), "alerts@example.com");
        assert_eq!(
            sender(&from, Some("Maybe* Alerts")),
            "\"Maybe* Alerts\" <alerts@example.com>"
        );
        assert_eq!(
            sender(&from, Some("Café\r\nBcc: x@y.z")),
            "=?UTF-8?B?Q2Fmw6lCY2M6IHhAeS56?= <alerts@example.com>"
        );
        assert!(sender(&from, Some("A \"B\"")).starts_with("=?UTF-8?B?"));
    }
}
