//! The browser's step at a fake network's authorize page: it approves at once and
//! redirects back to the app.

use url::Url;

/// Why the authorize page did not send the browser back.
#[derive(Debug, thiserror::Error)]
pub enum ConsentError {
    #[error("the authorize page could not be reached")]
    Http(#[from] reqwest::Error),
    #[error("the authorize page answered {status}, not a redirect: {body}")]
    NotRedirected { status: u16, body: String },
    #[error("the authorize page redirected without a readable Location")]
    NoLocation,
    #[error("the authorize page redirected to {location:?}, not an absolute URL")]
    BadLocation {
        location: String,
        #[source]
        source: url::ParseError,
    },
}

/// Opens `authorize` (a fake network's authorize URL) in `browser` and returns where
/// the 302 sends it: the redirect URI with `code` and `state`, or with `error` when the
/// fake is set to deny.
///
/// `browser` must not follow redirects (`reqwest::redirect::Policy::none()`): a client
/// that follows them goes on to the redirect URI, and this answers
/// [`ConsentError::NotRedirected`] or [`ConsentError::Http`]. Any answer but a 302 is
/// `NotRedirected`, with its status and body; a `Location` that is missing or not an
/// absolute URL is [`ConsentError::NoLocation`] or [`ConsentError::BadLocation`].
pub async fn consent(browser: &reqwest::Client, authorize: &Url) -> Result<Url, ConsentError> {
    let answer = browser.get(authorize.clone()).send().await?;
    redirected_to(answer).await
}

/// The absolute `Location` of a 302.
async fn redirected_to(answer: reqwest::Response) -> Result<Url, ConsentError> {
    let status = answer.status().as_u16();
    if status != 302 {
        let body = answer.text().await?;
        return Err(ConsentError::NotRedirected { status, body });
    }
    let location = answer
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|l| l.to_str().ok())
        .ok_or(ConsentError::NoLocation)?;
    Url::parse(location).map_err(|source| ConsentError::BadLocation {
        location: location.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use axum::http;

    use super::*;

    fn answer(status: u16, location: Option<&str>, body: &str) -> reqwest::Response {
        let mut builder = http::Response::builder().status(status);
        if let Some(location) = location {
            builder = builder.header(http::header::LOCATION, location);
        }
        reqwest::Response::from(builder.body(body.to_owned()).unwrap())
    }

    #[tokio::test]
    async fn a_302_gives_its_location_and_anything_else_is_an_error() {
        let back = "https://app.example/callback?code=canary-x-code-1&state=s";
        let other = [
            answer(200, None, "<h1>X</h1>"),
            answer(302, None, ""),
            answer(302, Some("/callback?code=c"), ""),
        ];

        let ok = redirected_to(answer(302, Some(back), "")).await.unwrap();
        let mut errors = Vec::new();
        for a in other {
            errors.push(redirected_to(a).await.unwrap_err());
        }

        assert_eq!(ok.as_str(), back);
        assert!(
            matches!(&errors[0], ConsentError::NotRedirected { status: 200, body } if body == "<h1>X</h1>"),
            "{:?}",
            errors[0]
        );
        assert!(
            matches!(errors[1], ConsentError::NoLocation),
            "{:?}",
            errors[1]
        );
        assert!(
            matches!(&errors[2], ConsentError::BadLocation { location, .. } if location == "/callback?code=c"),
            "{:?}",
            errors[2]
        );
    }
}
