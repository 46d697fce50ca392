//! Routes and authorization: every documented route deployed with its function, the JWT on
//! all but the public routes, CORS, nothing reachable another way, the public routes' throttle.

use super::*;

/// (METHOD, path, function binary) of every operation of the HTTP API's definition, with
/// the operation's `security` (absent: the default authorizer).
fn template_routes() -> BTreeMap<(String, String), (String, Option<Value>)> {
    let apis = of_type("AWS::Serverless::HttpApi");
    assert_eq!(apis.len(), 1, "one HTTP API");
    let paths = apis[0].1["Properties"]["DefinitionBody"]["paths"]
        .as_object()
        .expect("the HTTP API's DefinitionBody has paths");
    let mut routes = BTreeMap::new();
    for (path, item) in paths {
        for (method, op) in item.as_object().expect("a path item") {
            let integration = &op["x-amazon-apigateway-integration"];
            assert_eq!(integration["type"], "aws_proxy", "{method} {path}");
            assert_eq!(
                integration["payloadFormatVersion"], "2.0",
                "{method} {path}"
            );
            let uri = sub_string(&integration["uri"])
                .unwrap_or_else(|| panic!("{method} {path}: the integration uri is a !Sub"));
            let function = uri
                .split_once(":function:${AWS::StackName}-")
                .and_then(|(_, rest)| rest.strip_suffix("/invocations"))
                .unwrap_or_else(|| panic!("{method} {path}: no function in {uri}"));
            routes.insert(
                (method.to_uppercase(), path.clone()),
                (function.to_owned(), op.get("security").cloned()),
            );
        }
    }
    routes
}

fn openapi_routes() -> BTreeMap<(String, String), (String, bool)> {
    let mut routes = BTreeMap::new();
    for (path, item) in openapi()["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            if !["get", "put", "post", "delete", "patch"].contains(&method.as_str()) {
                continue;
            }
            let function = op["x-function"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path} has no x-function"));
            // `security: []` on an operation: public; otherwise the document's JWT default.
            let public = op.get("security") == Some(&json!([]));
            routes.insert(
                (method.to_uppercase(), path.clone()),
                (function.to_owned(), public),
            );
        }
    }
    routes
}

#[test]
fn every_documented_route_is_deployed_with_its_function_and_nothing_else() {
    let deployed: BTreeMap<_, _> = template_routes()
        .into_iter()
        .map(|(route, (function, _))| (route, function))
        .collect();
    let documented: BTreeMap<_, _> = openapi_routes()
        .into_iter()
        .map(|(route, (function, _))| (route, function))
        .collect();
    assert_eq!(deployed, documented);

    let functions = functions();
    for (route, function) in &deployed {
        let (name, resource) = functions.get(function).unwrap_or_else(|| {
            panic!("{route:?} goes to {function}, which is not a function here")
        });
        assert_eq!(
            sub_string(&resource["Properties"]["FunctionName"]),
            Some(format!("${{AWS::StackName}}-{function}").as_str()),
            "{name}: the integration finds it by this name"
        );
    }
}

#[test]
fn only_the_oauth_callback_and_the_mail_links_are_public_every_other_route_needs_a_valid_jwt() {
    let api = &of_type("AWS::Serverless::HttpApi")[0].1["Properties"];
    let auth = &api["Auth"];
    assert_eq!(auth["DefaultAuthorizer"], "JwtAuthorizer");
    let authorizers = auth["Authorizers"].as_object().expect("Authorizers");
    assert_eq!(
        authorizers.keys().collect::<Vec<_>>(),
        ["JwtAuthorizer"],
        "one authorizer, the JWT one"
    );
    let jwt = &authorizers["JwtAuthorizer"];
    assert_eq!(jwt["IdentitySource"], "$request.header.Authorization");
    assert_eq!(jwt["JwtConfiguration"]["issuer"], reference("JwtIssuer"));
    assert_eq!(
        jwt["JwtConfiguration"]["audience"],
        reference("JwtAudience")
    );
    assert!(
        jwt.get("FunctionArn").is_none() && jwt.get("AuthorizerPayloadFormatVersion").is_none(),
        "a JWT authorizer, not a Lambda authorizer that could trust headers"
    );
    assert_ne!(auth["EnableIamAuthorizer"], true);

    let documented = openapi_routes();
    let mut public = Vec::new();
    for (route, (_, security)) in template_routes() {
        let (_, documented_public) = &documented[&route];
        match security {
            // The default authorizer (SAM writes it into every operation without one).
            None => assert!(!documented_public, "{route:?} is public in openapi.yaml"),
            Some(security) if security == json!([{"NONE": []}]) => {
                assert!(documented_public, "{route:?} needs a JWT in openapi.yaml");
                public.push(route);
            }
            Some(other) => panic!("{route:?} has an unexpected security {other}"),
        }
    }
    let expected: Vec<(String, String)> = [
        ("GET", "/mail/confirm"),
        ("GET", "/mail/unsubscribe"),
        ("GET", "/oauth/{provider}/callback"),
        ("POST", "/mail/confirm"),
        ("POST", "/mail/unsubscribe"),
    ]
    .iter()
    .map(|(m, p)| (m.to_string(), p.to_string()))
    .collect();
    assert_eq!(
        public, expected,
        "the callback and the links in mails are the only routes without the JWT authorizer"
    );
    // The public routes go to the two functions that read no JWT.
    for (route, (function, _)) in template_routes() {
        if expected.contains(&route) {
            assert!(
                ["oauth-callback", "mail-links"].contains(&function.as_str()),
                "{route:?} -> {function}"
            );
        }
    }
}

