//! `infra/template.yaml` against the code: what cfn-lint, `sam validate` and checkov (run by
//! `infra/check-template`) cannot know.
//!
//! - the table is exactly `tokenwarden::store::dynamo::LAYOUT` (what `create_table` makes),
//!   its stream included;
//! - every route of `infra/openapi.yaml` is in the template, served by its function, and
//!   the OAuth callback is the only route without the JWT authorizer; nothing else reaches a
//!   function (no function URL, no second API, no permission for another caller, no event
//!   source but the sweep's queue and the publisher's stream, no rule targeting a function);
//! - the credentials function is on no route and has no event source: only the scheduler's
//!   role (for the sweep) and `CredentialsInvokePolicy` (for it, attached by the platform to
//!   its own roles) grant `lambda:InvokeFunction`, and its breakage mails go to the queue
//!   the sweep reads;
//! - each function's environment holds every variable its configuration struct requires and
//!   nothing it does not read, and never the local-only provider override;
//! - the schedule's input is an event the sweep understands, and the SQS event source
//!   reports partial batch failures;
//! - the events publisher reads the table's stream only, and only inserted history items
//!   (the filter against the store's own `kind` values), in order per shard, with partial
//!   batch responses, bisection and an encrypted on-failure queue; it alone puts events, on
//!   the stack's bus only;
//! - the webhook is EventBridge's own delivery (connection, API destination, a rule for
//!   `tokenwarden::events::SOURCE` with retries and an encrypted dead-letter queue only the
//!   rule may write to), all of it behind `HasWebhook`;
//! - every alarm notifies `AlarmTopicArn`, and the throttles alarm counts every function;
//! - the one `*` resource in the roles is justified, and every checkov skip has a reason.
//!
//! No services needed: the template and the sources are read as files.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::OnceLock;

use serde_json::{json, Map, Value};
use tokenwarden::runtime::config;
use tokenwarden::store::dynamo::{IndexLayout, LAYOUT};

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(relative: &str) -> String {
    let path = repo_root().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

// ---- the template as CloudFormation JSON ------------------------------------------------------

/// YAML short forms (`!Ref X`, `!Sub s`, `!GetAtt A.B`, ...) as their JSON long forms, so the
/// checks below see one shape whatever form the template uses.
fn cfn_json(value: serde_norway::Value) -> Value {
    use serde_norway::Value as Y;
    match value {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => serde_json::to_value(&n).expect("a YAML number is a JSON number"),
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(items.into_iter().map(cfn_json).collect()),
        Y::Mapping(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let key = match k {
                        Y::String(s) => s,
                        other => serde_norway::to_string(&other)
                            .expect("a key serializes")
                            .trim()
                            .to_owned(),
                    };
                    (key, cfn_json(v))
                })
                .collect(),
        ),
        Y::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let name = tag.trim_start_matches('!');
            let inner = cfn_json(tagged.value);
            match name {
                "Ref" => json!({ "Ref": inner }),
                "Condition" => json!({ "Condition": inner }),
                "GetAtt" => {
                    let parts = match inner {
                        Value::String(s) => {
                            let (resource, attribute) =
                                s.split_once('.').expect("!GetAtt Resource.Attribute");
                            json!([resource, attribute])
                        }
                        other => other,
                    };
                    json!({ "Fn::GetAtt": parts })
                }
                other => json!({ format!("Fn::{other}"): inner }),
            }
        }
    }
}

fn template() -> &'static Value {
    static TEMPLATE: OnceLock<Value> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let yaml: serde_norway::Value = serde_norway::from_str(&read("infra/template.yaml"))
            .unwrap_or_else(|e| panic!("infra/template.yaml: {e}"));
        cfn_json(yaml)
    })
}

fn openapi() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| {
        serde_norway::from_str(&read("infra/openapi.yaml"))
            .unwrap_or_else(|e| panic!("infra/openapi.yaml: {e}"))
    })
}

fn resources() -> &'static Map<String, Value> {
    template()["Resources"]
        .as_object()
        .expect("the template has Resources")
}

fn resource(name: &str) -> &'static Value {
    resources()
        .get(name)
        .unwrap_or_else(|| panic!("the template has no resource {name}"))
}

fn of_type(kind: &str) -> Vec<(&'static String, &'static Value)> {
    resources()
        .iter()
        .filter(|(_, r)| r["Type"] == kind)
        .collect()
}

fn reference(name: &str) -> Value {
    json!({ "Ref": name })
}

/// The `Fn::Sub` string of a value (`!Sub "..."` or `!Sub ["...", {...}]`).
fn sub_string(value: &Value) -> Option<&str> {
    match &value["Fn::Sub"] {
        Value::String(s) => Some(s),
        Value::Array(parts) => parts.first().and_then(Value::as_str),
        _ => None,
    }
}

/// Function resources by the binary they run (`Metadata.BuildProperties.Binary`).
fn functions() -> BTreeMap<String, (&'static String, &'static Value)> {
    of_type("AWS::Serverless::Function")
        .into_iter()
        .map(|(name, function)| {
            let binary = function["Metadata"]["BuildProperties"]["Binary"]
                .as_str()
                .unwrap_or_else(|| panic!("{name} names no Binary in Metadata.BuildProperties"));
            (binary.to_owned(), (name, function))
        })
        .collect()
}

// ---- the table ---------------------------------------------------------------------------

fn key_schema(schema: &Value) -> (String, String) {
    let find = |kind: &str| {
        schema
            .as_array()
            .expect("a KeySchema list")
            .iter()
            .find(|k| k["KeyType"] == kind)
            .and_then(|k| k["AttributeName"].as_str())
            .unwrap_or_else(|| panic!("no {kind} key in {schema}"))
            .to_owned()
    };
    (find("HASH"), find("RANGE"))
}

fn indexes(list: &Value) -> BTreeMap<String, (String, String, String)> {
    list.as_array()
        .map(|l| l.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|index| {
            let name = index["IndexName"].as_str().expect("IndexName").to_owned();
            let (pk, sk) = key_schema(&index["KeySchema"]);
            let projection = index["Projection"]["ProjectionType"]
                .as_str()
                .expect("ProjectionType")
                .to_owned();
            (name, (pk, sk, projection))
        })
        .collect()
}

fn layout_indexes(list: &[IndexLayout]) -> BTreeMap<String, (String, String, String)> {
    list.iter()
        .map(|i| {
            (
                i.name.to_owned(),
                (
                    i.partition_key.to_owned(),
                    i.sort_key.to_owned(),
                    i.projection.to_owned(),
                ),
            )
        })
        .collect()
}

