//! Amazon SES v2. Reaches a local stand-in through `AWS_ENDPOINT_URL_SESV2`.

use async_trait::async_trait;
use aws_sdk_sesv2::operation::send_email::SendEmailError;
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};

use super::{Email, MailError, Mailer};
use crate::domain::EmailAddress;

#[derive(Debug, Clone)]
pub struct SesMailer {
    client: aws_sdk_sesv2::Client,
    from: EmailAddress,
    configuration_set: Option<String>,
}

impl SesMailer {
    pub fn new(
        client: aws_sdk_sesv2::Client,
        from: EmailAddress,
        configuration_set: Option<String>,
    ) -> Self {
        Self {
            client,
            from,
            configuration_set,
        }
    }
}

fn content(text: &str) -> Result<Content, MailError> {
    Content::builder()
        .data(text)
        .charset("UTF-8")
        .build()
        .map_err(|e| MailError::Rejected(e.to_string()))
}

#[async_trait]
impl Mailer for SesMailer {
    async fn send(&self, email: &Email) -> Result<String, MailError> {
        let message = Message::builder()
            .subject(content(&email.subject)?)
            .body(
                Body::builder()
                    .text(content(&email.text)?)
                    .html(content(&email.html)?)
                    .build(),
            )
            .build();
        let out = self
            .client
            .send_email()
            .from_email_address(self.from.as_str())
            .destination(
                Destination::builder()
                    .to_addresses(email.to.as_str())
                    .build(),
            )
            .content(EmailContent::builder().simple(message).build())
            .set_configuration_set_name(self.configuration_set.clone())
            .send()
            .await
            .map_err(|err| {
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
                    SendEmailError::SendingPausedException(e) => MailError::SendingStopped(
                        e.message().unwrap_or("sending paused").to_owned(),
                    ),
                    SendEmailError::AccountSuspendedException(e) => MailError::SendingStopped(
                        e.message().unwrap_or("account suspended").to_owned(),
                    ),
                    SendEmailError::MailFromDomainNotVerifiedException(e) => {
                        MailError::SendingStopped(
                            e.message()
                                .unwrap_or("mail-from domain not verified")
                                .to_owned(),
                        )
                    }
                    SendEmailError::NotFoundException(e) => MailError::SendingStopped(
                        e.message().unwrap_or("configuration not found").to_owned(),
                    ),
                    _ if status == Some(429) => MailError::Throttled,
                    other => MailError::Transient(Box::new(other)),
                }
            })?;
        Ok(out.message_id().unwrap_or_default().to_owned())
    }
}
