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

/// The table, each function's environment and build, the schedule, queues, secrets, SES events.
mod deployment;
/// The events publisher, the bus, the webhook, and the alarms.
mod events;
/// IAM and checkov: the credentials function's callers and queue, star resources, skips.
mod iam;
/// Routes and authorization: every documented route deployed, the JWT, CORS, throttles.
mod routes;

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

// ---- environment ---------------------------------------------------------------------------

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

// ---- policy statements -----------------------------------------------------------------------

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