#[test]
fn the_table_is_exactly_the_layout_create_table_makes() {
    let tables = of_type("AWS::DynamoDB::Table");
    assert_eq!(tables.len(), 1, "one table");
    let table = &tables[0].1["Properties"];

    assert_eq!(
        key_schema(&table["KeySchema"]),
        (LAYOUT.partition_key.to_owned(), LAYOUT.sort_key.to_owned()),
        "table keys"
    );
    let definitions: Vec<(String, String)> = table["AttributeDefinitions"]
        .as_array()
        .expect("AttributeDefinitions")
        .iter()
        .map(|d| {
            (
                d["AttributeName"].as_str().expect("name").to_owned(),
                d["AttributeType"].as_str().expect("type").to_owned(),
            )
        })
        .collect();
    let wanted: Vec<(String, String)> = LAYOUT
        .key_attributes()
        .into_iter()
        .map(|a| (a.to_owned(), "S".to_owned()))
        .collect();
    let as_set = |v: &[(String, String)]| v.iter().cloned().collect::<BTreeSet<_>>();
    assert_eq!(
        as_set(&definitions),
        as_set(&wanted),
        "attribute definitions"
    );
    assert_eq!(
        definitions.len(),
        wanted.len(),
        "each attribute defined once"
    );

    assert_eq!(
        indexes(&table["LocalSecondaryIndexes"]),
        layout_indexes(LAYOUT.local_indexes),
        "local secondary indexes"
    );
    assert_eq!(
        indexes(&table["GlobalSecondaryIndexes"]),
        layout_indexes(LAYOUT.global_indexes),
        "global secondary indexes"
    );
    assert_eq!(
        table["TimeToLiveSpecification"],
        json!({"AttributeName": LAYOUT.ttl_attribute, "Enabled": true}),
        "TTL"
    );
    assert_eq!(table["BillingMode"], LAYOUT.billing_mode, "billing mode");
    assert_eq!(
        table["StreamSpecification"],
        json!({"StreamViewType": LAYOUT.stream_view_type}),
        "the table's stream, as create_table makes it"
    );
    assert_eq!(
        LAYOUT.stream_view_type, "NEW_IMAGE",
        "the events publisher reads each history item from its new image"
    );
    assert_eq!(
        table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"],
        true
    );
    assert_eq!(table["SSESpecification"]["SSEEnabled"], true);
    assert_eq!(table["SSESpecification"]["SSEType"], "KMS");
    assert_eq!(
        table["SSESpecification"]["KMSMasterKeyId"],
        reference("Key"),
        "the table is encrypted with the stack's customer-managed key"
    );
    let key = &resource("Key")["Properties"];
    assert_eq!(key["EnableKeyRotation"], true, "the key rotates");
}

// ---- routes and authorization -------------------------------------------------------------

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

// ---- environment ---------------------------------------------------------------------------

/// What `functions/<binary>` reads, required and optional: the list of its configuration
/// struct (`tokenwarden::runtime::config`, held to what the struct reads by its own tests).
fn function_reads(binary: &str) -> (BTreeSet<&'static str>, BTreeSet<&'static str>) {
    let (_, variables) = config::FUNCTIONS
        .iter()
        .find(|(b, _)| *b == binary)
        .unwrap_or_else(|| panic!("{binary} has no struct in runtime::config::FUNCTIONS"));
    let names = |required: bool| {
        variables
            .iter()
            .filter(|v| v.required == required)
            .map(|v| v.name)
            .collect()
    };
    (names(true), names(false))
}

#[test]
fn each_function_reads_its_configuration_struct_once_at_cold_start() {
    for (binary, _) in config::FUNCTIONS {
        let main = read(&format!("functions/{binary}/src/main.rs"));
        assert_eq!(
            main.matches("runtime::read_config()").count(),
            1,
            "functions/{binary}/src/main.rs reads its configuration once"
        );
        assert!(
            !main.contains("std::env") && !main.contains("env::var"),
            "functions/{binary}/src/main.rs reads the environment only through its struct"
        );
    }
}