#[test]
fn cors_allows_the_frontend_origins_only_and_the_authorization_header() {
    let api = &of_type("AWS::Serverless::HttpApi")[0].1["Properties"];
    assert!(
        api.get("CorsConfiguration").is_none(),
        "CORS is written into the definition (SAM drops a CorsConfiguration whose origins are an intrinsic)"
    );
    let cors = &api["DefinitionBody"]["x-amazon-apigateway-cors"];
    assert_eq!(
        cors["allowOrigins"],
        json!({"Fn::Split": [",", {"Ref": "FrontendOrigins"}]})
    );
    let listed = |key: &str| -> BTreeSet<String> {
        cors[key]
            .as_array()
            .unwrap_or_else(|| panic!("cors {key}"))
            .iter()
            .map(|v| v.as_str().expect("a string").to_lowercase())
            .collect()
    };
    assert!(listed("allowHeaders").contains("authorization"));
    for (method, _) in openapi_routes().keys() {
        assert!(
            listed("allowMethods").contains(&method.to_lowercase()),
            "{method}"
        );
    }
    assert_ne!(
        cors["allowCredentials"], true,
        "no cookies: the JWT is a header"
    );
}

#[test]
fn no_function_is_reachable_except_through_the_jwt_api_the_schedule_its_queue_and_the_stream() {
    // No second API and no hand-made routes or authorizers beside the HTTP API's; event
    // sources only as functions' Events, checked below.
    for kind in [
        "AWS::Serverless::Api",
        "AWS::ApiGateway::RestApi",
        "AWS::ApiGatewayV2::Api",
        "AWS::ApiGatewayV2::Route",
        "AWS::ApiGatewayV2::Authorizer",
        "AWS::Lambda::Url",
        "AWS::Lambda::EventSourceMapping",
    ] {
        assert!(of_type(kind).is_empty(), "no {kind}");
    }
    // The sweep reads its shard queue, the publisher the table's stream; no other function
    // has an event source (routes belong in the HTTP API's definition, checked here).
    let sources = BTreeMap::from([
        ("expiry-sweep", "SQS"),
        ("events-publisher", "DynamoDB"),
        ("mail-feedback", "SQS"),
    ]);
    for (binary, (name, function)) in functions() {
        let properties = &function["Properties"];
        assert!(
            properties.get("FunctionUrlConfig").is_none(),
            "{name} ({binary}) has a function URL: it would take requests past the authorizer"
        );
        let kinds: Vec<&str> = properties["Events"]
            .as_object()
            .map(|events| {
                events
                    .values()
                    .map(|spec| spec["Type"].as_str().unwrap_or(""))
                    .collect()
            })
            .unwrap_or_default();
        let wanted: Vec<&str> = sources.get(binary.as_str()).copied().into_iter().collect();
        assert_eq!(kinds, wanted, "{name} ({binary}): its event sources");
    }
    // EventBridge rules deliver to the webhook (an API destination) or to the mail events
    // queue the mail-feedback function reads, never to a function directly.
    let feedback_queue = json!({"Fn::GetAtt": ["MailEventsQueue", "Arn"]});
    assert_eq!(
        resource("MailFeedbackFunction")["Properties"]["Events"]["MailEvents"]["Properties"]
            ["Queue"],
        feedback_queue
    );
    for (name, rule) in of_type("AWS::Events::Rule") {
        let targets = rule["Properties"]["Targets"]
            .as_array()
            .unwrap_or_else(|| panic!("{name}: Targets"));
        for target in targets {
            let arn = &target["Arn"]["Fn::GetAtt"];
            let kind = arn[0].as_str().map(|r| resource(r)["Type"].clone());
            let to_feedback = target["Arn"] == feedback_queue && name == "MailEventsRule";
            assert!(
                kind == Some(json!("AWS::Events::ApiDestination")) || to_feedback,
                "{name}: target {target}"
            );
        }
    }
    for (name, permission) in of_type("AWS::Lambda::Permission") {
        let p = &permission["Properties"];
        assert_eq!(p["Principal"], "apigateway.amazonaws.com", "{name}");
        let source = sub_string(&p["SourceArn"]).unwrap_or_else(|| panic!("{name}: SourceArn"));
        assert!(
            source.contains(":${HttpApi}/"),
            "{name}: only this stack's HTTP API may invoke ({source})"
        );
    }
}

/// The public callback cannot be starved by anonymous traffic (nor starve the rest): a
/// route-level throttle of its own, below the authenticated routes' default.
#[test]
fn the_public_routes_have_a_throttle_of_their_own() {
    let api = &resource("HttpApi")["Properties"];
    let public: Vec<String> = template_routes()
        .into_iter()
        .filter(|(_, (_, security))| security.as_ref() == Some(&json!([{"NONE": []}])))
        .map(|((method, path), _)| format!("{method} {path}"))
        .collect();
    assert_eq!(public.len(), 5, "{public:?}");
    for route in &public {
        let own = &api["RouteSettings"][route];
        assert_eq!(
            own["ThrottlingRateLimit"],
            reference("CallbackThrottlingRateLimit"),
            "{route}"
        );
        assert_eq!(
            own["ThrottlingBurstLimit"],
            reference("CallbackThrottlingBurstLimit"),
            "{route}"
        );
    }
    assert_eq!(
        api["DefaultRouteSettings"]["ThrottlingRateLimit"],
        reference("ApiThrottlingRateLimit")
    );
    let parameters = &template()["Parameters"];
    let default = |name: &str| parameters[name]["Default"].as_f64().expect("a number");
    assert!(default("CallbackThrottlingRateLimit") < default("ApiThrottlingRateLimit"));
    // Every other route keeps the default: only the public ones have settings of their own.
    assert_eq!(
        api["RouteSettings"].as_object().map(|m| m.len()),
        Some(public.len())
    );
}
