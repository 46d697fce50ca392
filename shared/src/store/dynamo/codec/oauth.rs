//! The OAuth state item and the parked code item.

use super::*;

/// The state's item, with `ttl` at its expiry so DynamoDB removes it afterwards.
pub(in crate::store::dynamo) fn state_item(state: &OAuthState) -> Item {
    let mut item = Item::new();
    set(
        &mut item,
        LAYOUT.partition_key,
        s(keys::state_pk(&state.id)),
    );
    set(&mut item, LAYOUT.sort_key, s(keys::STATE_SK));
    set(&mut item, attr::KIND, s(kind::OAUTH_STATE));
    set(&mut item, "team", s(state.team.as_str()));
    set(&mut item, "user_id", s(state.user.as_str()));
    set(&mut item, attr::PROVIDER, s(state.provider.id()));
    set(&mut item, "return_to", s(state.return_to.url().as_str()));
    set_opt(&mut item, attr::ACCOUNT_ID, state.account.as_ref(), |a| {
        s(a.as_str())
    });
    // Sealed under the raw state, which the item does not hold (only its hash).
    set_opt(
        &mut item,
        "pkce_verifier",
        state
            .pkce_verifier
            .as_ref()
            .and_then(|v| crate::seal::seal_for_state(v, &state.id)),
        |v: SealedToken| s(v.as_stored()),
    );
    set(&mut item, "redirect_uri", s(&state.redirect_uri));
    set(&mut item, attr::CREATED_AT, t(state.created_at));
    set(&mut item, attr::EXPIRES_AT, t(state.expires_at));
    set(
        &mut item,
        LAYOUT.ttl_attribute,
        n(state.expires_at.timestamp()),
    );
    item
}

/// The state item read back with the raw `state` the browser brought (it opens the
/// verifier); the id it carries is the stored hash.
pub(in crate::store::dynamo) fn state_from_item(
    item: &Item,
    raw_state: &str,
) -> Result<OAuthState, StoreError> {
    let f = Fields::new(item);
    f.kind(kind::OAUTH_STATE)?;
    let id = f
        .s(LAYOUT.partition_key)?
        .strip_prefix(STATE_PREFIX)
        .ok_or_else(|| f.bad("key is not a state key"))?
        .to_owned();
    Ok(OAuthState {
        id,
        team: f.team()?,
        user: f.parsed("user_id", |v| UserId::parse(v).ok())?,
        provider: f.provider()?,
        return_to: f.parsed("return_to", |v| {
            Url::parse(v).ok().map(ReturnUrl::from_trusted)
        })?,
        account: f.opt_parsed(attr::ACCOUNT_ID, |v| AccountId::parse(v).ok())?,
        pkce_verifier: f
            .opt_s("pkce_verifier")?
            .map(|v| {
                crate::seal::open_for_state(&SealedToken::from_stored(v.to_owned()), raw_state)
                    .map_err(|_| f.bad("the PKCE verifier does not open for this state"))
            })
            .transpose()?,
        redirect_uri: f.s("redirect_uri")?.to_owned(),
        created_at: f.time(attr::CREATED_AT)?,
        expires_at: f.time(attr::EXPIRES_AT)?,
    })
}

/// A parked code: the consumed state's fields under the parked key, the sealed code, and
/// the parked item's own expiry (and `ttl`).
pub(in crate::store::dynamo) fn parked_item(parked: &Parked) -> Item {
    let mut item = state_item(&OAuthState {
        pkce_verifier: None,
        ..parked.state.clone()
    });
    set_opt(
        &mut item,
        "verifier",
        parked.verifier.as_ref(),
        |v: &SealedToken| s(v.as_stored()),
    );
    set(
        &mut item,
        LAYOUT.partition_key,
        s(keys::parked_pk(&parked.key)),
    );
    set(&mut item, LAYOUT.sort_key, s(keys::PARKED_SK));
    set(&mut item, attr::KIND, s(kind::PARKED));
    set(&mut item, "state_id", s(&parked.state.id));
    set(&mut item, "code", s(parked.code.as_stored()));
    set(&mut item, attr::EXPIRES_AT, t(parked.expires_at));
    set(
        &mut item,
        LAYOUT.ttl_attribute,
        n(parked.expires_at.timestamp()),
    );
    item
}

pub(in crate::store::dynamo) fn parked_from_item(item: &Item) -> Result<Parked, StoreError> {
    let f = Fields::new(item);
    f.kind(kind::PARKED)?;
    let key = f
        .s(LAYOUT.partition_key)?
        .strip_prefix(keys::PARKED_PREFIX)
        .ok_or_else(|| f.bad("key is not a parked key"))?
        .to_owned();
    let state = OAuthState {
        id: f.s("state_id")?.to_owned(),
        team: f.team()?,
        user: f.parsed("user_id", |v| UserId::parse(v).ok())?,
        provider: f.provider()?,
        return_to: f.parsed("return_to", |v| {
            Url::parse(v).ok().map(ReturnUrl::from_trusted)
        })?,
        account: f.opt_parsed(attr::ACCOUNT_ID, |v| AccountId::parse(v).ok())?,
        // Opened by the completion (`verifier`, sealed with the keyring).
        pkce_verifier: None,
        redirect_uri: f.s("redirect_uri")?.to_owned(),
        created_at: f.time(attr::CREATED_AT)?,
        expires_at: f.time(attr::EXPIRES_AT)?,
    };
    Ok(Parked {
        key,
        expires_at: state.expires_at,
        state,
        code: SealedToken::from_stored(f.s("code")?.to_owned()),
        verifier: f
            .opt_s("verifier")?
            .map(|v| SealedToken::from_stored(v.to_owned())),
    })
}