fn environment(function: &Value) -> BTreeMap<String, Value> {
    let mut env: BTreeMap<String, Value> = BTreeMap::new();
    for source in [
        &template()["Globals"]["Function"]["Environment"]["Variables"],
        &function["Properties"]["Environment"]["Variables"],
    ] {
        if let Some(vars) = source.as_object() {
            env.extend(vars.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
    }
    env
}

#[test]
fn each_function_gets_every_variable_it_requires_and_only_ones_it_reads() {
    let members = workspace_function_members();
    let functions = functions();
    assert_eq!(
        functions.keys().cloned().collect::<BTreeSet<_>>(),
        members,
        "one template function per functions/* workspace member"
    );
    for (binary, (name, function)) in &functions {
        let (required, optional) = function_reads(binary);
        let env = environment(function);
        let set: BTreeSet<&str> = env.keys().map(String::as_str).collect();
        let missing: Vec<_> = required.difference(&set).collect();
        assert!(
            missing.is_empty(),
            "{name}: functions/{binary}/src/main.rs requires {missing:?}, not set in the template"
        );
        let read: BTreeSet<&str> = required.union(&optional).copied().collect();
        let unread: Vec<_> = set.difference(&read).collect();
        assert!(
            unread.is_empty(),
            "{name}: the template sets {unread:?}, which {binary} never reads"
        );
    }
}

#[test]
fn no_deployed_function_has_a_local_override_or_a_bypass_switch() {
    let known: BTreeSet<&str> = config::FUNCTIONS
        .iter()
        .flat_map(|(_, variables)| variables.iter().map(|v| v.name))
        .collect();
    for (binary, (name, function)) in functions() {
        for var in environment(function).into_keys() {
            assert!(
                known.contains(var.as_str()),
                "{name} ({binary}) sets {var}, which no function reads"
            );
            // Provider calls go to the networks themselves; the fakes' base URL is for the
            // local run and the tests only.
            assert_ne!(var, config::vars::PROVIDER_BASE_URL, "{name}");
            assert!(
                !var.starts_with("AWS_ENDPOINT_URL"),
                "{name}: AWS endpoints are the real ones"
            );
            for word in [
                "BYPASS", "INSECURE", "TRUST", "LOCAL", "DEV", "SKIP", "DISABLE",
            ] {
                assert!(!var.contains(word), "{name} sets {var}");
            }
        }
        // Redirect URIs are on this stack's API: its execute-api URL, or the custom domain
        // named by the ApiPublicUrl parameter.
        if let Some(base) =
            function["Properties"]["Environment"]["Variables"].get("TOKENWARDEN_CALLBACK_BASE_URL")
        {
            assert_eq!(base["Fn::If"][0], "HasApiPublicUrl", "{name}");
            assert_eq!(base["Fn::If"][1], reference("ApiPublicUrl"), "{name}");
            let api = sub_string(&base["Fn::If"][2]).unwrap_or_default();
            assert!(api.starts_with("https://${HttpApi}."), "{name}: {api}");
        }
    }
}

fn workspace_function_members() -> BTreeSet<String> {
    #[derive(serde::Deserialize)]
    struct Manifest {
        workspace: Workspace,
    }
    #[derive(serde::Deserialize)]
    struct Workspace {
        members: Vec<String>,
    }
    let manifest: Manifest = toml::from_str(&read("Cargo.toml")).expect("Cargo.toml parses");
    manifest
        .workspace
        .members
        .into_iter()
        .filter_map(|m| m.strip_prefix("functions/").map(str::to_owned))
        .collect()
}

// ---- build, logs, schedule, queues -----------------------------------------------------------

#[test]
fn every_function_is_an_arm64_cargo_lambda_build_of_the_workspace_with_json_logs() {
    let globals = &template()["Globals"]["Function"];
    assert_eq!(globals["Runtime"], "provided.al2023");
    assert_eq!(globals["Architectures"], json!(["arm64"]));
    assert_eq!(globals["Tracing"], "Active");
    assert_eq!(globals["Handler"], "bootstrap");
    assert_eq!(globals["LoggingConfig"]["LogFormat"], "JSON");
    // CodeUri is relative to the template: infra/.. is the workspace root.
    let code_uri = globals["CodeUri"].as_str().expect("Globals CodeUri");
    let root = repo_root().join("infra").join(code_uri);
    assert!(
        std::fs::read_to_string(root.join("Cargo.toml")).is_ok_and(|m| m.contains("[workspace]")),
        "CodeUri {code_uri} is the workspace root"
    );
    for (binary, (name, function)) in functions() {
        assert_eq!(
            function["Metadata"]["BuildMethod"], "rust-cargolambda",
            "{name}"
        );
        assert!(function["Properties"].get("CodeUri").is_none(), "{name}");
        let manifest = read(&format!("functions/{binary}/Cargo.toml"));
        assert!(
            manifest.contains(&format!("name = \"{binary}\"")),
            "{name}: Binary {binary} is the package (and binary) name"
        );
        let group = function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
            .as_str()
            .unwrap_or_else(|| panic!("{name} logs to a log group of the template"));
        let group = &resource(group)["Properties"];
        assert!(group["RetentionInDays"].is_object() || group["RetentionInDays"].is_number());
        assert!(
            group.get("KmsKeyId").is_some(),
            "{name}: its log group is encrypted"
        );
    }
}

#[test]
fn the_schedule_sends_an_event_the_sweep_understands_and_shards_report_partial_failures() {
    let schedules = of_type("AWS::Scheduler::Schedule");
    assert_eq!(schedules.len(), 1);
    let target = &schedules[0].1["Properties"]["Target"];
    assert_eq!(
        target["Arn"],
        json!({"Fn::GetAtt": ["ExpirySweepFunction", "Arn"]})
    );
    let input = target["Input"].as_str().expect("Input");
    assert_eq!(
        input,
        r#"{"scheduled_time":"<aws.scheduler.scheduled-time>"}"#
    );
    // What the scheduler delivers once it has put in the time.
    let delivered: Value = serde_json::from_str(
        &input.replace("<aws.scheduler.scheduled-time>", "2026-11-27T03:00:00Z"),
    )
    .expect("JSON");
    let invocation = tokenwarden::sweep::invoke::decode(&delivered).expect("the sweep reads it");
    assert_eq!(
        invocation,
        tokenwarden::sweep::invoke::Invocation::Scheduled {
            run: "sweep#2026-11-27T03:00:00Z".into()
        }
    );
    assert!(target["RetryPolicy"].is_object(), "retries");
    assert!(
        target["DeadLetterConfig"]["Arn"].is_object(),
        "a dead-letter queue"
    );

    let sweep = functions()["expiry-sweep"].1;
    let events = sweep["Properties"]["Events"]
        .as_object()
        .expect("sweep events");
    let sqs: Vec<&Value> = events.values().filter(|e| e["Type"] == "SQS").collect();
    assert_eq!(sqs.len(), 1, "one SQS event source");
    let queue = &sqs[0]["Properties"]["Queue"]["Fn::GetAtt"][0];
    assert!(sqs[0]["Properties"]["FunctionResponseTypes"]
        .as_array()
        .is_some_and(|t| t.contains(&json!("ReportBatchItemFailures"))));
    assert_eq!(
        sweep["Properties"]["Environment"]["Variables"]["TOKENWARDEN_SWEEP_QUEUE_URL"],
        json!({"Ref": queue}),
        "the sweep hands shards to the queue its event source reads"
    );
    let queue = &resource(queue.as_str().expect("queue name"))["Properties"];
    assert!(
        queue["RedrivePolicy"]["deadLetterTargetArn"].is_object(),
        "the fan-out queue has a dead-letter queue"
    );
}

#[test]
fn secrets_are_created_without_a_value() {
    let secrets = of_type("AWS::SecretsManager::Secret");
    assert_eq!(secrets.len(), 2);
    for (name, secret) in secrets {
        let p = &secret["Properties"];
        assert!(
            p.get("SecretString").is_none() && p.get("GenerateSecretString").is_none(),
            "{name} is created empty and filled by hand (infra/DEPLOY.md)"
        );
        assert_eq!(p["KmsKeyId"], reference("Key"), "{name}");
    }
}

// ---- the credentials function ----------------------------------------------------------------

/// The actions of a policy statement (`Action` one or a list).
fn statement_actions(statement: &Value) -> Vec<&str> {
    match &statement["Action"] {
        Value::String(a) => vec![a.as_str()],
        Value::Array(list) => list.iter().filter_map(Value::as_str).collect(),
        other => panic!("Action {other}"),
    }
}

/// The resources of a policy statement (`Resource` one or a list).
fn statement_resources(statement: &Value) -> Vec<Value> {
    match &statement["Resource"] {
        Value::Array(list) => list.clone(),
        other => vec![other.clone()],
    }
}

/// Every statement of the template's identity policies (roles' inline policies and managed
/// policies), with the role or managed policy holding it.
fn policy_statements() -> Vec<(&'static String, &'static Value)> {
    let mut documents: Vec<(&'static String, &'static Value)> = Vec::new();
    for (name, role) in of_type("AWS::IAM::Role") {
        let policies = role["Properties"]["Policies"]
            .as_array()
            .map(|l| l.as_slice())
            .unwrap_or_default();
        for policy in policies {
            documents.push((name, &policy["PolicyDocument"]));
        }
    }
    for (name, policy) in of_type("AWS::IAM::ManagedPolicy") {
        documents.push((name, &policy["Properties"]["PolicyDocument"]));
    }
    let mut statements = Vec::new();
    for (holder, document) in documents {
        let list = document["Statement"]
            .as_array()
            .unwrap_or_else(|| panic!("{holder}: a Statement list"));
        for statement in list {
            statements.push((holder, statement));
        }
    }
    statements
}

#[test]
fn the_credentials_function_is_invoked_only_by_roles_holding_its_invoke_policy() {
    let all = functions();
    let (name, function) = *all
        .get("credentials")
        .expect("a function with Metadata.BuildProperties.Binary: credentials");
    let sweep = all["expiry-sweep"].0;
    assert!(
        function["Properties"].get("Events").is_none(),
        "{name}: no event source; the platform's services invoke it directly"
    );
    for (permission, p) in of_type("AWS::Lambda::Permission") {
        let target = &p["Properties"]["FunctionName"];
        assert!(
            *target != reference(name) && *target != json!({"Fn::GetAtt": [name, "Arn"]}),
            "{permission}: {name} is on no route of the HTTP API"
        );
    }

    // Who may invoke which function, from every identity policy of the template.
    let mut invokes: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (holder, statement) in policy_statements() {
        let actions = statement_actions(statement);
        if !actions
            .iter()
            .any(|a| *a == "*" || a.to_lowercase().starts_with("lambda:"))
        {
            continue;
        }
        assert_eq!(
            actions,
            ["lambda:InvokeFunction"],
            "{holder}: Lambda actions"
        );
        assert_eq!(statement["Effect"], "Allow", "{holder}");
        invokes
            .entry(holder.clone())
            .or_default()
            .extend(statement_resources(statement).iter().map(Value::to_string));
    }
    let schedules = of_type("AWS::Scheduler::Schedule");
    let scheduler_role = schedules[0].1["Properties"]["Target"]["RoleArn"]["Fn::GetAtt"][0]
        .as_str()
        .expect("the schedule's role is a role of the template")
        .to_owned();
    let policies = of_type("AWS::IAM::ManagedPolicy");
    assert_eq!(
        policies.len(),
        1,
        "one managed policy: the credentials function's invoke policy"
    );
    let (policy_name, policy) = policies[0];
    let set = |values: Vec<Value>| values.iter().map(Value::to_string).collect::<BTreeSet<_>>();
    assert_eq!(
        invokes,
        BTreeMap::from([
            (
                scheduler_role,
                set(vec![json!({"Fn::GetAtt": [sweep, "Arn"]})])
            ),
            (
                policy_name.clone(),
                set(vec![
                    json!({"Fn::GetAtt": [name, "Arn"]}),
                    json!({"Fn::Sub": format!("${{{name}.Arn}}:*")}),
                ])
            ),
        ]),
        "the scheduler invokes the sweep; holders of {policy_name} invoke {name} (and its \
         versions and aliases); nothing else grants a Lambda action"
    );
    for attachment in ["Roles", "Users", "Groups"] {
        assert!(
            policy["Properties"].get(attachment).is_none(),
            "{policy_name}: the platform attaches it to its own roles, not to this stack's"
        );
    }

    let outputs = &template()["Outputs"];
    assert_eq!(
        outputs["CredentialsFunctionArn"]["Value"],
        json!({"Fn::GetAtt": [name, "Arn"]}),
        "the output infra/DEPLOY.md names"
    );
    assert_eq!(
        outputs["CredentialsInvokePolicyArn"]["Value"],
        reference(policy_name),
        "the output infra/DEPLOY.md names"
    );
}

#[test]
fn the_credentials_function_hands_breakages_to_the_queue_the_sweep_reads() {
    let all = functions();
    let (name, credentials) = all["credentials"];
    let sweep = all["expiry-sweep"].1;
    let events = sweep["Properties"]["Events"]
        .as_object()
        .expect("sweep events");
    let queue = events
        .values()
        .find(|e| e["Type"] == "SQS")
        .expect("the sweep's SQS event source")["Properties"]["Queue"]["Fn::GetAtt"][0]
        .as_str()
        .expect("a queue of the template");
    assert_eq!(
        credentials["Properties"]["Environment"]["Variables"]["TOKENWARDEN_SWEEP_QUEUE_URL"],
        reference(queue),
        "{name}: its {{\"mail_team\":..}} tasks go to the queue the sweep's event source reads"
    );

    let role = credentials["Properties"]["Role"]["Fn::GetAtt"][0]
        .as_str()
        .unwrap_or_else(|| panic!("{name}: a role of the template"));
    let statements: Vec<&Value> = policy_statements()
        .into_iter()
        .filter(|(holder, statement)| holder.as_str() == role && statement["Effect"] == "Allow")
        .map(|(_, statement)| statement)
        .collect();
    assert!(
        statements.iter().any(|s| {
            statement_actions(s).contains(&"sqs:SendMessage")
                && statement_resources(s).contains(&json!({"Fn::GetAtt": [queue, "Arn"]}))
        }),
        "{role} may send to {queue}"
    );
    // The queue is encrypted with the stack's key: sending needs it through SQS.
    assert_eq!(
        resource(queue)["Properties"]["KmsMasterKeyId"],
        reference("Key")
    );
    assert!(
        statements.iter().any(|s| {
            let actions = statement_actions(s);
            ["kms:GenerateDataKey", "kms:Decrypt"]
                .iter()
                .all(|a| actions.contains(a))
                && statement_resources(s).contains(&json!({"Fn::GetAtt": ["Key", "Arn"]}))
                && s["Condition"]["StringEquals"]["kms:ViaService"]
                    .to_string()
                    .contains("sqs.${AWS::Region}.amazonaws.com")
        }),
        "{role} may use the key through SQS"
    );
}

// ---- the events publisher, the bus and the webhook ---------------------------------------------

/// A function's role (`Role: !GetAtt X.Arn`) and that role's Allow statements.
fn function_role(function: &'static Value) -> (&'static str, Vec<&'static Value>) {
    let role = function["Properties"]["Role"]["Fn::GetAtt"][0]
        .as_str()
        .expect("the function's role is a role of the template");
    let statements = policy_statements()
        .into_iter()
        .filter(|(holder, statement)| holder.as_str() == role && statement["Effect"] == "Allow")
        .map(|(_, statement)| statement)
        .collect();
    (role, statements)
}

/// Whether a statement grants all of `actions` on the stack's key through `service`
/// (`kms:ViaService`).
fn key_through(statements: &[&Value], service: &str, actions: &[&str]) -> bool {
    let via = format!("{service}.${{AWS::Region}}.amazonaws.com");
    statements.iter().any(|s| {
        let granted = statement_actions(s);
        actions.iter().all(|a| granted.contains(a))
            && statement_resources(s) == [json!({"Fn::GetAtt": ["Key", "Arn"]})]
            && s["Condition"]["StringEquals"]["kms:ViaService"]
                .to_string()
                .contains(&via)
    })
}

/// The alarms (name, properties) on `namespace`/`metric` with a dimension of value `on`.
fn alarms_on(namespace: &str, metric: &str, on: &Value) -> Vec<(&'static String, &'static Value)> {
    of_type("AWS::CloudWatch::Alarm")
        .into_iter()
        .map(|(name, alarm)| (name, &alarm["Properties"]))
        .filter(|(_, p)| {
            p["Namespace"] == namespace
                && p["MetricName"] == metric
                && p["Dimensions"]
                    .as_array()
                    .is_some_and(|d| d.iter().any(|dimension| dimension["Value"] == *on))
        })
        .collect()
}

/// Whether an event pattern of exact values (lists of values, nested objects: all the
/// filter uses) matches a record, as Lambda's event filtering decides.
fn pattern_matches(pattern: &Value, record: &Value) -> bool {
    match pattern {
        Value::Object(fields) => fields.iter().all(|(key, sub)| {
            record
                .get(key)
                .is_some_and(|value| pattern_matches(sub, value))
        }),
        Value::Array(allowed) => allowed.contains(record),
        other => panic!("a pattern of objects and lists of values, not {other}"),
    }
}

#[test]
fn the_events_publisher_reads_only_inserted_history_items_from_the_tables_stream() {
    let all = functions();
    let (name, publisher) = *all
        .get("events-publisher")
        .expect("a function with Metadata.BuildProperties.Binary: events-publisher");
    let table = of_type("AWS::DynamoDB::Table")[0].0;
    let stream = json!({"Fn::GetAtt": [table, "StreamArn"]});

    let events = publisher["Properties"]["Events"]
        .as_object()
        .unwrap_or_else(|| panic!("{name}: Events"));
    assert_eq!(events.len(), 1, "{name}: one event source, the stream");
    let source = events.values().next().expect("one event source");
    assert_eq!(source["Type"], "DynamoDB", "{name}");
    let p = &source["Properties"];
    assert_eq!(p["Stream"], stream, "{name} reads the table's stream");
    assert_ne!(p["Enabled"], false, "{name}: the mapping is on");
    for (setting, wanted) in [
        // Nothing written before the mapping existed is lost (the stream keeps 24 hours).
        ("StartingPosition", json!("TRIM_HORIZON")),
        ("BatchSize", json!(100)),
        ("MaximumBatchingWindowInSeconds", json!(1)),
        // One batch per shard at a time: an account's events stay in order.
        ("ParallelizationFactor", json!(1)),
        // The function reports the first record it could not publish; Lambda retries from
        // there, halving a failing batch, and gives up after 10 tries or a day.
        ("FunctionResponseTypes", json!(["ReportBatchItemFailures"])),
        ("BisectBatchOnFunctionError", json!(true)),
        ("MaximumRetryAttempts", json!(10)),
        ("MaximumRecordAgeInSeconds", json!(86400)),
    ] {
        assert_eq!(p[setting], wanted, "{name}: {setting}");
    }

    // The filter: inserted items whose `kind` is the store's history kind, nothing else.
    let filters = p["FilterCriteria"]["Filters"]
        .as_array()
        .unwrap_or_else(|| panic!("{name}: FilterCriteria.Filters"));
    assert_eq!(
        filters.len(),
        1,
        "{name}: one filter (filters are alternatives)"
    );
    let pattern: Value = serde_json::from_str(
        filters[0]["Pattern"]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: the filter's Pattern is a JSON string")),
    )
    .unwrap_or_else(|e| panic!("{name}: the filter's Pattern: {e}"));
    assert_eq!(
        pattern,
        json!({"eventName": ["INSERT"], "dynamodb": {"NewImage": {"kind": {"S": ["history"]}}}}),
        "{name}: the filter"
    );
    assert_eq!(
        tokenwarden::store::dynamo::KIND_ATTRIBUTE,
        "kind",
        "the filter reads the attribute the store writes"
    );
    assert_eq!(
        tokenwarden::store::dynamo::HISTORY_KIND,
        "history",
        "the filter passes the kind the store gives history items"
    );
    let record = |event_name: &str, kind: Option<&str>| {
        let mut dynamodb = json!({
            "Keys": {"pk": {"S": "team#t1"}, "sk": {"S": "item#1"}},
            "StreamViewType": "NEW_IMAGE"
        });
        if let Some(kind) = kind {
            dynamodb["NewImage"] = json!({"pk": {"S": "team#t1"}, "kind": {"S": kind}});
        }
        json!({"eventName": event_name, "eventSource": "aws:dynamodb", "dynamodb": dynamodb})
    };
    let history = tokenwarden::store::dynamo::HISTORY_KIND;
    assert!(
        pattern_matches(&pattern, &record("INSERT", Some(history))),
        "{name}: an inserted history item reaches it"
    );
    assert!(tokenwarden::store::dynamo::ITEM_KINDS.contains(&history));
    for kind in tokenwarden::store::dynamo::ITEM_KINDS {
        if *kind != history {
            assert!(
                !pattern_matches(&pattern, &record("INSERT", Some(kind))),
                "{name}: an inserted {kind} item does not reach it"
            );
        }
    }
    assert!(
        !pattern_matches(&pattern, &record("MODIFY", Some(history))),
        "{name}: a modified item does not reach it"
    );
    assert!(
        !pattern_matches(&pattern, &record("REMOVE", None)),
        "{name}: a removed (expired) item does not reach it"
    );

    // Batches it gives up on go to an encrypted queue, kept 14 days, watched by an alarm.
    let destination = &p["DestinationConfig"]["OnFailure"]["Destination"];
    let failed = destination["Fn::GetAtt"][0]
        .as_str()
        .unwrap_or_else(|| panic!("{name}: an on-failure destination of the template"));
    assert_eq!(*destination, json!({"Fn::GetAtt": [failed, "Arn"]}));
    let queue = resource(failed);
    assert_eq!(queue["Type"], "AWS::SQS::Queue", "{failed}");
    assert_eq!(
        queue["Properties"]["KmsMasterKeyId"],
        reference("Key"),
        "{failed}"
    );
    assert_eq!(
        queue["Properties"]["MessageRetentionPeriod"], 1209600,
        "{failed}"
    );
    assert_eq!(
        alarms_on(
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            &json!({"Fn::GetAtt": [failed, "QueueName"]})
        )
        .len(),
        1,
        "an alarm on {failed}"
    );
    let iterator_age = alarms_on("AWS/Lambda", "IteratorAge", &reference(name));
    assert_eq!(iterator_age.len(), 1, "an alarm on {name}'s IteratorAge");
    let (_, age) = iterator_age[0];
    assert_eq!(age["Statistic"], "Maximum");
    assert_eq!(age["Threshold"], 300000, "five minutes behind the stream");
    assert_eq!(age["ComparisonOperator"], "GreaterThanThreshold");
    assert_eq!(
        alarms_on("AWS/Lambda", "Errors", &reference(name)).len(),
        1,
        "an alarm on {name}'s errors"
    );

    // Its environment: the bus and the frontend, nothing else.
    let bus = of_type("AWS::Events::EventBus")[0].0;
    assert_eq!(
        environment(publisher),
        BTreeMap::from([
            (config::vars::EVENT_BUS_NAME.to_owned(), reference(bus)),
            (
                config::vars::FRONTEND_URL.to_owned(),
                reference("FrontendUrl")
            ),
        ]),
        "{name}: its environment"
    );

    // Its role: the stream (not the table), the bus, the failure queue, the key through
    // DynamoDB (the stream's records) and SQS (the encrypted queue).
    let (role, statements) = function_role(publisher);
    let grants = |action: &str| -> Vec<Value> {
        statements
            .iter()
            .filter(|s| statement_actions(s).contains(&action))
            .flat_map(|s| statement_resources(s))
            .collect()
    };
    let stream_reads = [
        "dynamodb:DescribeStream",
        "dynamodb:GetRecords",
        "dynamodb:GetShardIterator",
        "dynamodb:ListStreams",
    ];
    for action in stream_reads {
        assert_eq!(
            grants(action),
            std::slice::from_ref(&stream),
            "{role}: {action} on the stream only"
        );
    }
    for statement in &statements {
        for action in statement_actions(statement) {
            assert!(
                !action.starts_with("dynamodb:") || stream_reads.contains(&action),
                "{role}: {action}; the publisher reads the stream, not the table"
            );
        }
    }
    assert_eq!(
        grants("events:PutEvents"),
        [json!({"Fn::GetAtt": [bus, "Arn"]})],
        "{role} puts events on the stack's bus only"
    );
    assert_eq!(
        grants("sqs:SendMessage"),
        [json!({"Fn::GetAtt": [failed, "Arn"]})],
        "{role}: Lambda sends failed batches with the function's role"
    );
    assert!(
        key_through(&statements, "dynamodb", &["kms:Decrypt"]),
        "{role} may decrypt the stream's records (the table's key) through DynamoDB"
    );
    assert!(
        key_through(&statements, "sqs", &["kms:GenerateDataKey", "kms:Decrypt"]),
        "{role} may use the key through SQS"
    );
}

#[test]
fn only_the_events_publisher_puts_events_and_only_on_the_stacks_bus() {
    let buses = of_type("AWS::Events::EventBus");
    assert_eq!(buses.len(), 1, "one event bus");
    let (bus, spec) = buses[0];
    assert!(spec.get("Condition").is_none(), "{bus} is always there");
    assert_eq!(
        sub_string(&spec["Properties"]["Name"]),
        Some("${AWS::StackName}"),
        "{bus} is named after the stack"
    );
    let outputs = &template()["Outputs"];
    assert_eq!(
        outputs["EventBusName"]["Value"],
        reference(bus),
        "the output infra/DEPLOY.md names"
    );
    assert_eq!(
        outputs["EventBusArn"]["Value"],
        json!({"Fn::GetAtt": [bus, "Arn"]}),
        "the output infra/DEPLOY.md names"
    );

    // Every EventBridge action any identity policy of the template grants.
    let mut grants: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for (holder, statement) in policy_statements() {
        for action in statement_actions(statement) {
            if action == "*" || action.to_lowercase().starts_with("events:") {
                assert_eq!(statement["Effect"], "Allow", "{holder}");
                grants
                    .entry((holder.clone(), action.to_owned()))
                    .or_default()
                    .extend(statement_resources(statement).iter().map(Value::to_string));
            }
        }
    }
    let (publisher, function) = functions()["events-publisher"];
    let (role, _) = function_role(function);
    let mut wanted = BTreeMap::from([(
        (role.to_owned(), "events:PutEvents".to_owned()),
        BTreeSet::from([json!({"Fn::GetAtt": [bus, "Arn"]}).to_string()]),
    )]);
    // The role EventBridge calls the webhook with: its API destination, nothing else. (The
    // mail events rule sends to its queue as EventBridge itself, under the queue's policy.)
    for (name, rule) in of_type("AWS::Events::Rule") {
        if name == "MailEventsRule" {
            continue;
        }
        for target in rule["Properties"]["Targets"].as_array().expect("Targets") {
            let caller = target["RoleArn"]["Fn::GetAtt"][0]
                .as_str()
                .unwrap_or_else(|| panic!("{name}: the target's role is a role of the template"));
            wanted.insert(
                (caller.to_owned(), "events:InvokeApiDestination".to_owned()),
                BTreeSet::from([target["Arn"].to_string()]),
            );
        }
    }
    assert_eq!(
        grants, wanted,
        "{publisher} puts events on {bus} only; the webhook's role invokes its API destination \
         only; nothing else grants an EventBridge action"
    );

    // The events are the code's: its source, every detail-type documented.
    let deploy = read("infra/DEPLOY.md");
    assert!(
        deploy.contains(&format!("`{}`", tokenwarden::events::SOURCE)),
        "infra/DEPLOY.md names the source"
    );
    for kind in tokenwarden::domain::HistoryKind::ALL {
        let detail_type = kind.detail_type();
        assert!(
            deploy.contains(&format!("`{detail_type}`")),
            "infra/DEPLOY.md lists the detail-type {detail_type}"
        );
    }
}

#[test]
fn the_webhook_is_eventbridges_own_delivery_and_exists_only_with_its_parameters() {
    let parameters = &template()["Parameters"];
    assert_eq!(
        parameters["WebhookUrl"]["Default"], "",
        "no webhook by default"
    );
    assert_eq!(parameters["WebhookApiKeyHeader"]["Default"], "x-api-key");
    assert_eq!(parameters["WebhookApiKey"]["Default"], "");
    assert_eq!(
        parameters["WebhookApiKey"]["NoEcho"], true,
        "the webhook's API key is never shown"
    );
    let condition = template()["Conditions"]["HasWebhook"].to_string();
    assert!(
        condition.contains(&reference("WebhookUrl").to_string()),
        "HasWebhook depends on WebhookUrl: {condition}"
    );

    let rules: Vec<_> = of_type("AWS::Events::Rule")
        .into_iter()
        .filter(|(name, _)| name.as_str() != "MailEventsRule")
        .collect();
    assert_eq!(rules.len(), 1, "one rule on the stack's bus, the webhook's");
    let (rule_name, rule) = rules[0];
    let p = &rule["Properties"];
    let (bus, bus_spec) = of_type("AWS::Events::EventBus")[0];
    assert_eq!(p["EventBusName"], reference(bus), "{rule_name} is on {bus}");
    assert_eq!(
        p["EventPattern"],
        json!({"source": [tokenwarden::events::SOURCE]}),
        "{rule_name}: every event the publisher puts"
    );
    assert_eq!(p["State"], "ENABLED");
    let targets = p["Targets"].as_array().expect("Targets");
    assert_eq!(targets.len(), 1, "{rule_name}: one target");
    let target = &targets[0];
    assert_eq!(
        target["RetryPolicy"],
        json!({"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 86400}),
        "{rule_name}: EventBridge retries for 24 hours"
    );

    let destination = target["Arn"]["Fn::GetAtt"][0]
        .as_str()
        .expect("an API destination of the template");
    let api = &resource(destination)["Properties"];
    assert_eq!(
        api["InvocationEndpoint"],
        reference("WebhookUrl"),
        "{destination}"
    );
    assert_eq!(api["HttpMethod"], "POST", "{destination}");
    assert!(
        api["InvocationRateLimitPerSecond"].is_number(),
        "{destination}: rate-limited"
    );
    let connection = api["ConnectionArn"]["Fn::GetAtt"][0]
        .as_str()
        .expect("a connection of the template");
    let auth = &resource(connection)["Properties"];
    assert_eq!(auth["AuthorizationType"], "API_KEY", "{connection}");
    assert_eq!(
        auth["AuthParameters"]["ApiKeyAuthParameters"],
        json!({"ApiKeyName": {"Ref": "WebhookApiKeyHeader"}, "ApiKeyValue": {"Ref": "WebhookApiKey"}}),
        "{connection}"
    );

    let caller = target["RoleArn"]["Fn::GetAtt"][0]
        .as_str()
        .expect("the target's role is a role of the template");
    for statement in resource(caller)["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        .as_array()
        .expect("trust statements")
    {
        assert_eq!(
            statement["Principal"],
            json!({"Service": "events.amazonaws.com"}),
            "{caller}: only EventBridge assumes it"
        );
    }

    // Undeliverable events: an encrypted queue only this rule may write to, with an alarm.
    let dlq = target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]
        .as_str()
        .expect("a dead-letter queue of the template");
    assert_eq!(resource(dlq)["Type"], "AWS::SQS::Queue", "{dlq}");
    assert_eq!(
        resource(dlq)["Properties"]["KmsMasterKeyId"],
        reference("Key"),
        "{dlq}"
    );
    let policies: Vec<_> = of_type("AWS::SQS::QueuePolicy")
        .into_iter()
        .filter(|(_, q)| {
            q["Properties"]["Queues"]
                .as_array()
                .is_some_and(|queues| queues.contains(&reference(dlq)))
        })
        .collect();
    assert_eq!(policies.len(), 1, "a queue policy on {dlq}");
    let (queue_policy, policy) = policies[0];
    assert_eq!(
        policy["Properties"]["PolicyDocument"]["Statement"],
        json!([{
            "Sid": "WebhookRuleDeadLetters",
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Action": "sqs:SendMessage",
            "Resource": {"Fn::GetAtt": [dlq, "Arn"]},
            "Condition": {"ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": [rule_name, "Arn"]}}}
        }]),
        "{queue_policy}: EventBridge sends to {dlq} for {rule_name} only"
    );
    // EventBridge encrypts what it dead-letters with the queue's key, as itself: the key
    // policy allows it for this rule, named by the ARN its bus and name make.
    let rule_arn = format!(
        "arn:${{AWS::Partition}}:events:${{AWS::Region}}:${{AWS::AccountId}}:rule/{}/{}",
        sub_string(&bus_spec["Properties"]["Name"]).expect("the bus's name is a !Sub"),
        sub_string(&p["Name"]).expect("the rule's name is a !Sub")
    );
    let key_statements: Vec<&Value> = resource("Key")["Properties"]["KeyPolicy"]["Statement"]
        .as_array()
        .expect("key policy statements")
        .iter()
        .filter_map(|s| match s.get("Fn::If") {
            Some(choice) => {
                assert_eq!(
                    choice[0], "HasWebhook",
                    "a key policy statement under {}",
                    choice[0]
                );
                assert_eq!(choice[2], reference("AWS::NoValue"));
                Some(&choice[1])
            }
            None => {
                // Besides the webhook's, EventBridge uses the key only to queue SES's mail
                // events, and only for the mail events rule.
                if s["Principal"]["Service"] == "events.amazonaws.com" {
                    assert_eq!(
                        sub_string(&s["Condition"]["ArnEquals"]["aws:SourceArn"]),
                        Some("arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:rule/${AWS::StackName}-mail-events"),
                        "EventBridge uses the key only with a webhook or for the mail events"
                    );
                    assert_eq!(
                        sub_string(&resource("MailEventsRule")["Properties"]["Name"]),
                        Some("${AWS::StackName}-mail-events")
                    );
                }
                None
            }
        })
        .collect();
    assert_eq!(
        key_statements.len(),
        1,
        "one key policy statement for the webhook"
    );
    let grant = key_statements[0];
    assert_eq!(
        grant["Principal"],
        json!({"Service": "events.amazonaws.com"})
    );
    assert_eq!(
        statement_actions(grant)
            .into_iter()
            .collect::<BTreeSet<_>>(),
        BTreeSet::from(["kms:Decrypt", "kms:GenerateDataKey"])
    );
    assert_eq!(
        sub_string(&grant["Condition"]["ArnEquals"]["aws:SourceArn"]),
        Some(rule_arn.as_str()),
        "the key policy names {rule_name}"
    );
    let alarms = alarms_on(
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        &json!({"Fn::GetAtt": [dlq, "QueueName"]}),
    );
    assert_eq!(alarms.len(), 1, "an alarm on {dlq}");

    // All of it, and whatever refers to it, only with a webhook.
    let pieces = [
        rule_name.as_str(),
        destination,
        connection,
        caller,
        dlq,
        queue_policy.as_str(),
        alarms[0].0.as_str(),
    ];
    for (name, r) in resources() {
        let text = r.to_string();
        if pieces.contains(&name.as_str())
            || pieces
                .iter()
                .any(|piece| text.contains(&format!("\"{piece}\"")))
        {
            assert_eq!(r["Condition"], "HasWebhook", "{name}: only with a webhook");
        }
    }
    for (name, output) in template()["Outputs"].as_object().expect("Outputs") {
        let text = output.to_string();
        if pieces
            .iter()
            .any(|piece| text.contains(&format!("\"{piece}\"")))
        {
            assert_eq!(
                output["Condition"], "HasWebhook",
                "output {name}: only with a webhook"
            );
        }
    }
}

#[test]
fn every_alarm_notifies_the_alarm_topic_and_the_throttles_alarm_counts_every_function() {
    let notify =
        json!({"Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]});
    for (name, alarm) in of_type("AWS::CloudWatch::Alarm") {
        assert_eq!(alarm["Properties"]["AlarmActions"], notify, "{name}");
    }
    let metrics = resource("ThrottlesAlarm")["Properties"]["Metrics"]
        .as_array()
        .expect("ThrottlesAlarm: Metrics");
    let counted: BTreeSet<String> = metrics
        .iter()
        .filter(|m| m["MetricStat"]["Metric"]["MetricName"] == "Throttles")
        .map(|m| {
            m["MetricStat"]["Metric"]["Dimensions"][0]["Value"]["Ref"]
                .as_str()
                .expect("a function of the template")
                .to_owned()
        })
        .collect();
    let every: BTreeSet<String> = functions()
        .values()
        .map(|(name, _)| name.to_string())
        .collect();
    assert_eq!(
        counted, every,
        "ThrottlesAlarm counts every function's throttles"
    );
    let expression = metrics
        .iter()
        .find(|m| m["ReturnData"] == true)
        .and_then(|m| m["Expression"].as_str())
        .expect("ThrottlesAlarm: the expression it alarms on");
    let terms: BTreeSet<&str> = expression.split('+').map(str::trim).collect();
    let ids: BTreeSet<&str> = metrics
        .iter()
        .filter(|m| m["ReturnData"] == false)
        .map(|m| m["Id"].as_str().expect("Id"))
        .collect();
    assert_eq!(terms, ids, "ThrottlesAlarm adds up all of them");
}

// ---- IAM and checkov ----------------------------------------------------------------------

/// Actions AWS offers no resource-level permission for.
const NO_RESOURCE_LEVEL: &[&str] = &[
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    // What it returns is bounded by GetSecretValue on each secret (granted per secret).
    "secretsmanager:BatchGetSecretValue",
];

#[test]
fn roles_use_star_resources_only_where_aws_has_no_resource_level_permission_and_say_why() {
    for (name, role) in of_type("AWS::IAM::Role") {
        let policies = role["Properties"]["Policies"]
            .as_array()
            .expect("inline policies");
        assert!(
            role["Properties"].get("ManagedPolicyArns").is_none(),
            "{name}: no managed policies (their resources are *)"
        );
        for policy in policies {
            for statement in policy["PolicyDocument"]["Statement"]
                .as_array()
                .expect("statements")
            {
                let star = match &statement["Resource"] {
                    Value::String(s) => s == "*",
                    Value::Array(list) => list.contains(&json!("*")),
                    _ => false,
                };
                if !star {
                    continue;
                }
                let actions: Vec<&str> = match &statement["Action"] {
                    Value::String(a) => vec![a.as_str()],
                    Value::Array(list) => list.iter().filter_map(Value::as_str).collect(),
                    other => panic!("{name}: Action {other}"),
                };
                for action in actions {
                    assert!(
                        NO_RESOURCE_LEVEL.contains(&action),
                        "{name}: {action} on * (it has resource-level permissions)"
                    );
                    let why = role["Metadata"]["WildcardResources"][action].as_str();
                    assert!(
                        why.is_some_and(|w| !w.trim().is_empty()),
                        "{name}: Metadata.WildcardResources says why {action} has resource *"
                    );
                }
            }
        }
    }
}

#[test]
fn every_checkov_skip_carries_a_reason() {
    for (name, resource) in resources() {
        let Some(skips) = resource["Metadata"]["checkov"]["skip"].as_array() else {
            continue;
        };
        for skip in skips {
            let id = skip["id"]
                .as_str()
                .unwrap_or_else(|| panic!("{name}: a skip without id"));
            let comment = skip["comment"].as_str().unwrap_or("");
            assert!(
                comment.split_whitespace().count() >= 5,
                "{name}: checkov skip {id} needs a written reason"
            );
        }
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

/// `oauth-start` builds authorize URLs from the public client ids: it may read no secret
/// (neither the client credentials nor the sealing keys), and its role grants none.
#[test]
fn oauth_start_reads_no_secret() {
    let function = resource("OAuthStartFunction");
    let env = function["Properties"]["Environment"]["Variables"]
        .as_object()
        .expect("an environment");
    assert!(env.keys().all(|k| !k.ends_with("_SECRET")), "{env:?}");
    assert_eq!(env["TOKENWARDEN_CLIENT_IDS"], reference("NetworkClientIds"));
    let role = resource("OAuthStartRole");
    let text = role["Properties"]["Policies"].to_string();
    assert!(!text.contains("secretsmanager:"), "{text}");
}

/// SES's events about this stack's mails reach the mail-feedback function: the stack's own
/// configuration set (through which every mail goes) publishes sends, hard bounces and
/// complaints to the default bus, a rule takes exactly those of this configuration set to
/// a queue only that rule may write to, and the function reads the queue reporting partial
/// batch failures.
#[test]
fn ses_mail_events_reach_the_feedback_function_through_the_configuration_set_a_rule_and_a_queue() {
    let set = reference("MailConfigurationSet");
    for function in ["ExpirySweepFunction", "NotificationPrefsFunction"] {
        assert_eq!(
            resource(function)["Properties"]["Environment"]["Variables"]
                ["TOKENWARDEN_SES_CONFIGURATION_SET"],
            set,
            "{function} mails through the stack's configuration set"
        );
    }
    let destination = &resource("MailEventDestination")["Properties"];
    assert_eq!(destination["ConfigurationSetName"], set);
    let d = &destination["EventDestination"];
    assert_eq!(d["Enabled"], true);
    assert_eq!(
        d["MatchingEventTypes"],
        json!(["SEND", "BOUNCE", "COMPLAINT"])
    );
    assert!(sub_string(&d["EventBridgeDestination"]["EventBusArn"])
        .is_some_and(|arn| arn.ends_with(":event-bus/default")));

    let rule = &resource("MailEventsRule")["Properties"];
    assert_eq!(rule["EventBusName"], "default");
    let pattern = &rule["EventPattern"];
    assert_eq!(pattern["source"], json!(["aws.ses"]));
    assert_eq!(
        pattern["detail-type"],
        json!(["Email Sent", "Email Bounced", "Email Complaint Received"])
    );
    assert_eq!(
        pattern["detail"]["mail"]["tags"]["ses:configuration-set"],
        json!([set])
    );
    // Every sample event the function is tested with matches the rule.
    for file in ["sent", "bounce-permanent", "bounce-transient", "complaint"] {
        let sqs: Value = serde_json::from_str(&read(&format!("events/mail-feedback/{file}.json")))
            .expect("a sample SQS event");
        let body: Value = serde_json::from_str(sqs["Records"][0]["body"].as_str().expect("a body"))
            .expect("an EventBridge event");
        assert!(body["source"] == "aws.ses");
        assert!(pattern["detail-type"]
            .as_array()
            .expect("detail types")
            .contains(&body["detail-type"]));
    }
    let target = &rule["Targets"][0];
    assert_eq!(
        target["Arn"],
        json!({"Fn::GetAtt": ["MailEventsQueue", "Arn"]})
    );
    assert_eq!(
        target["DeadLetterConfig"]["Arn"],
        json!({"Fn::GetAtt": ["MailEventsDeadLetterQueue", "Arn"]})
    );
    let policy = &resource("MailEventsQueuePolicy")["Properties"]["PolicyDocument"]["Statement"][0];
    assert_eq!(policy["Principal"]["Service"], "events.amazonaws.com");
    assert_eq!(policy["Action"], "sqs:SendMessage");
    assert_eq!(
        policy["Condition"]["ArnEquals"]["aws:SourceArn"],
        json!({"Fn::GetAtt": ["MailEventsRule", "Arn"]})
    );
    let source =
        &resource("MailFeedbackFunction")["Properties"]["Events"]["MailEvents"]["Properties"];
    assert_eq!(
        source["FunctionResponseTypes"],
        json!(["ReportBatchItemFailures"])
    );
    assert_eq!(
        resource("MailEventsQueue")["Properties"]["RedrivePolicy"]["deadLetterTargetArn"],
        json!({"Fn::GetAtt": ["MailEventsDeadLetterQueue", "Arn"]})
    );
}
